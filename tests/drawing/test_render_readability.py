"""Where a new reader of the static pictures stumbled: which number on a backward edge is the
local derivative, overlines over long names, operands that share a short name, a zero mean
printed as rounding noise."""

import html

import numpy as np

import mpgraph as mg


def two_layers():
    g = mg.Graph()
    h = g.input("x", shape=(3,))
    for i in (1, 2):
        with g.scope(f"layer{i}"):
            h = mg.ops.tanh(g.param("W", np.eye(3) * 0.5) @ h, name="h")
    L = mg.ops.sum(h, name="loss")
    return g, g.forward(L, {"x": np.array([1.0, -1.0, 0.5])}).backward(keep_messages=True)


def test_operands_that_share_a_short_name_are_scope_qualified():
    g, run = two_layers()
    source = html.unescape(mg.render(g, run, detail="full").source)
    assert "= W @ layer1/h" in source  # layer2's W is its own; h is layer1's
    assert "= W @ x" in source  # x is the only x: no scope needed
    assert "= tanh(matmul_1)" in source


def test_long_names_get_the_partial_derivative_not_an_overline():
    g, run = two_layers()
    source = mg.render(g, run, view="backward", detail="full").source
    assert "<O>" not in source
    assert "∂L/∂loss = 1" in source and "h̅" not in source
    x = mg.Graph()
    z = mg.ops.multiply(x.input("a"), 2.0, name="z")
    back = mg.render(x, x.forward(z, {"a": 1.0}).backward(), view="backward").source
    assert "z\u0304 = 1" in back and "a\u0304 = 2" in back  # one letter: the bar


def test_backward_pictures_say_which_number_is_the_local_derivative():
    g = mg.Graph()
    z = mg.ops.sigmoid(g.param("w", 0.0) * g.input("x"), name="y")
    run = g.forward(z, {"x": 2.0}).backward(keep_messages=True)
    back = html.unescape(mg.render(g, run, view="backward", detail="full").source)
    assert "×0.25" in back  # σ'(0) on the edge y -> multiply_1
    assert "×0.25 is the local derivative" not in back
    assert (
        "is the local derivative ∂child/∂parent; the number in the coloured chip is the message"
        in back
    )
    forward = html.unescape(mg.render(g, run, view="forward").source)
    assert "local derivative" not in forward


def test_a_centred_array_has_mean_0_not_rounding_noise():
    g = mg.Graph()
    centred = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) - 0.35
    assert centred.mean() != 0.0  # what the picture used to print
    g.param("w", centred)
    source = mg.render(g).source
    assert f"μ 0 [{centred.min():.4g}, {centred.max():.4g}]" in html.unescape(source)
    g.constant(np.arange(10), name="k")
    assert "μ 4.5 [0, 9]" in html.unescape(mg.render(g).source)


def test_a_scoped_chain_lays_out_in_a_row_not_a_staircase():
    import subprocess

    g = mg.Graph()
    h = g.input("x")
    for i in range(10):  # ten layers, each a scope with its own weight
        with g.scope(f"layer{i + 1}"):
            h = mg.ops.sigmoid(mg.ops.multiply(g.param("w", 0.5), h, name="wh"), name="h")
    L = mg.ops.multiply(0.5, h**2, name="L")
    run = g.forward(L, {"x": 1.0}).backward(keep_messages=True)
    for view in ("forward", "backward"):
        plain = subprocess.run(
            ["dot", "-Tplain"],
            input=mg.render(g, run, view=view).source.encode(),
            capture_output=True,
            check=True,
        ).stdout.decode()
        nodes = [line.split() for line in plain.splitlines() if line.startswith("node")]
        heights = [float(n[5]) for n in nodes]
        ys = [float(n[3]) for n in nodes]
        # a staircase would put each layer a box lower than the last: 10 boxes of spread
        assert max(ys) - min(ys) < 4 * max(heights), view
