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


# -- conv1d and conv_transpose2d ----------------------------------------------------------------


def loop_conv1d(x, w, stride, padding, dilation, groups):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    n, _, length = xp.shape
    o, cg, k = w.shape
    y = np.zeros((n, o, (length - dilation * (k - 1) - 1) // stride + 1))
    for b, oc, i in np.ndindex(y.shape):
        group = oc // (o // groups)
        for ci, a in np.ndindex(cg, k):
            y[b, oc, i] += xp[b, group * cg + ci, i * stride + a * dilation] * w[oc, ci, a]
    return y


@pytest.mark.parametrize(
    "xs, ws, stride, padding, dilation, groups",
    [
        ((2, 3, 9), (4, 3, 3), 1, 0, 1, 1),
        ((2, 4, 11), (6, 2, 3), 2, 2, 2, 2),
        ((1, 3, 8), (3, 1, 2), 3, 1, 3, 3),
    ],
)
def test_conv1d_matches_its_definition_and_finite_differences(
    mpgraph_check_op, xs, ws, stride, padding, dilation, groups
):
    rng = np.random.default_rng(xs[2])
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    np.testing.assert_allclose(
        mg.ops.conv1d(x, w, **attrs),
        loop_conv1d(x, w, stride, padding, dilation, groups),
        atol=1e-12,
    )
    mpgraph_check_op("conv1d", [x, w], attrs)


def loop_conv_transpose2d(x, w, stride, padding, output_padding, groups, dilation):
    """The transposed convolution by its definition: every input pixel scatters itself times
    the kernel of its group into the (uncropped) output, which then loses the padding."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    full = np.zeros(
        (
            n,
            og * groups,
            (h - 1) * sh + dh * (kh - 1) + 1 + oph,
            (wd - 1) * sw + dw * (kw - 1) + 1 + opw,
        )
    )
    for b, ci, i, j in np.ndindex(x.shape):
        group = ci // (c // groups)
        for oc, a, e in np.ndindex(og, kh, kw):
            full[b, group * og + oc, i * sh + a * dh, j * sw + e * dw] += (
                x[b, ci, i, j] * w[ci, oc, a, e]
            )
    return full[:, :, ph : full.shape[2] - ph, pw : full.shape[3] - pw]


TRANSPOSED = [
    # x shape, w shape, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 3), (3, 2, 3, 3), (1, 1), (0, 0), (0, 0), 1, (1, 1)),
    ((1, 4, 3, 4), (4, 3, 2, 3), (2, 3), (1, 1), (1, 2), 2, (1, 1)),
    ((2, 2, 3, 3), (2, 1, 3, 2), (1, 2), (2, 0), (1, 1), 2, (2, 1)),  # output_padding >= stride
    ((1, 3, 2, 3), (3, 2, 2, 2), (3, 2), (0, 1), (2, 0), 3, (2, 2)),
]


@pytest.mark.parametrize("xs, ws, stride, padding, output_padding, groups, dilation", TRANSPOSED)
def test_conv_transpose2d_matches_its_definition_and_finite_differences(
    mpgraph_check_op, xs, ws, stride, padding, output_padding, groups, dilation
):
    rng = np.random.default_rng(sum(ws))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    attrs = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "groups": groups,
        "dilation": dilation,
    }
    want = loop_conv_transpose2d(x, w, stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(mg.ops.conv_transpose2d(x, w, **attrs), want, atol=1e-12)
    mpgraph_check_op("conv_transpose2d", [x, w], attrs)


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", DILATED_GROUPED)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(xs, ws, stride, padding, dilation, groups):
    """<conv2d(x, w), u> = <x, conv_transpose2d(u, w)> with the same kernel and attributes,
    output_padding filling the rows no window of conv2d reached."""
    rng = np.random.default_rng(ws[0])
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = mg.ops.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    u = rng.standard_normal(y.shape)
    missed = tuple(
        (xs[2 + a] + 2 * padding[a] - dilation[a] * (ws[2 + a] - 1) - 1) % stride[a] for a in (0, 1)
    )
    back = mg.ops.conv_transpose2d(
        u,
        w,
        stride=stride,
        padding=padding,
        output_padding=missed,
        groups=groups,
        dilation=dilation,
    )
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y * u), np.sum(x * back), rtol=1e-12)


@pytest.mark.parametrize(
    "op, xs, ws, groups",
    [
        ("conv1d", (2, 4, 5), (4, 2, 2), 2),
        ("conv2d", (2, 4, 5, 5), (4, 2, 2, 2), 2),
        ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 2, 2), 1),
    ],
)
def test_the_new_convolutions_keep_float32(op, xs, ws, groups):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    f = getattr(mg.ops, op)
    assert f(x, w, stride=2, groups=groups).dtype == np.float32
    gx, gw = mg.grad(
        lambda x, w: mg.ops.sum(f(x, w, stride=2, groups=groups) ** 2), argnums=(0, 1)
    )(x, w)
    assert gx.dtype == np.float32 and gw.dtype == np.float32


@pytest.mark.parametrize(
    "op, xs, ws, attrs",
    [
        ("conv1d", (2, 4, 11), (6, 2, 3), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}),
        ("conv2d", (2, 4, 7, 6), (6, 2, 2, 2), {"stride": 2, "dilation": (2, 3), "groups": 2}),
        (
            "conv_transpose2d",
            (2, 4, 3, 3),
            (4, 1, 2, 3),
            {"stride": (1, 2), "padding": 1, "output_padding": (0, 1), "groups": 2, "dilation": 2},
        ),
    ],
)
@pytest.mark.parametrize("unknown", ["batch", "all"])
def test_shape_rules_with_unknown_dims_agree_with_forward(op, xs, ws, attrs, unknown):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    want = getattr(mg.ops, op)(x, w, **attrs).shape
    g = mg.Graph()
    xin = g.input("x", shape=(None,) + xs[1:] if unknown == "batch" else (None,) * len(xs))
    y = getattr(mg.ops, op)(xin, g.param("w", w), **attrs)
    assert len(y.shape) == len(want)
    known = [d for d in y.shape if d is not None]
    assert known == [n for d, n in zip(y.shape, want) if d is not None]
    assert known == (list(want[1:]) if unknown == "batch" else [want[1]])
    assert g.forward(y, {xin: x})[y].shape == want


def test_bad_shapes_of_the_new_ops_name_the_node_and_the_op():
    g = mg.Graph()
    x1, x2 = g.input("x1", shape=(2, 6, 9)), g.input("x2", shape=(2, 6, 4, 4))
    with pytest.raises(
        mg.ShapeError, match=r"op 'conv1d' at node 'a': x has 6 channels, which groups=4 does not"
    ):
        mg.ops.conv1d(x1, np.ones((4, 2, 3)), groups=4, name="a")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv1d' at node 'b': x must be \(N, C, L\) and w \(O, C/groups, k\)",
    ):
        mg.ops.conv1d(x1, np.ones((4, 6, 3, 3)), name="b")
    with pytest.raises(
        mg.ShapeError, match=r"op 'conv1d' at node 'c': stride must be an int or a tuple of one int"
    ):
        mg.ops.conv1d(x1, np.ones((4, 6, 3)), stride=(1, 2), name="c")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv_transpose2d' at node 'd': x has 6 channels, which groups=4 does not",
    ):
        mg.ops.conv_transpose2d(x2, np.ones((6, 1, 3, 3)), groups=4, name="d")
    with pytest.raises(
        mg.ShapeError, match=r"op 'conv_transpose2d' at node 'e': x has 6 channels but w expects 5"
    ):
        mg.ops.conv_transpose2d(x2, np.ones((5, 1, 3, 3)), name="e")
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'conv_transpose2d' at node 'f': output_padding 2 must be smaller than the "
        r"stride 2 or the dilation 1",
    ):
        mg.ops.conv_transpose2d(x2, np.ones((6, 1, 3, 3)), stride=2, output_padding=2, name="f")
    with pytest.raises(
        mg.ShapeError, match=r"op 'conv_transpose2d' at node 'h': padding 3 leaves no output"
    ):
        mg.ops.conv_transpose2d(x2, np.ones((6, 1, 1, 1)), padding=3, name="h")


# -- higher orders ------------------------------------------------------------------------------


def _second(f, argnums, vs):
    """x -> <v, grad f(x)>: its gradient, checked against central differences, is the second
    derivative of f along v."""
    first = mg.grad(f, argnums=argnums)

    def h(*a):
        grads = first(*a)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return sum(mg.ops.sum(v * d) for v, d in zip(vs, grads))

    return h


SECOND_ORDER = [
    (
        "conv2d",
        (2, 4, 6, 5),
        (6, 2, 2, 3),
        {"stride": (2, 1), "padding": 1, "dilation": 2, "groups": 2},
    ),
    ("conv2d", (1, 3, 5, 5), (3, 1, 3, 3), {"padding": (1, 2), "dilation": (1, 2), "groups": 3}),
    ("conv1d", (2, 4, 9), (6, 2, 3), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}),
    (
        "conv_transpose2d",
        (1, 4, 3, 3),
        (4, 1, 2, 3),
        {"stride": (2, 1), "padding": 1, "output_padding": (1, 0), "groups": 2, "dilation": (1, 2)},
    ),
]


@pytest.mark.parametrize("op, xs, ws, attrs", SECOND_ORDER)
def test_the_convolutions_have_second_derivatives_of_finite_differences(op, xs, ws, attrs):
    """A convolution is bilinear, so tanh after it makes every second derivative (x with x, x
    with w, w with w) nonzero."""
    rng = np.random.default_rng(len(attrs))
    x, w = rng.standard_normal(xs), 0.5 * rng.standard_normal(ws)
    f = getattr(mg.ops, op)
    y = f(x, w, **attrs)
    u = rng.standard_normal(y.shape)
    vs = (rng.standard_normal(xs), rng.standard_normal(ws))

    def loss(x, w):
        return mg.ops.sum(u * mg.ops.tanh(f(x, w, **attrs)))

    h = _second(loss, (0, 1), vs)
    grads = check_grads(h, x, w, rtol=1e-5, atol=1e-8)
    assert all(np.abs(gr).max() > 1e-3 for gr in grads)


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("max_pool2d", {"kernel_size": 2}),
        ("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
        ("avg_pool2d", {"kernel_size": (2, 3), "stride": 1, "padding": (1, 1)}),
        ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ],
)
def test_pooling_has_second_derivatives_of_finite_differences(op, attrs):
    """sum(u * pool(x)^2): the second derivative routes 2 u pool(x) back through the pooling
    message, and the pooling message is built again as nodes to differentiate it."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 5))
    f = getattr(mg.ops, op)
    u = rng.standard_normal(f(x, **attrs).shape)
    v = rng.standard_normal(x.shape)
    h = _second(lambda x: mg.ops.sum(u * f(x, **attrs) ** 2), 0, (v,))
    (grad,) = check_grads(h, x, rtol=1e-5, atol=1e-8)
    assert np.abs(grad).max() > 1e-3


def test_max_pool_second_derivative_follows_the_first_maximum_of_tied_windows():
    """With tied maxima, the second derivative goes where the first did: to each window's
    first maximum (row-major)."""
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 1.0, 3.0]]]])  # both windows tie at 3

    def first(x):
        return mg.grad(lambda x: mg.ops.sum(mg.ops.max_pool2d(x, 2) ** 2))(x)

    # d/dx sum(first(x)) = d/dx sum(2 * max) routed: 2 to each window's first maximum
    got = mg.grad(lambda x: mg.ops.sum(first(x)))(x)
    np.testing.assert_array_equal(got[0, 0], [[0, 2, 2, 0], [0, 0, 0, 0]])


def test_a_small_cnn_has_third_derivatives_of_finite_differences():
    """Three nested mg.grad through conv2d (dilated, grouped), max_pool2d, conv_transpose2d,
    avg_pool2d and conv1d, against central differences of the second."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 7, 7))
    w1 = 0.6 * rng.standard_normal((4, 1, 2, 2))
    w2 = 0.6 * rng.standard_normal((4, 2, 2, 2))
    w3 = 0.6 * rng.standard_normal((2, 2, 3))

    def loss(w1, w2, w3):
        h = mg.ops.tanh(mg.ops.conv2d(x, w1, padding=1, dilation=2, groups=2))  # (1, 4, 6, 6)
        h = mg.ops.max_pool2d(h, 2)  # (1, 4, 3, 3)
        h = mg.ops.tanh(mg.ops.conv_transpose2d(h, w2, stride=2, groups=2))  # (1, 4, 6, 6)
        h = mg.ops.avg_pool2d(h, 3, stride=1, padding=1)  # (1, 4, 6, 6)
        h = mg.ops.reshape(h, (1, 4, 36))
        return mg.ops.sum(mg.ops.tanh(mg.ops.conv1d(h, w3, stride=3, groups=2)) ** 2)

    params = (w1, w2, w3)
    v1 = [rng.standard_normal(p.shape) for p in params]
    v2 = [rng.standard_normal(p.shape) for p in params]
    second = _second(_second(loss, (0, 1, 2), v1), (0, 1, 2), v2)
    grads = check_grads(second, *params, rtol=1e-4, atol=1e-6)
    assert all(np.abs(gr).max() > 1e-3 for gr in grads)


@pytest.mark.parametrize(
    "k, stride, padding", [(2, None, 0), (3, 2, 1), (2, 1, 0), ((3, 2), (2, 3), (1, 0))]
)
def test_max_pool_message_from_the_forward_residual_is_the_one_found_again(k, stride, padding):
    """A graph run sends the message by the first maxima its forward pass kept; called on
    arrays without them, the vjp finds them again from x and the output. Many ties (values
    on a coarse grid, zeros of a relu) and a NaN, in the layout of a convolution's output."""
    rng = np.random.default_rng(5)
    x = np.maximum(np.round(rng.standard_normal((6, 3, 7, 8)) * 2), 0)
    x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # channel-major
    x[1, 2, 3, 4] = np.nan
    op = mg.ops.max_pool2d.op
    g = mg.Graph()
    xin = g.input("x", shape=x.shape)
    y = mg.ops.max_pool2d(xin, k, stride, padding)
    signal = rng.standard_normal(y.shape)
    got = g.grad(mg.ops.sum(y * signal), wrt=xin, feed={xin: x})
    ans = mg.ops.max_pool2d(x, k, stride, padding)
    again = op.apply_vjp(0, signal, ans, x, kernel_size=k, stride=stride, padding=padding)
    np.testing.assert_array_equal(got, again)
    # each window's signal arrives once, at one element of the window
    np.testing.assert_allclose(got.sum(), signal.sum())
    assert np.isnan(ans).any() and np.count_nonzero(got) <= signal.size


def test_padding_same_and_valid_as_in_pytorch():
    import mpgraph as mg

    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 5))
    same = mg.ops.conv2d(x, w, padding="same", dilation=(2, 1))
    assert same.shape == (2, 4, 9, 8)  # the output as large as the input
    # dilation 2 spreads 3 rows over 5: 4 padded rows, 2 a side; 5 columns: 2 a side
    np.testing.assert_allclose(same, mg.ops.conv2d(x, w, padding=(2, 2), dilation=(2, 1)))
    np.testing.assert_allclose(mg.ops.conv2d(x, w, padding="valid"), mg.ops.conv2d(x, w))
    x1, w1 = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3))
    np.testing.assert_allclose(
        mg.ops.conv1d(x1, w1, padding="same"), mg.ops.conv1d(x1, w1, padding=1)
    )
    g = mg.Graph()
    node = mg.ops.conv2d(g.input("x", shape=(None, 3, 9, 8)), g.param("w", w), padding="same")
    assert node.shape == (None, 4, 9, 8) and node.attrs["padding"] == (1, 2)
    with pytest.raises(mg.ShapeError, match=r"padding='same' needs stride 1"):
        mg.ops.conv2d(x, w, padding="same", stride=2)
    with pytest.raises(mg.ShapeError, match=r"kernel \(2, 3\) pads \[1, 2\].*mg.ops.pad"):
        mg.ops.conv2d(x, np.ones((4, 3, 2, 3)), padding="same")
    with pytest.raises(mg.ShapeError, match=r"'valid' or 'same'; got 'full'"):
        mg.ops.conv2d(x, w, padding="full")
