"""The explorer inline in Jupyter: a notebook executed headless in a fresh kernel (nbclient)
shows the page as its cell's output, and that output, opened in the real headless chromium as
a notebook front end would show it, works."""

import html
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

BUILD = """\
import numpy as np
import mpgraph as mg

g = mg.Graph()
x, w = g.input("x", shape=(3,)), g.param("w", np.array([0.5, -1.0, 2.0]))
with g.scope("layer"):
    h = mg.ops.tanh(w * x, name="h")
L = mg.ops.sum(h * h, name="L")
run = g.forward(L, {"x": np.array([1.0, 2.0, -0.5])}).backward(keep_messages=True)
"""


def test_a_notebook_cell_shows_the_self_contained_page(tmp_path, monkeypatch):
    # the kernel is a child process: it imports this checkout's mpgraph, as the tests do
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(BUILD),
        nbformat.v4.new_code_cell('mg.explore(g, run, title="in a notebook")'),
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert nb.cells[0].outputs == []
    (out,) = nb.cells[1].outputs
    assert out.output_type == "execute_result"
    assert out.data["text/plain"] == "<explorer page of 6 nodes>"
    cell = out.data["text/html"]
    srcdoc = re.fullmatch(r'<iframe srcdoc="([^"]*)" .*></iframe>', cell, re.S)
    page = html.unescape(srcdoc.group(1))
    assert page.startswith("<!DOCTYPE html>") and "<title>mpgraph explorer: in a notebook" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # loads nothing
    assert "<script>" in page and "<style>" in page  # the script and the style inline
    data = json.loads(re.search(r'id="mpgraph-data">(.*?)</script>', page, re.S).group(1))
    # the numbers in the page are the ones this process computes by hand
    x, w = np.array([1.0, 2.0, -0.5]), np.array([0.5, -1.0, 2.0])
    h = np.tanh(w * x)
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["L"]["value"]["full"] == float(f"{np.sum(h * h):.4g}")
    wbar = 2 * h * (1 - h**2) * x  # dL/dw = 2 h tanh'(w x) x
    assert nodes["w"]["signal"]["full"] == [float(f"{v:.4g}") for v in wbar]

    # the cell as a notebook shows it: the page in its iframe, clickable
    (tmp_path / "cell.html").write_text(f"<html><body>{cell}</body></html>", encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1200, "height": 800})
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.goto((tmp_path / "cell.html").as_uri())
        frame = tab.frame_locator("iframe")
        frame.locator("body[data-ready='1']").wait_for()
        frame.locator("[data-name='layer/h']").click()
        shown = frame.locator("#panel [data-field='value-full']").inner_text()
        assert shown == "[" + ", ".join(f"{v:.4g}" for v in h) + "]"
        browser.close()
    assert errors == []
