"""``mpgraph render FILE``: a saved graph and run to svg, png, pdf or DOT."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np

import mpgraph as mg
from mpgraph.cli.render import main


def saved(tmp_path):
    g = mg.Graph()
    x = g.input("x")
    with g.scope("unit"):
        z = mg.ops.multiply(g.param("w", 2.0), x, name="z")
    y = mg.ops.tanh(z, name="y")
    run = g.forward(y, {"x": 0.5}).backward(keep_messages=True)
    mg.save(g, tmp_path / "net", run)
    return tmp_path / "net.json", 1 - np.tanh(1.0) ** 2


def test_render_svg_next_to_the_file_with_the_saved_run(tmp_path, capsys):
    path, zbar = saved(tmp_path)
    assert main([str(path), "--view", "backward"]) == 0
    out = tmp_path / "net.svg"
    assert capsys.readouterr().out.strip() == str(out)
    svg = out.read_text()
    assert "<svg" in svg and f"{zbar:.4g}" in svg and "unit" in svg


def test_formats_and_out(tmp_path):
    path, _ = saved(tmp_path)
    assert main([str(path), "--format", "png", "--out", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert main([str(path), "--out", str(tmp_path / "a.pdf")]) == 0  # format from suffix
    assert (tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    assert main([str(path), "--format", "dot", "--no-run", "--out", str(tmp_path / "a.gv")]) == 0
    src = (tmp_path / "a.gv").read_text()
    assert src.startswith("digraph") and "cluster_unit" in src and "\u0304 =" not in src


def test_through_the_mpgraph_command(tmp_path):
    path, zbar = saved(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpgraph",
            "render",
            str(path),
            "--view",
            "both",
            "--collapse",
            "unit",
            "--out",
            str(tmp_path / "c.svg"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[2])},
    )
    assert done.returncode == 0, done.stderr
    assert "collapsed: 2 nodes" in (tmp_path / "c.svg").read_text()


def test_a_bad_file_is_reported_not_raised(tmp_path, capsys):
    (tmp_path / "x.json").write_text("[]")
    assert main([str(tmp_path / "x.json")]) == 1
    assert "not a saved mpgraph graph" in capsys.readouterr().err


def test_html_steps_through_the_saved_backward_pass(tmp_path):
    path, zbar = saved(tmp_path)
    assert main([str(path), "--format", "html", "--view", "backward"]) == 0
    page = (tmp_path / "net.html").read_text()  # the explorer, opened at the first step
    data = json.loads(re.search(r'id="mpgraph-data">(.*?)</script>', page, re.S).group(1))
    names = [n["name"] for n in data["nodes"]]
    steps = [
        (names[s["node"]], [names[data["edges"][k][0]] for k in s["edges"]]) for s in data["steps"]
    ]
    assert steps == [("y", ["unit/z"]), ("unit/z", ["unit/w", "x"])] and data["start"] == "steps"
    assert (
        data["view"] == "backward" and page.count("<svg id=") == 1
    )  # one drawing, not one per step


def test_html_without_saved_messages_is_reported(tmp_path, capsys):
    g = mg.Graph()
    y = mg.ops.tanh(g.input("x"), name="y")
    mg.save(g, tmp_path / "plain", g.forward(y, {"x": 1.0}).backward())
    assert main([str(tmp_path / "plain.json"), "--format", "html"]) == 1
    assert "keep_messages=True" in capsys.readouterr().err


def test_html_to_standard_output_is_the_same_page_as_to_a_file(tmp_path):
    path, _ = saved(tmp_path)
    cmd = [sys.executable, "-m", "mpgraph", "render", str(path), "--format", "html"]
    piped = subprocess.run([*cmd, "--out", "-"], capture_output=True, check=True).stdout
    subprocess.run([*cmd, "--out", str(tmp_path / "page.html")], capture_output=True, check=True)
    assert piped.startswith(b"<!DOCTYPE html>")
    assert piped == (tmp_path / "page.html").read_bytes()
