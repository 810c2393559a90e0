"""How big the explorer's pages are, how long they take to write, and how long to open.

    python examples/explorer_benchmark.py [--repeats 3] [--smoke]

For the lectures' graphs (logistic least squares, the 306-node unit-level MLP of
examples/render_lectures.py), a 2,152-node unit-level MLP (16 inputs, 36 hidden units,
10 outputs) and a 10,001-node chain without scopes, it prints the page's size, the time ``mg.explore`` takes to write it (layout
included), the time headless Chromium takes to open it until the page is drawn (navigation,
parsing the JSON, the first drawing), and the time it takes to expand every scope at once
(drawing every node and edge). Every time is a median over the repeats, with the garbage
collector on. Then the step-through page of ``write_steps`` (the explorer opened at the first
step of the backward pass) for the 306-node MLP, and for scale the old kind of step-through,
one SVG per step, for the logistic graph.

The budgets of the explorer's issue: the 273-node (here 306-node) graph's page under 3 MB and
written in under 2 s; a 2,000-node graph open in the browser in under 3 s. It needs
Debian's chromium at /usr/bin/chromium (``apt-get install chromium``) and playwright's Python
package (``pip install playwright``; no browser download). ``--smoke`` runs the same steps on
tiny graphs, once each (what tests/test_explorer_benchmark_smoke.py runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mpgraph as mg
from mpgraph.drawing.stepper import write_steps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_lectures import logistic, mlp_units  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def graphs(smoke=False):
    yield "logistic (lecture 6)", *logistic()
    if smoke:
        yield "unit-level MLP 2-2-1", *mlp_units(np.random.default_rng(6), sizes=(2, 2, 1))
        yield "tanh chain, no scopes", *chain(3)
        return
    yield "unit-level MLP 8-10-3", *mlp_units(np.random.default_rng(6))
    yield "unit-level MLP 16-36-10", *mlp_units(np.random.default_rng(1), sizes=(16, 36, 10))
    yield "tanh chain, no scopes", *chain(2000)


def chain(steps):
    """``y = tanh(-0.95 y + 0.1)``, ``steps`` times, with no scope: 5 nodes a step, all in the
    top level (laid out by the layered layout: more than dot's limit)."""
    g = mg.Graph()
    y = g.input("x")
    for _ in range(steps):
        y = mg.ops.tanh(y * -0.95 + 0.1)
    return g, g.forward(y, {"x": 0.3}).backward(keep_messages=True)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(repeats=3, smoke=False, out=None):
    """Write and open every page; returns one row per graph and the step-through pages' rows.

    Each graph's row: name, nodes, scopes, page bytes, write, open and expand-all seconds, and
    the nodes drawn once every scope is expanded (every node, if the page works).
    """
    from playwright.sync_api import sync_playwright

    out = Path(out or tempfile.mkdtemp(prefix="mpgraph-explorer-"))
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        for name, g, run in graphs(smoke):
            path = out / f"{len(g)}.html"
            write = median_time(
                lambda g=g, run=run, path=path: mg.explore(g, run, path=path), repeats
            )

            def open_page(path=path):
                page.goto("about:blank")
                page.goto(path.as_uri())
                page.wait_for_selector("body[data-ready='1']")

            opened = median_time(open_page, repeats)
            expand = median_time(
                lambda: page.evaluate(
                    "() => { const t = performance.now(); document.getElementById('collapse-all').click(); "
                    "document.getElementById('expand-all').click(); return performance.now() - t; }"
                ),
                repeats,
            )
            drawn = page.evaluate("mpgraphExplorer.shown().length")
            scopes = len(mg.explore(g, run).data["scopes"]) - 1
            rows.append((name, len(g), scopes, os.path.getsize(path), write, opened, expand, drawn))
        browser.close()
    steps = []
    g, run = mlp_units(np.random.default_rng(6), sizes=(2, 2, 1) if smoke else (8, 10, 3))
    page_path = out / "steps.html"
    write = median_time(lambda: write_steps(g, run, page_path), repeats)
    steps.append(("write_steps page", len(g), os.path.getsize(page_path), write))
    g, run = logistic()
    frames = out / "frames"
    write = median_time(lambda: write_steps(g, run, frames), repeats)
    size = sum(f.stat().st_size for f in frames.iterdir())
    steps.append(("one SVG per step", len(g), size, write))
    return rows, steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny graphs, once each")
    parser.add_argument("--out", help="where to write the pages (default: a temporary directory)")
    args = parser.parse_args(argv)
    rows, steps = measure(1 if args.smoke else args.repeats, args.smoke, args.out)
    print(
        f"{'graph':26s} {'nodes':>6s} {'scopes':>6s} {'page MB':>8s} {'write s':>8s} {'open s':>7s} {'expand all s':>12s}"
    )
    for name, nodes, scopes, size, write, opened, expand, _ in rows:
        print(
            f"{name:26s} {nodes:6d} {scopes:6d} {size / 1e6:8.2f} "
            f"{write:8.2f} {opened:7.2f} {expand:12.2f}"
        )
    for name, nodes, size, write in steps:
        print(
            f"step through the backward pass, {name}: {nodes} nodes, {size / 1e6:.2f} MB, written in {write:.2f} s"
        )


if __name__ == "__main__":
    main()
