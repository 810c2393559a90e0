"""Stepping through the backward pass: frames in reverse topological order, same layout."""

import json
import re

import pytest

import mpgraph as mg
from mpgraph.drawing.notation import fmt
from mpgraph.drawing.stepper import backward_steps, caption, write_steps


def fan_out():
    g = mg.Graph()
    x, w = g.input("x"), g.param("w", 3.0)
    a = mg.ops.multiply(w, x, name="a")
    L = mg.ops.multiply(a, w, name="L")  # L = w² x, so w̄ = 2 w x = 12
    return g, g.forward(L, {"x": 2.0}).backward(keep_messages=True)


def ink(src, text):
    """The colour a piece of text is drawn in."""
    found = re.findall(rf'<FONT COLOR="([^"]+)">{re.escape(text)}</FONT>', src)
    assert found, text
    return found


def test_frames_follow_reverse_topological_order_with_partial_sums():
    g, run = fan_out()
    frames = list(backward_steps(run))
    assert [caption(f) for f in frames[1:]] == [
        "step 1 of 2: L sends 2 messages: to a, to w",
        "step 2 of 2: a sends 2 messages: to w, to x",
        "done: every error signal is the sum of the messages its node received",
    ]
    assert "seed L\u0304 = 1" in caption(frames[0])
    first, after_L, after_a, done = (f.source for f in frames)
    # L = a w sends L̄ a = 6 to w; a = w x gets ā = L̄ w = 3 and sends ā x = 6 to w: w̄ = 12
    # hidden text is inked in the colour of the cell behind it
    assert "black" not in ink(first, "6")  # nothing sent yet
    fill, w_row = re.search(
        r'<TD BGCOLOR="([^"]+)"><FONT COLOR="black">w\u0304 =</FONT>(.*?)</TD>', after_L
    ).groups()
    assert re.findall(r'COLOR="([^"]+)">(?:\+ )?6<', w_row) == ["black", fill]  # 1 of 2 arrived
    assert ink(after_L, "= 12") == ["white"]  # the sum is not formed yet
    assert ink(after_a, "= 12") == ["black"]  # both arrived: w̄ = 12
    assert 'BGCOLOR="#ffd92f"' in after_a and "#ffd92f" not in done  # the node of the step


def test_frames_have_one_layout(tmp_path):
    g, run = fan_out()
    import subprocess

    positions = []
    for f in backward_steps(run):
        plain = subprocess.run(
            ["dot", "-Tplain"], input=f.source.encode(), capture_output=True
        ).stdout
        positions.append(
            [ln.split()[:4] for ln in plain.decode().splitlines() if ln.startswith("node")]
        )
    assert all(p == positions[0] for p in positions)


def test_html_page_is_one_layout_with_the_steps_as_numbers(tmp_path):
    g, run = fan_out()
    page = write_steps(run, path=tmp_path / "steps.html")
    text = page.read_text()
    assert text.split("<script")[0].count("<svg") == 1  # the explorer's canvas: no frames
    assert "<script src" not in text and "https://" not in text  # self-contained
    data = json.loads(re.search(r'id="mpgraph-data">(.*?)</script>', text).group(1))
    assert data["start"] == "steps" and data["view"] == "backward"
    names = [n["name"] for n in data["nodes"]]
    # L = a w sends to a and w, then a = w x sends to w and x: the order the pass ran
    assert [names[s["node"]] for s in data["steps"]] == ["L", "a"]
    edges = [(names[u], names[v], k) for u, v, k, _ in data["edges"]]
    assert [sorted(edges[e][:2] for e in s["edges"]) for s in data["steps"]] == [
        [("a", "L"), ("w", "L")],
        [("w", "a"), ("x", "a")],
    ]
    with pytest.raises(mg.GraphError, match=r"takes rankdir, .*; got 'focus' \(the options"):
        write_steps(run, path=tmp_path / "focused.html", focus="a")


def test_svg_frames(tmp_path):
    g, run = fan_out()
    files = write_steps(g, run, path=tmp_path / "frames", view="both")
    assert [p.name for p in files] == [
        "step_000.svg",
        "step_001.svg",
        "step_002.svg",
        "step_003.svg",
    ]
    assert f"= {fmt(12.0)}" in files[-1].read_text()


def test_needs_kept_messages():
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.tanh(x, name="y")
    with pytest.raises(mg.GraphError, match="keep_messages=True"):
        next(backward_steps(g.forward(y, {"x": 1.0}).backward()))
