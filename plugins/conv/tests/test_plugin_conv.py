"""mpgraph-conv, installed from plugins/conv: ops against loops written out by hand, and a
small CNN's gradients against finite differences end to end."""

import doctest

import mpgraph_conv
import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import check_grads


def naive_conv2d(x, w, stride, padding):
    """The definition, one output pixel at a time."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = xp.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for b in range(n):
        for c in range(o):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    y[b, c, i, j] = np.sum(patch * w[c])
    return y


def naive_pool(x, k, stride, padding, reduce, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    n, c, h, w = xp.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            y[:, :, i, j] = reduce(
                xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k], axis=(2, 3)
            )
    return y


def test_the_ops_come_from_the_installed_distribution():
    for name in ("conv2d", "max_pool2d", "avg_pool2d"):
        assert getattr(mg.ops, name).op.plugin == "conv"
    assert mg.plugins.distribution("conv") == ("mpgraph-conv", mpgraph_conv.__version__)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_matches_its_definition(stride, padding):
    rng = np.random.default_rng(stride)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    np.testing.assert_allclose(
        mg.ops.conv2d(x, w, stride=stride, padding=padding),
        naive_conv2d(x, w, stride, padding),
        atol=1e-12,
    )


@pytest.mark.parametrize("k, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pooling_matches_its_definition(k, stride, padding):
    x = np.random.default_rng(k).standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(
        mg.ops.max_pool2d(x, k, stride, padding), naive_pool(x, k, stride, padding, np.max, -np.inf)
    )
    np.testing.assert_allclose(
        mg.ops.avg_pool2d(x, k, stride, padding), naive_pool(x, k, stride, padding, np.mean, 0.0)
    )


def naive_conv2d_messages(g, x, w, stride, padding):
    """The messages of conv2d by the definition: each output pixel's signal times the window
    it read (to w) and times the kernel (to x), one pixel at a time."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    kh, kw = w.shape[2:]
    for b, c, i, j in np.ndindex(g.shape):
        rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
        gw[c] += g[b, c, i, j] * xp[b, :, rows, cols]
        gxp[b, :, rows, cols] += g[b, c, i, j] * w[c]
    return gxp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]], gw


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_messages_match_their_definition(stride, padding):
    rng = np.random.default_rng(10 + stride)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    gin, win = mg.Graph(), None
    xn = gin.input("x", shape=x.shape)
    win = gin.param("w", w)
    y = mg.ops.conv2d(xn, win, stride=stride, padding=padding)
    g = rng.standard_normal(naive_conv2d(x, w, stride, padding).shape)
    L = mg.ops.sum(y * g)
    gx, gw = gin.grad(L, wrt=[xn, win], feed={"x": x})
    want_x, want_w = naive_conv2d_messages(g, x, w, stride, padding)
    np.testing.assert_allclose(gx, want_x, atol=1e-12)
    np.testing.assert_allclose(gw, want_w, atol=1e-12)


@pytest.mark.parametrize(
    "op, args", [("conv2d", (np.ones((2, 3, 3, 3)),)), ("max_pool2d", (2,)), ("avg_pool2d", (2,))]
)
def test_float32_stays_float32_forward_and_backward(op, args):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    args = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args)
    assert getattr(mg.ops, op)(x, *args).dtype == np.float32
    dx = mg.grad(lambda x: mg.ops.sum(getattr(mg.ops, op)(x, *args)))(x)
    assert dx.dtype == np.float32


def test_max_pool_of_a_window_holding_nan_sends_its_signal_to_the_nan():
    x = np.array([[[[1.0, np.nan, 5.0, 4.0], [3.0, 2.0, 5.0, 0.0]]]])
    g = mg.Graph()
    xin = g.input("x", shape=x.shape)
    L = mg.ops.sum(mg.ops.max_pool2d(xin, 2) * np.array([2.0, 3.0]))
    dx = g.grad(L, wrt=xin, feed={"x": x})
    # as in PyTorch: NaN is the window's maximum; a tie goes to the first maximum only
    np.testing.assert_array_equal(dx[0, 0], [[0, 2, 3, 0], [0, 0, 0, 0]])


def test_max_pool_sends_each_window_signal_to_its_maximum_once():
    x = np.array([[[[1.0, 5.0, 2.0], [0.0, 3.0, 4.0], [6.0, 1.0, 0.0]]]])
    g = mg.Graph()
    xin = g.input("x", shape=(1, 1, 3, 3))
    L = mg.ops.sum(mg.ops.max_pool2d(xin, 2, stride=1))  # windows' maxima: 5, 5, 6, 4
    dx = g.grad(L, wrt=xin, feed={"x": x})
    np.testing.assert_array_equal(dx[0, 0], [[0, 2, 0], [0, 0, 1], [1, 0, 0]])


def test_a_small_cnn_has_the_gradients_of_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 8, 8))
    labels = np.array([1, 2])

    def loss(w1, w2, W):
        h = mg.ops.relu(mg.ops.conv2d(x, w1, padding=1))  # (2, 3, 8, 8)
        h = mg.ops.max_pool2d(h, 2)  # (2, 3, 4, 4)
        h = mg.ops.tanh(mg.ops.conv2d(h, w2, stride=2, padding=1))  # (2, 4, 2, 2)
        h = mg.ops.reshape(mg.ops.avg_pool2d(h, 2), (2, 4))  # (2, 4)
        return mg.ops.softmax_cross_entropy(h @ W, labels)

    params = (
        0.5 * rng.standard_normal((3, 2, 3, 3)),
        0.5 * rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal((4, 3)),
    )
    grads = check_grads(loss, *params, rtol=1e-5, atol=1e-8)
    assert all(np.any(gr != 0) for gr in grads)


def test_a_graph_with_an_unknown_batch_size_has_the_shapes_of_the_rule():
    g = mg.Graph()
    x = g.input("x", shape=(None, 3, 9, 9))
    y = mg.ops.conv2d(x, g.param("w", np.ones((5, 3, 3, 3))), stride=2, padding=1)
    assert y.shape == (None, 5, 5, 5)
    assert mg.ops.max_pool2d(y, 2).shape == (None, 5, 2, 2)
    run = g.forward(y, {"x": np.ones((4, 3, 9, 9))})
    assert run[y].shape == (4, 5, 5, 5)


def test_bad_shapes_name_the_op_the_node_and_what_differs():
    g = mg.Graph()
    x = g.input("x", shape=(2, 3, 5, 5))
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv2d' at node 'c1': x has 3 channels but "
        r"w expects 4",
    ):
        mg.ops.conv2d(x, np.ones((2, 4, 3, 3)), name="c1")
    with pytest.raises(mg.ShapeError, match=r"op 'conv2d' at node 'c2': stride must be at least 1"):
        mg.ops.conv2d(x, np.ones((2, 3, 3, 3)), stride=0, name="c2")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'max_pool2d' at node 'p': kernel \(7, 7\) does "
        r"not fit input \(5, 5\)",
    ):
        mg.ops.max_pool2d(x, 7, name="p")


def test_the_documentation_examples_run():
    assert doctest.testmod(mpgraph_conv).failed == 0
