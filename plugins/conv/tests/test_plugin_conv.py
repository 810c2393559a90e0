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


# -- dilation and groups ------------------------------------------------------------------------


def loop_conv2d(x, w, stride, padding, dilation, groups):
    """conv2d by its definition with dilation and groups: each output pixel of each output
    channel summed over its group's input channels and the kernel, one term at a time."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, wd = xp.shape
    o, cg, kh, kw = w.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (wd - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for b, oc, i, j in np.ndindex(y.shape):
        group = oc // (o // groups)
        for ci in range(cg):
            for a in range(kh):
                for e in range(kw):
                    y[b, oc, i, j] += (
                        xp[b, group * cg + ci, i * sh + a * dh, j * sw + e * dw] * w[oc, ci, a, e]
                    )
    return y


def loop_conv2d_messages(g, x, w, stride, padding, dilation, groups):
    """The messages of conv2d by the definition: each term's signal to the input pixel and to
    the kernel entry it multiplied."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    o, cg, kh, kw = w.shape
    for b, oc, i, j in np.ndindex(g.shape):
        group = oc // (o // groups)
        for ci, a, e in np.ndindex(cg, kh, kw):
            r, c = i * sh + a * dh, j * sw + e * dw
            gw[oc, ci, a, e] += g[b, oc, i, j] * xp[b, group * cg + ci, r, c]
            gxp[b, group * cg + ci, r, c] += g[b, oc, i, j] * w[oc, ci, a, e]
    return gxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], gw


DILATED_GROUPED = [
    # x shape, w shape, stride, padding, dilation, groups
    ((2, 4, 7, 6), (6, 2, 3, 2), (1, 1), (0, 0), (2, 2), 2),
    ((1, 6, 9, 8), (3, 2, 2, 3), (2, 1), (1, 2), (3, 1), 3),
    ((2, 3, 6, 7), (6, 1, 3, 3), (2, 3), (2, 1), (1, 2), 3),  # depthwise, two outputs each
    ((2, 4, 5, 5), (4, 4, 2, 2), (1, 2), (1, 1), (2, 3), 1),
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", DILATED_GROUPED)
def test_conv2d_with_dilation_and_groups_matches_its_definition(
    xs, ws, stride, padding, dilation, groups
):
    rng = np.random.default_rng(sum(xs))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    want = loop_conv2d(x, w, stride, padding, dilation, groups)
    np.testing.assert_allclose(mg.ops.conv2d(x, w, **attrs), want, atol=1e-12)
    g = mg.Graph()
    xn, wn = g.input("x", shape=xs), g.param("w", w)
    signal = rng.standard_normal(want.shape)
    gx, gw = g.grad(mg.ops.sum(mg.ops.conv2d(xn, wn, **attrs) * signal), wrt=[xn, wn], feed={xn: x})
    want_x, want_w = loop_conv2d_messages(signal, x, w, stride, padding, dilation, groups)
    np.testing.assert_allclose(gx, want_x, atol=1e-12)
    np.testing.assert_allclose(gw, want_w, atol=1e-12)


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", DILATED_GROUPED)
def test_conv2d_with_dilation_and_groups_has_the_gradients_of_finite_differences(
    mpgraph_check_op, xs, ws, stride, padding, dilation, groups
):
    rng = np.random.default_rng(len(xs) + ws[0])
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    mpgraph_check_op("conv2d", [rng.standard_normal(xs), rng.standard_normal(ws)], attrs)


def test_conv2d_with_dilation_and_groups_keeps_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    attrs = {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}
    y = mg.ops.conv2d(x, w, **attrs)
    assert y.dtype == np.float32
    np.testing.assert_allclose(
        y, loop_conv2d(x.astype(float), w.astype(float), (2, 2), (1, 1), (2, 2), 2), atol=1e-5
    )
    gx, gw = mg.grad(lambda x, w: mg.ops.sum(mg.ops.conv2d(x, w, **attrs) ** 2), argnums=(0, 1))(
        x, w
    )
    assert gx.dtype == np.float32 and gw.dtype == np.float32


def test_groups_that_do_not_divide_the_channels_name_the_node():
    g = mg.Graph()
    x = g.input("x", shape=(2, 6, 5, 5))
    with pytest.raises(
        mg.ShapeError, match=r"op 'conv2d' at node 'c3': x has 6 channels, which groups=4"
    ):
        mg.ops.conv2d(x, np.ones((4, 2, 3, 3)), groups=4, name="c3")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv2d' at node 'c4': w has 5 output channels, which groups=3 does not",
    ):
        mg.ops.conv2d(x, np.ones((5, 2, 3, 3)), groups=3, name="c4")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv2d' at node 'c5': x has 6 channels but w expects 9 \(3 per group, groups=3",
    ):
        mg.ops.conv2d(x, np.ones((3, 3, 3, 3)), groups=3, name="c5")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv2d' at node 'c6': kernel \(3, 3\) with dilation \(3, 3\) does not fit",
    ):
        mg.ops.conv2d(x, np.ones((2, 6, 3, 3)), dilation=3, name="c6")
