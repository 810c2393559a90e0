"""Layer helpers: values against NumPy written out by hand, every gradient (parameters and the
layer's input) against central finite differences, names and scopes, errors."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import numerical_grad


def _fd_check(g, out, feed=None, rtol=1e-6, atol=1e-8):
    """d sum(w * out) / d(every parameter of g), mpgraph against central differences."""
    w = np.random.default_rng(7).normal(size=g.forward(out, feed)[out].shape)
    loss = mg.ops.sum(out * w)
    params = g.params()
    grads = g.grad(loss, wrt=params, feed=feed)
    for p, got in zip(params, grads):
        original = p.value.copy()

        def f(v, p=p):
            g.set_param(p, v)
            return g.forward(loss, feed)[loss]

        want = numerical_grad(f, [original], 0)
        g.set_param(p, original)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=p.name)
    return params


def test_linear_is_x_w_plus_b_with_finite_difference_gradients():
    rng = np.random.default_rng(0)
    g = mg.Graph()
    X = rng.normal(size=(5, 3))
    x = g.param("x", X)  # a parameter, so the input's gradient is checked too
    lin = mg.layers.Linear(3, 4, rng=rng)
    y = lin(x)
    W = lin.W.value
    lin.b.value = rng.normal(size=4)
    np.testing.assert_allclose(g.forward(y)[y], X @ W + lin.b.value, rtol=1e-14)
    assert [p.name for p in _fd_check(g, y)] == ["x", "linear_1/W", "linear_1/b"]


def test_linear_without_bias_and_in_float32():
    g = mg.Graph()
    x = g.input("x", shape=(None, 2), dtype=np.float32)
    lin = mg.layers.Linear(2, 3, rng=np.random.default_rng(0), bias=False, dtype=np.float32)
    y = lin(x)
    assert [p.name for p in lin.params()] == ["linear_1/W"] and y.dtype == np.float32
    out = g.forward(y, {"x": np.ones((1, 2), np.float32)})[y]
    np.testing.assert_allclose(out, lin.W.value.sum(0, keepdims=True), rtol=1e-6)


def test_mlp_is_the_composition_written_out_and_its_gradients_match():
    rng = np.random.default_rng(1)
    g = mg.Graph()
    X = rng.normal(size=(4, 3))
    x = g.param("x", X)
    net = mg.layers.MLP([3, 5, 4, 2], rng=rng, activation=mg.ops.tanh, name="net")
    y = net(x)
    (W1, b1), (W2, b2), (W3, b3) = [(layer.W.value, layer.b.value) for layer in net.layers]
    hand = np.tanh(np.tanh(X @ W1 + b1) @ W2 + b2) @ W3 + b3
    np.testing.assert_allclose(g.forward(y)[y], hand, rtol=1e-13)
    assert [p.name for p in net.params()] == [
        "net/layer1/W",
        "net/layer1/b",
        "net/layer2/W",
        "net/layer2/b",
        "net/layer3/W",
        "net/layer3/b",
    ]
    _fd_check(g, y)


def test_layernorm_matches_the_formula_and_its_gradients():
    rng = np.random.default_rng(2)
    g = mg.Graph()
    X = rng.normal(size=(2, 3, 4)) * 3 + 1
    x = g.param("x", X)
    ln = mg.layers.LayerNorm((3, 4))
    y = ln(x)
    ln.weight.value = rng.normal(size=(3, 4))
    ln.bias.value = rng.normal(size=(3, 4))
    mu = X.mean(axis=(1, 2), keepdims=True)
    var = ((X - mu) ** 2).mean(axis=(1, 2), keepdims=True)  # biased, as torch
    hand = (X - mu) / np.sqrt(var + 1e-5) * ln.weight.value + ln.bias.value
    np.testing.assert_allclose(g.forward(y)[y], hand, rtol=1e-12)
    assert [p.name for p in _fd_check(g, y, rtol=1e-5)] == [
        "x",
        "layernorm_1/weight",
        "layernorm_1/bias",
    ]
    ops = sorted(n.op.name for n in g if n.op is not None and n.name.startswith("layernorm_1/"))
    assert {"mean", "var", "sqrt"} <= set(ops)  # built from the ordinary ops, visible


def test_layernorm_without_affine_has_no_parameters():
    g = mg.Graph()
    x = g.param("x", np.array([[1.0, 2.0, 4.0]]))
    ln = mg.layers.LayerNorm(3, elementwise_affine=False, eps=0.0)
    y = ln(x)
    v = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(g.forward(y)[y][0], (v - v.mean()) / v.std(), rtol=1e-14)
    assert ln.params() == []
    _fd_check(g, y, rtol=1e-5)


def test_dropout_gradient_uses_the_runs_mask():
    g = mg.Graph()
    X = np.random.default_rng(3).normal(size=(4, 6))
    x = g.param("x", X)
    y = mg.layers.Dropout(0.5, rng=11)(x)  # an int seed: the same mask at every run (for FD)
    out = g.forward(y)[y]
    mask = out != 0
    np.testing.assert_allclose(out[mask], 2 * X[mask], rtol=1e-15)
    assert 0 < mask.sum() < mask.size
    (dx,) = g.grad(mg.ops.sum(y), wrt=[x])
    np.testing.assert_array_equal(dx, 2.0 * mask)
    _fd_check(g, y)


def test_embedding_picks_rows_and_sums_their_error_signals():
    rng = np.random.default_rng(4)
    g = mg.Graph()
    ids = g.input("ids", shape=(None, 3), dtype=np.int64)
    emb = mg.layers.Embedding(6, 2, rng=rng)
    e = emb(ids)
    assert e.shape == (None, 3, 2)
    picked = np.array([[0, 5, 5], [2, 0, 1]])
    np.testing.assert_array_equal(g.forward(e, {"ids": picked})[e], emb.W.value[picked])
    signal = rng.normal(size=(2, 3, 2))
    (dW,) = g.grad(mg.ops.sum(e * signal), wrt=[emb.W], feed={"ids": picked})
    hand = np.zeros((6, 2))
    np.add.at(hand, picked, signal)  # rows picked twice get both signals
    np.testing.assert_allclose(dW, hand, rtol=1e-14)
    _fd_check(g, e, {"ids": picked})


def test_embedding_refuses_float_ids_and_keeps_a_float32_table():
    g = mg.Graph()
    with pytest.raises(
        mg.GraphError, match=r"layer Embedding takes integer ids.*'x' has dtype float64"
    ):
        mg.layers.Embedding(3, 2, rng=np.random.default_rng(0))(g.input("x", dtype=np.float64))
    ids = g.input("ids", shape=(None,), dtype=np.int32)
    e = mg.layers.Embedding(3, 2, rng=np.random.default_rng(0), dtype=np.float32)(ids)
    assert e.dtype == np.float32
    assert g.forward(e, {"ids": np.array([2], np.int32)})[e].dtype == np.float32


def _conv_by_hand(X, K, padding):
    X = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, w = X.shape
    o, _, kh, kw = K.shape
    out = np.zeros((n, o, h - kh + 1, w - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", X[:, :, i : i + kh, j : j + kw], K)
    return out


def test_conv2d_from_the_plugin_is_cross_correlation_plus_bias():
    rng = np.random.default_rng(5)
    g = mg.Graph()
    X = rng.normal(size=(2, 2, 5, 5))
    x = g.param("x", X)
    conv = mg.layers.Conv2d(2, 3, 3, padding=1, rng=rng)
    y = conv(x)
    conv.b.value = rng.normal(size=(3, 1, 1))
    assert y.shape == (2, 3, 5, 5)
    np.testing.assert_allclose(
        g.forward(y)[y], _conv_by_hand(X, conv.W.value, 1) + conv.b.value, rtol=1e-12
    )
    assert [p.name for p in _fd_check(g, y)] == ["x", "conv2d_1/W", "conv2d_1/b"]


def test_grouped_dilated_conv2d_is_per_group_cross_correlation():
    rng = np.random.default_rng(6)
    g = mg.Graph()
    X = rng.normal(size=(2, 4, 7, 7))
    x = g.param("x", X)
    conv = mg.layers.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, rng=rng)
    y = conv(x)
    assert conv.W.shape == (6, 2, 3, 3) and y.shape == (2, 6, 7, 7)
    W, b = conv.W.value, conv.b.value
    # by hand: group k's 3 outputs see only its 2 inputs; dilation 2 spreads the taps
    Xp = np.pad(X, ((0, 0), (0, 0), (2, 2), (2, 2)))
    want = np.zeros((2, 6, 7, 7))
    for o in range(6):
        k = o // 3
        for i, j in np.ndindex(7, 7):
            patch = Xp[:, 2 * k : 2 * k + 2, i : i + 5 : 2, j : j + 5 : 2]
            want[:, o, i, j] = np.sum(patch * W[o], axis=(1, 2, 3))
    np.testing.assert_allclose(g.forward(y)[y], want + b, rtol=1e-12)
    with pytest.raises(mg.GraphError, match=r"groups=4 must divide both"):
        mg.layers.Conv2d(4, 6, 3, groups=4, rng=rng)


def test_conv2d_says_which_plugin_to_install_when_conv2d_is_missing():
    mg.plugins.reload()
    try:
        mg.plugins.block("conv")
        with pytest.raises(mg.PluginError, match=r"Conv2d needs the op 'conv2d'.*plugins/conv"):
            mg.layers.Conv2d(1, 1, 3, rng=np.random.default_rng(0))
    finally:
        mg.plugins.reload()
    assert "conv2d" in mg.plugins.ops()


def test_conv2d_refuses_the_wrong_number_of_channels():
    g = mg.Graph()
    with pytest.raises(
        mg.ShapeError,
        match=r"layer Conv2d takes \(N, 3, H, W\).*"
        r"'x' has shape \(\?, 1, 8, 8\)",
    ):
        mg.layers.Conv2d(3, 2, 3, rng=np.random.default_rng(0))(g.input("x", (None, 1, 8, 8)))


def test_every_layer_has_its_own_scope_and_reuse_shares_parameters():
    rng = np.random.default_rng(6)
    g = mg.Graph()
    x = g.input("x", shape=(None, 2))
    a, b = mg.layers.Linear(2, 2, rng=rng), mg.layers.Linear(2, 2, rng=rng)
    with g.scope("encoder"):
        h = a(x)
    y = a(b(h))  # `a` again: the same W and b, new op nodes
    assert (a.name, b.name) == ("linear_1", "linear_2")
    assert [p.name for p in g.params()] == [
        "encoder/linear_1/W",
        "encoder/linear_1/b",
        "linear_2/W",
        "linear_2/b",
    ]
    X = rng.normal(size=(3, 2))
    Wa, ba, Wb, bb = (p.value for p in g.params())
    np.testing.assert_allclose(
        g.forward(y, {"x": X})[y], (((X @ Wa + ba) @ Wb + bb) @ Wa + ba), rtol=1e-13
    )
    source = mg.render(g).source  # each layer a cluster, each node shown
    assert "cluster_linear_2" in source and source.count("matmul") >= 3


def test_layers_refuse_what_they_cannot_build():
    rng = np.random.default_rng(0)
    g = mg.Graph()
    lin = mg.layers.Linear(3, 2, rng=rng, name="layer1")
    with pytest.raises(
        mg.ShapeError,
        match=r"'layer1' \(Linear\) takes inputs whose trailing "
        r"shape is \(3,\); node 'x' has shape \(\?, 4\)",
    ):
        lin(g.input("x", shape=(None, 4)))
    assert g.params() == [] and lin.name == "layer1"  # refused before anything was added
    with pytest.raises(mg.GraphError, match="takes a graph node"):
        lin(np.ones((2, 3)))
    lin(g.input("z", shape=(None, 3)))
    other = mg.Graph()
    with pytest.raises(mg.GraphError, match="'layer1' was built on another graph"):
        lin(other.input("x", shape=(None, 3)))
    with pytest.raises(mg.GraphError, match="'layer1/W' is already used"):
        mg.layers.Linear(3, 2, rng=rng, name="layer1")(g["z"])
    with pytest.raises(mg.GraphError, match=r"rate must be in \[0, 1\), got 1"):
        mg.layers.Dropout(1, rng=0)
    with pytest.raises(mg.GraphError, match="at least two sizes"):
        mg.layers.MLP([3], rng=rng)


def test_embedding_refuses_an_id_outside_the_table_naming_the_node():
    g = mg.Graph()
    ids = g.input("ids", shape=(None,), dtype=np.int64)
    e = mg.layers.Embedding(5, 2, rng=np.random.default_rng(0), name="emb")(ids)
    with pytest.raises(mg.OpError, match=r"embedding.*emb/.*index 7 is out of bounds"):
        g.forward(e, {"ids": np.array([1, 7])})
    assert g.forward(e, {"ids": np.array([1, 4])})[e].shape == (2, 2)  # the graph still runs
