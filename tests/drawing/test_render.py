"""Pictures: the DOT source carries the right annotations, and real Graphviz draws it."""

import math
import re

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.drawing.dot import pipe
from mpgraph.drawing.notation import fmt


def logistic():
    """Grosse's univariate logistic least squares, with its closed-form error signals."""
    g = mg.Graph()
    x, t = g.input("x"), g.input("t")
    w, b = g.param("w", 2.0), g.param("b", -1.0)
    wx = mg.ops.multiply(w, x, name="wx")
    z = mg.ops.add(wx, b, name="z")
    y = mg.ops.sigmoid(z, name="y")
    L = mg.ops.multiply(0.5, (y - t) ** 2, name="L")
    run = g.forward(L, {"x": 1.5, "t": 0.0}).backward(keep_messages=True)
    yv = 1 / (1 + math.exp(-(2.0 * 1.5 - 1.0)))
    ybar = yv - 0.0
    zbar = ybar * yv * (1 - yv)
    return g, run, {"y": yv, "ybar": ybar, "zbar": zbar, "wbar": zbar * 1.5}


def node_id(g, name):
    return f"n{g[name].index}"


def line_of(source, pattern):
    lines = [ln for ln in source.splitlines() if re.search(pattern, ln)]
    assert len(lines) == 1, (pattern, lines)
    return lines[0]


def test_nodes_show_value_and_error_signal_in_bar_notation():
    g, run, want = logistic()
    src = mg.render(g, run).source
    y_line = line_of(src, rf"^\s*{node_id(g, 'y')} \[")
    assert f"= {fmt(want['y'])}" in y_line
    assert f"y\u0304 = {fmt(want['ybar'])}" in y_line
    assert "sigmoid · () · float64" in y_line  # op, shape, dtype
    assert "= sigmoid(z)<" in y_line and "= wx + b<" in src and "= 0.5 × power_1<" in src
    assert f"z̄ = {fmt(want['zbar'])}" in line_of(src, rf"^\s*{node_id(g, 'z')} \[")
    assert f"w̄ = {fmt(want['wbar'])}" in line_of(src, rf"^\s*{node_id(g, 'w')} \[")
    assert "L̄ = 1" in src


def test_edge_shows_the_message_it_carried():
    g, run, want = logistic()
    src = mg.render(g, run).source
    edge = line_of(src, rf"{node_id(g, 'w')} -> {node_id(g, 'wx')}")
    assert f">{fmt(want['wbar'])}<" in edge  # z̄ x, the message from w*x to w
    edge = line_of(src, rf"{node_id(g, 'x')} -> {node_id(g, 'wx')}")
    assert f">{fmt(want['zbar'] * 2.0)}<" in edge  # z̄ w, to x


def test_fan_out_shows_the_sum_of_the_messages():
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.add(mg.ops.multiply(x, x, name="sq"), x, name="y")  # x̄ = x + x + 1
    run = g.forward(y, {"x": 3.0}).backward(keep_messages=True)
    src = mg.render(g, run).source
    x_line = line_of(src, rf"^\s*{node_id(g, 'x')} \[")
    terms = re.search("x\u0304 =</FONT>(.*?)</TD>", x_line).group(1)
    assert sorted(re.findall(r">([^<]*\d)<", terms)) == ["+ 3", "+ 3", "1"]  # in arrival order
    assert "= 7<" in x_line
    # x * x: two edges from x into sq, one per argument
    edges = [ln for ln in src.splitlines() if f"{node_id(g, 'x')} -> {node_id(g, 'sq')}" in ln]
    assert len(edges) == 2 and any("#0 " in e for e in edges) and any("#1 " in e for e in edges)


def test_backward_view_reverses_the_arrows_and_labels_local_derivatives():
    g, run, want = logistic()
    src = mg.render(g, run, view="backward").source
    assert f"{node_id(g, 'z')} -> {node_id(g, 'y')}" not in src
    edge = line_of(src, rf"{node_id(g, 'y')} -> {node_id(g, 'z')}")
    dsig = want["y"] * (1 - want["y"])  # σ'(z), the multiplier of Lee's network
    assert f"×{fmt(dsig)}" in edge and f">{fmt(want['zbar'])}<" in edge
    edge = line_of(src, rf"{node_id(g, 'wx')} -> {node_id(g, 'w')}")
    assert "×1.5" in edge  # ∂(wx)/∂w = x


def test_both_view_has_forward_and_backward_arrows():
    g, run, want = logistic()
    src = mg.render(g, run, view="both").source
    pair = [ln for ln in src.splitlines() if f"{node_id(g, 'z')} -> {node_id(g, 'y')}" in ln]
    assert len(pair) == 2
    assert any("dir=back" in ln and f">{fmt(want['zbar'])}<" in ln for ln in pair)


def test_without_a_run_shows_structure_and_parameter_values():
    g, _, _ = logistic()
    src = mg.render(g).source
    assert "param · () · float64" in src and "= 2<" in src  # w's value lives on the graph
    assert "\u0304 =" not in src and "largest |entry|" not in src  # no signals, no legend


def test_scopes_become_nested_clusters():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    with g.scope("layer1"):
        W = g.param("W", np.ones((2, 3)))
        h = mg.ops.tanh(W @ x, name="h")
        with g.scope("inner"):
            k = mg.ops.sum(h, name="k")
    src = mg.render(g).source
    outer = src.index("subgraph cluster_layer1 {")
    inner = src.index('subgraph "cluster_layer1/inner" {')
    assert outer < src.index(f"{node_id(g, h)} [") < inner < src.index(f"{node_id(g, k)} [")
    assert src.index(f"{node_id(g, x)} [") < outer  # x sits outside every cluster
    assert "(2, 3) · float64" in src


def mlp(hidden_layers=2):
    g = mg.Graph()
    h = g.input("x", shape=(4,))
    for i in range(hidden_layers):
        with g.scope(f"layer{i + 1}"):
            h = mg.ops.tanh(
                g.param("W", np.full((4, 4), 0.1)) @ h + g.param("b", np.zeros(4)), name="h"
            )
    return g, mg.ops.sum(h * h, name="L")


def test_collapsed_scope_is_one_box():
    g, L = mlp()
    run = g.forward(L, {"x": np.ones(4)}).backward()
    src = mg.render(g, run, collapse=["layer1"]).source
    assert "layer1/</B>" in src and "collapsed: 5 nodes (2 params, 3 ops)" in src
    assert f"{node_id(g, 'layer1/W')} [" not in src
    assert f"{node_id(g, 'layer2/W')} [" in src
    with pytest.raises(mg.GraphError, match="scope 'nope', which has no nodes"):
        mg.render(g, collapse=["nope"])


def test_focus_draws_a_neighbourhood_and_says_what_was_left_out():
    g, L = mlp(3)
    src = mg.render(g, focus="layer2/h", radius=1).source
    assert f"{node_id(g, 'layer2/h')} [" in src and f"{node_id(g, 'layer2/add_1')} [" in src
    assert f"{node_id(g, 'layer1/W')} [" not in src
    assert "focus on &#x27;layer2/h&#x27;, radius 1: 3 of" in src
    assert "argument not drawn" in src and "use not drawn" in src


def test_node_limit_keeps_the_nodes_nearest_the_loss_and_notes_the_rest():
    g, L = mlp(3)
    src = mg.render(g, max_nodes=5).source
    assert f"{node_id(g, 'L')} [" in src and f"{node_id(g, 'x')} [" not in src
    assert re.search(rf"max_nodes 5: {len(g) - 5} nodes farthest from the outputs not drawn", src)
    src = mg.render(g, depth=2).source  # L <- multiply <- layer3/h
    assert "depth 2:" in src and f"{node_id(g, 'layer3/h')} [" in src
    assert f"{node_id(g, 'layer3/add_1')} [" not in src


def test_nan_and_inf_get_their_own_colour():
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.log(x, name="y")
    with np.errstate(invalid="ignore"):
        run = g.forward(y, {"x": -1.0}).backward()
    src = mg.render(g, run).source
    y_line = line_of(src, rf"^\s*{node_id(g, 'y')} \[")
    assert "= nan" in y_line and "#e7298a" in y_line
    assert "NaN or Inf" in src  # the legend


def test_magnitude_colours_follow_the_legend():
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.multiply(1e-9, x, name="y")
    run = g.forward(y, {"x": 1.0}).backward()
    x_line = line_of(mg.render(g, run).source, rf"^\s*{node_id(g, 'x')} \[")
    assert "x̄ = 1e-09" in x_line and "#4575b4" in x_line  # the "vanishing" colour


def test_formula_shows_attributes_other_than_defaults():
    g = mg.Graph()
    x = g.input("x", shape=(2, 3))
    mg.ops.sum(x, axis=0, name="s")
    mg.ops.mean(x, name="m")
    src = mg.render(g).source
    assert "= sum(x, axis=0)<" in src and "= mean(x)<" in src


def test_options_are_checked():
    g, run, _ = logistic()
    with pytest.raises(mg.GraphError, match="view must be one of"):
        mg.render(g, run, view="sideways")
    with pytest.raises(mg.GraphError, match="rankdir"):
        mg.render(g, rankdir="XY")
    with pytest.raises(mg.GraphError, match="no node named 'nope'"):
        mg.render(g, focus="nope")


def test_a_run_renders_its_own_graph_and_draws_with_real_dot():
    g, run, want = logistic()
    svg = pipe(mg.render(run, view="both", rankdir="TB"), "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert f"z̄ = {fmt(want['zbar'])}" in svg
    assert pipe(mg.render(g), "png")[:4] == b"\x89PNG"
    assert pipe(mg.render(g), "pdf")[:4] == b"%PDF"


def test_graph_and_run_display_themselves_in_jupyter():
    g, run, want = logistic()
    assert "<svg" in g._repr_svg_()
    bundle = run._repr_mimebundle_()
    assert f"w̄ = {fmt(want['wbar'])}" in bundle["image/svg+xml"]


def test_a_run_of_another_graph_is_refused():
    g, run, _ = logistic()
    other, _, _ = logistic()
    with pytest.raises(mg.GraphError, match="the run is of another graph"):
        mg.render(other, run)


def test_collapse_true_boxes_every_top_level_scope_and_bundles_parallel_edges():
    g, L = mlp(2)
    src = mg.render(g, collapse=True).source
    assert "layer1/</B>" in src and "layer2/</B>" in src and "cluster_" not in src
    assert src.count(">2 edges<") == 1  # layer2/h into h * h, twice; every other link is one edge
    g2 = mg.Graph()
    x = g2.input("x", shape=(2,))
    with g2.scope("a"):
        h = mg.ops.tanh(x, name="h")
    with g2.scope("b"):
        mg.ops.sum(h * h, name="y")  # two edges from a/h into b
    src = mg.render(g2, collapse=["a", "b"]).source
    assert ">2 edges<" in src


def test_compact_boxes_are_one_row_left_to_right_and_stacked_top_to_bottom():
    g, run, want = logistic()
    lr = line_of(mg.render(g, run, detail="compact").source, rf"^\s*{node_id(g, 'z')} \[")
    tb = line_of(
        mg.render(g, run, detail="compact", rankdir="TB").source, rf"^\s*{node_id(g, 'z')} \["
    )
    assert lr.count("<TR>") == 1 and tb.count("<TR>") == 3  # name, value, signal
    assert "· float64" not in lr and f"z\u0304 = {fmt(want['zbar'])}" in lr


def test_title_and_legend_can_be_replaced_or_left_out():
    g, run, _ = logistic()
    src = mg.render(g, run, title="slide 15", legend=False).source
    assert "<B>slide 15</B>" in src and "largest |entry|" not in src


def test_focus_on_the_node_an_error_names():
    g, L = mlp(3)
    with pytest.raises(mg.FeedError) as info:
        g.forward(L, {"x": np.ones(5)})  # x has shape (4,)
    src = mg.render(g, focus=info.value, radius=1).source
    assert "focus on &#x27;x&#x27;, radius 1: 2 of" in src  # x and the matmul that uses it
    with pytest.raises(mg.GraphError, match="the error names no node"):
        mg.render(g, focus=ValueError("nothing here"))


def test_a_wide_fan_out_counts_its_messages():
    g = mg.Graph()
    x = g.input("x")
    L = mg.ops.sum(mg.ops.stack([x * float(k) for k in range(1, 11)]), name="L")
    run = g.forward(L, {"x": 1.0}).backward(keep_messages=True)
    for detail in ("full", "compact"):
        x_line = line_of(mg.render(g, run, detail=detail).source, rf"^\s*{node_id(g, 'x')} \[")
        assert "Σ of 10 messages" in x_line and "= 55<" in x_line  # x̄ = 1 + 2 + ... + 10
    src = mg.render(g, run, detail="compact").source  # the ten edges: messages in tooltips
    edges = [ln for ln in src.splitlines() if re.match(rf"\s*{node_id(g, 'x')} -> ", ln)]
    assert len(edges) == 10 and not any("xlabel" in e for e in edges)
    assert any("message 7" in e for e in edges)


def test_a_backward_view_says_why_it_has_no_messages_or_signals():
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.tanh(x * 2.0)
    run = g.forward(y, {"x": 0.3})
    assert "call run.backward(loss) before rendering" in mg.render(g, run, view="backward").source
    run.backward(y)
    assert "keep_messages=True) keeps them" in mg.render(g, run, view="both").source
    run.backward(y, keep_messages=True)
    source = mg.render(g, run, view="both").source
    assert "keeps them" not in source and "before rendering" not in source


def test_a_run_with_tangents_draws_them_on_the_nodes_and_forward_edges():
    g = mg.Graph()
    w = g.param("w", 2.0)
    y = mg.ops.multiply(w, w, name="y")
    run = g.forward(y).jvp({w: 1.0}, keep_messages=True)
    src = mg.render(g, run, view="both").source
    dot = "\u0307"  # Newton's dot: the tangent of a one-letter name
    assert f"y{dot} = 4" in src and f"w{dot} = 1" in src  # dy/dw = 2w, on the node
    assert src.count("#2166ac") >= 4  # the tangent messages' colour, on both edges
    assert f"y{dot}" not in mg.render(g, g.forward(y), view="both").source
