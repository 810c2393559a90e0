"""Convolution and pooling for mpgraph, in PyTorch's layouts ((N, C, L) and (N, C, H, W)).

Every op is a forward function and one vjp per array argument, vectorised with NumPy, in the
dtype of its input. A convolution is im2col and one BLAS matmul per group: the windows of the
padded input are copied, one kernel offset at a time, into a (C * kh * kw, N * Ho * Wo) matrix
that the (O, C * kh * kw) kernel multiplies. Its messages are matmuls too: to the kernel, the
error signal times the im2col matrix; to the input, the kernel times the error signal, added
back (col2im) one kernel offset at a time as strided slices, which is ``conv_transpose2d``.
Pooling likewise loops over the kh * kw kernel offsets, never over pixels. ``conv1d`` is
``conv2d`` on a height of one.

On arrays the messages are computed directly; built as graph nodes (a higher-order derivative)
each is a composition of ops that are themselves differentiable: the message of a convolution
to its input is a transposed convolution of the error signal, the one to its kernel a
convolution of the input with the error signal, and a pooling message a transposed convolution
of the (routed) signal with a fixed kernel. So every op here is differentiable to any order.

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> mg.ops.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
array([[[[10., 18.],
         [42., 50.]]]])
>>> mg.ops.max_pool2d(x, 2)
array([[[[ 5.,  7.],
         [13., 15.]]]])
>>> mg.ops.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=1)
array([[[[1., 2., 1.],
         [2., 4., 2.],
         [1., 2., 1.]]]])
>>> mg.ops.conv1d(np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 2)), dilation=2)
array([[[2., 4., 6.]]])
"""

from __future__ import annotations

import numpy as np

import mpgraph as mg
from mpgraph.extend import apply_op, is_graph_node

__version__ = "0.1.0"


def _ints(v, n, what, least) -> tuple:
    """``v`` or ``n`` values as ``n`` ints of at least ``least``; ValueError otherwise."""
    try:
        t = (v,) * n if np.ndim(v) == 0 else tuple(v)
        out = tuple(int(a) for a in t)
        if len(out) != n or any(a != b for a, b in zip(out, t)):
            raise ValueError
    except (TypeError, ValueError):
        kind = "a pair of ints" if n == 2 else "a tuple of one int"
        raise ValueError(f"{what} must be an int or {kind}, got {v!r}") from None
    if min(out) < least:
        raise ValueError(f"{what} must be at least {least}, got {v!r}")
    return out


def _pair(v, what="size", least=1) -> tuple[int, int]:
    return _ints(v, 2, what, least)


def _groups(groups) -> int:
    return _ints(groups, 1, "groups", 1)[0]


def _pad(x, padding, value=0.0):
    ph, pw = padding
    if not ph and not pw:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _out_size(n, k, s, p, d=1):
    """The output length of a convolution (or pooling) along one dim; None when unknown."""
    return None if n is None or k is None else (n + 2 * p - d * (k - 1) - 1) // s + 1


def _t_out_size(n, k, s, p, d, op):
    """The output length of a transposed convolution along one dim; None when unknown."""
    return None if n is None or k is None else (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _offsets(kernel, stride, dilation, out):
    """For each kernel offset (i, j), in row-major order, the slices of the padded input that
    the offset reads in every window: rows i d_h, i d_h + s_h, ..., and likewise columns."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out
    return [
        (
            i,
            j,
            slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw),
        )
        for i in range(kh)
        for j in range(kw)
    ]


def _on_nodes(*values) -> bool:
    return any(is_graph_node(v) for v in values)


# -- the array kernels --------------------------------------------------------------------------


def _im2col(x, kernel, stride, padding, dilation, groups, out, dtype):
    """The (groups, C/groups * kh * kw, N * Ho * Wo) matrices of the windows of padded ``x``,
    rows ordered as a (O, C/groups, kh, kw) kernel's; filled one kernel offset at a time."""
    n, c = x.shape[:2]
    kh, kw = kernel
    xp = _pad(x, padding)
    cols = np.empty_like(x, shape=(c, kh, kw, n) + tuple(out), dtype=dtype)
    for i, j, rows, cols_ in _offsets(kernel, stride, dilation, out):
        cols[:, i, j] = xp[:, :, rows, cols_].transpose(1, 0, 2, 3)
    return cols.reshape(groups, (c // groups) * kh * kw, -1)


def _copy(a):
    """A copy of ``a`` in its memory layout (``order="K"``, which NumPy and CuPy take)."""
    return a.copy(order="K") if hasattr(a, "flags") else a.copy()


def _channel_major(a, groups):
    """(N, C, H, W) as (groups, C/groups, N * H * W); a view when ``a`` is channel-major."""
    c = a.shape[1]
    return a.transpose(1, 0, 2, 3).reshape(groups, c // groups, -1)


def _conv(x, w, stride, padding, dilation, groups):
    """conv2d on arrays."""
    out = tuple(
        _out_size(x.shape[2 + a], w.shape[2 + a], stride[a], padding[a], dilation[a])
        for a in (0, 1)
    )
    cols = _im2col(x, w.shape[2:], stride, padding, dilation, groups, out, np.result_type(x, w))
    o = w.shape[0]
    y = w.reshape(groups, o // groups, -1) @ cols  # (groups, O/groups, N * Ho * Wo)
    # a (N, O, Ho, Wo) view of the channel-major result: elementwise ops downstream keep its
    # layout, and the vjps read the error signal back without a copy
    return y.reshape((o, x.shape[0]) + out).transpose(1, 0, 2, 3)


def _conv_t(x, w, stride, padding, dilation, groups, size):
    """conv_transpose2d on arrays, to spatial size ``size``: each input pixel times the
    kernel (one matmul per group), added back one kernel offset at a time (col2im)."""
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    (ph, pw), cout = padding, cog * groups
    wm = w.reshape(groups, cin // groups, cog * kh * kw)
    gcols = (wm.transpose(0, 2, 1) @ _channel_major(x, groups)).reshape(cout, kh, kw, n, h, wd)
    canvas = np.zeros_like(gcols, shape=(cout, n, size[0] + 2 * ph, size[1] + 2 * pw))
    for i, j, rows, cols in _offsets((kh, kw), stride, dilation, (h, wd)):
        canvas[:, :, rows, cols] += gcols[:, i, j]  # windows overlap, so add
    # rows and columns no window reached keep their zeros; crop the padding
    return canvas[:, :, ph : ph + size[0], pw : pw + size[1]].transpose(1, 0, 2, 3)


def _kernel_message(x, g, kernel, stride, padding, dilation, groups):
    """The message of a convolution of ``x`` to its (O, C/groups, kh, kw) kernel, for the
    error signal ``g``: the signal times the im2col matrices of ``x``."""
    cols = _im2col(x, kernel, stride, padding, dilation, groups, g.shape[2:], np.result_type(x, g))
    gw = _channel_major(g, groups) @ cols.transpose(0, 2, 1)  # (groups, O/groups, C/g kh kw)
    return gw.reshape((g.shape[1], x.shape[1] // groups) + tuple(kernel))


# -- the same messages as graph nodes (differentiable again) ------------------------------------


def _kernel_message_nodes(x, g, kernel, stride, padding, dilation, groups):
    """``_kernel_message`` as a convolution: of the input, batch and channels swapped, with
    the error signal as its kernel, stride and dilation swapped (one group per group)."""
    n, c, h, wd = x.shape
    o, ho, wo = g.shape[1:]
    cg, og = c // groups, o // groups
    xt = mg.ops.reshape(
        mg.ops.transpose(mg.ops.reshape(x, (n, groups, cg, h, wd)), (2, 1, 0, 3, 4)),
        (cg, groups * n, h, wd),
    )
    kt = mg.ops.reshape(
        mg.ops.transpose(mg.ops.reshape(g, (n, groups, og, ho, wo)), (1, 2, 0, 3, 4)),
        (o, n, ho, wo),
    )
    r = apply_op(
        CONV2D, xt, kt, stride=dilation, padding=padding, dilation=stride, groups=groups
    )  # (C/groups, O, kh', kw'), kh' >= kh: the offsets past the kernel are dropped
    if tuple(r.shape[2:]) != tuple(kernel):
        r = r[:, :, : kernel[0], : kernel[1]]
    return mg.ops.transpose(r, (1, 0, 2, 3))


def _crop(a, size):
    """``a`` cut to spatial ``size`` (an array view, or a getitem node)."""
    if tuple(a.shape[2:]) == tuple(size):
        return a
    return a[:, :, : size[0], : size[1]]


# -- conv2d -------------------------------------------------------------------------------------


def _conv_attrs(stride, padding, dilation):
    return _pair(stride, "stride"), _pair(padding, "padding", 0), _pair(dilation, "dilation")


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` without bias: ``x`` (N, C, H, W),
    ``w`` (O, C/groups, kh, kw); output channel o reads the input channels of its group
    (O/groups outputs per group)

    y[n, o, h, w'] = sum_{c, i, j} xpad[n, G(o) C/groups + c, h s + i d, w' s + j d] w[o, c, i, j]

    Derivative: to ``w``, the error signal correlated with the input windows (a convolution of
    x with the signal); to ``x``, the error signal through ``conv_transpose2d`` with ``w``.
    """
    s, p, d = _conv_attrs(stride, padding, dilation)
    return _conv(x, w, s, p, d, _groups(groups))


def _conv2d_vjp_x(g, ans, x, w, stride=1, padding=0, dilation=1, groups=1):
    s, p, d = _conv_attrs(stride, padding, dilation)
    size = tuple(x.shape[2:])  # x may be a freed stand-in (needs "w"): only its shape is read
    if _on_nodes(g, w):
        reached = [
            (size[a] + 2 * p[a] - d[a] * (w.shape[2 + a] - 1) - 1) % s[a] for a in (0, 1)
        ]  # the rows (columns) past the last window: the transposed convolution's output_padding
        return apply_op(
            CONV_TRANSPOSE2D, g, w, stride=s, padding=p, output_padding=tuple(reached),
            groups=groups, dilation=d,
        )  # fmt: skip
    return _conv_t(g, w, s, p, d, _groups(groups), size)


def _conv2d_vjp_w(g, ans, x, w, stride=1, padding=0, dilation=1, groups=1):
    s, p, d = _conv_attrs(stride, padding, dilation)
    if _on_nodes(g, x):
        return _kernel_message_nodes(x, g, w.shape[2:], s, p, d, groups)
    # the im2col matrices built again: keeping the forward's as a residual made the
    # benchmark's CNN step slower (see docs/performance.md)
    return _kernel_message(x, g, w.shape[2:], s, p, d, _groups(groups))


def _conv_shape(xs, ws, s, p, d, groups):
    """The output shape of a convolution over ``len(s)`` spatial dims; ValueError naming what
    does not fit."""
    k = len(s)
    dims = "(N, C, L)" if k == 1 else "(N, C, H, W)"
    kdims = "(O, C/groups, k)" if k == 1 else "(O, C/groups, kh, kw)"
    if len(xs) != k + 2 or len(ws) != k + 2:
        raise ValueError(f"x must be {dims} and w {kdims}; got shapes {xs} and {ws}")
    c, o, cg = xs[1], ws[0], ws[1]
    if c is not None and c % groups:
        raise ValueError(f"x has {c} channels, which groups={groups} does not divide")
    if o is not None and o % groups:
        raise ValueError(f"w has {o} output channels, which groups={groups} does not divide")
    if None not in (c, cg) and c != cg * groups:
        raise ValueError(
            f"x has {c} channels but w expects {cg * groups} ({cg} per group, groups={groups}; "
            f"shapes {xs} and {ws})"
        )
    out = tuple(_out_size(xs[2 + a], ws[2 + a], s[a], p[a], d[a]) for a in range(k))
    if any(n is not None and n < 1 for n in out):
        raise ValueError(
            f"kernel {ws[2:]} with dilation {d[0] if k == 1 else d} does not fit input "
            f"{xs[2:]} with padding {p[0] if k == 1 else p}"
        )
    return (xs[0], o) + out


def _conv2d_shape(xs, ws, stride=1, padding=0, dilation=1, groups=1):
    s, p, d = _conv_attrs(stride, padding, dilation)
    return _conv_shape(xs, ws, s, p, d, _groups(groups))


def _conv2d_samples(rng):
    yield [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))], {}
    yield (
        [rng.standard_normal((1, 3, 6, 5)), rng.standard_normal((2, 3, 3, 2))],
        {"stride": 2, "padding": 1},
    )
    yield (
        [rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((2, 1, 1, 1))],
        {"stride": (1, 2), "padding": (0, 1)},
    )
    yield (
        [rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 2, 2))],
        {"stride": (2, 1), "padding": 1, "dilation": (2, 3), "groups": 2},
    )
    yield (
        [rng.standard_normal((1, 3, 5, 5)), rng.standard_normal((3, 1, 3, 3))],
        {"dilation": 2, "groups": 3, "padding": (1, 2)},
    )


# -- conv_transpose2d ---------------------------------------------------------------------------


def _t_attrs(stride, padding, output_padding, dilation):
    s, p, d = _conv_attrs(stride, padding, dilation)
    return s, p, _pair(output_padding, "output_padding", 0), d


def _t_size(x, w, s, p, op, d):
    return tuple(
        _t_out_size(x.shape[2 + a], w.shape[2 + a], s[a], p[a], d[a], op[a]) for a in (0, 1)
    )


def conv_transpose2d(x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d`` without bias:
    ``x`` (N, C, H, W), ``w`` (C, O/groups, kh, kw); the transpose (adjoint) of ``conv2d``
    with the same kernel, stride, padding, dilation and groups, whose output it has the size
    of: (H - 1) s - 2 p + d (kh - 1) + output_padding + 1 rows (likewise columns)

    y[n, G(c) O/groups + o, h s + i d - p, w' s + j d - p] += x[n, c, h, w'] w[c, o, i, j]

    Derivative: to ``x``, the error signal through ``conv2d`` with ``w``; to ``w``, the input
    correlated with the windows of the signal (a convolution of the signal with x).
    """
    s, p, op, d = _t_attrs(stride, padding, output_padding, dilation)
    return _conv_t(x, w, s, p, d, _groups(groups), _t_size(x, w, s, p, op, d))


def _conv_t_vjp_x(g, ans, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    s, p, _, d = _t_attrs(stride, padding, output_padding, dilation)
    if _on_nodes(g, w):
        y = apply_op(CONV2D, g, w, stride=s, padding=p, dilation=d, groups=groups)
    else:
        y = _conv(g, w, s, p, d, _groups(groups))
    # an output_padding of at least the stride (dilation > stride) adds rows no window of x
    # wrote to: conv2d of the signal reaches past x there
    return _crop(y, x.shape[2:])


def _conv_t_vjp_w(g, ans, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    s, p, _, d = _t_attrs(stride, padding, output_padding, dilation)
    # conv_transpose2d(x, w) is the message of conv2d(y, w) to y: its message to w is that
    # convolution's message to its kernel, the signal in the place of the input
    if _on_nodes(g, x):
        return _kernel_message_nodes(g, x, w.shape[2:], s, p, d, groups)
    return _kernel_message(g, x, w.shape[2:], s, p, d, _groups(groups))


def _conv_t_shape(xs, ws, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    s, p, op, d = _t_attrs(stride, padding, output_padding, dilation)
    groups = _groups(groups)
    if len(xs) != 4 or len(ws) != 4:
        raise ValueError(
            f"x must be (N, C, H, W) and w (C, O/groups, kh, kw); got shapes {xs} and {ws}"
        )
    if any(op[a] >= max(s[a], d[a]) for a in (0, 1)):
        raise ValueError(
            f"output_padding {output_padding} must be smaller than the stride {stride} or "
            f"the dilation {dilation}"
        )
    c = xs[1]
    if c is not None and c % groups:
        raise ValueError(f"x has {c} channels, which groups={groups} does not divide")
    if None not in (c, ws[0]) and c != ws[0]:
        raise ValueError(f"x has {c} channels but w expects {ws[0]} (shapes {xs} and {ws})")
    out = tuple(_t_out_size(xs[2 + a], ws[2 + a], s[a], p[a], d[a], op[a]) for a in (0, 1))
    if any(n is not None and n < 1 for n in out):
        raise ValueError(
            f"padding {padding} leaves no output of input {xs[2:]} with kernel {ws[2:]}"
        )
    return (xs[0], None if ws[1] is None else ws[1] * groups) + out


def _conv_t_samples(rng):
    yield [rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 3, 2, 2))], {}
    yield (
        [rng.standard_normal((1, 3, 3, 4)), rng.standard_normal((3, 2, 3, 2))],
        {"stride": 2, "padding": 1, "output_padding": (1, 0)},
    )
    yield (
        [rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((4, 1, 2, 3))],
        {
            "stride": (1, 2),
            "padding": (1, 0),
            "groups": 2,
            "dilation": (3, 1),
            "output_padding": (2, 1),
        },
    )


# -- conv1d -------------------------------------------------------------------------------------


def _lift(a):
    """(N, C, L) as (N, C, 1, L): a view, or an expand_dims node."""
    return mg.ops.expand_dims(a, 2) if is_graph_node(a) else a[:, :, None]


def _drop(a):
    return mg.ops.squeeze(a, 2) if is_graph_node(a) else a[:, :, 0]


def _lifted(stride, padding, dilation):
    """conv1d's attributes as conv2d's, over a height of one."""
    s, p, d = (_ints(v, 1, what, least)[0] for v, what, least in (
        (stride, "stride", 1), (padding, "padding", 0), (dilation, "dilation", 1)))  # fmt: skip
    return {"stride": (1, s), "padding": (0, p), "dilation": (1, d)}


def conv1d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, as ``torch.nn.functional.conv1d`` without bias: ``x`` (N, C, L),
    ``w`` (O, C/groups, k); conv2d over a height of one

    y[n, o, l] = sum_{c, i} xpad[n, G(o) C/groups + c, l s + i d] w[o, c, i]

    Derivative: as conv2d's: to ``w``, the signal correlated with the input windows; to ``x``,
    the signal through the transposed convolution with ``w``.
    """
    return conv2d(
        x[:, :, None], w[:, :, None], **_lifted(stride, padding, dilation), groups=groups
    )[:, :, 0]


def _conv1d_vjp_x(g, ans, x, w, stride=1, padding=0, dilation=1, groups=1):
    attrs = _lifted(stride, padding, dilation)
    return _drop(_conv2d_vjp_x(_lift(g), None, _lift(x), _lift(w), **attrs, groups=groups))


def _conv1d_vjp_w(g, ans, x, w, stride=1, padding=0, dilation=1, groups=1):
    attrs = _lifted(stride, padding, dilation)
    return _drop(_conv2d_vjp_w(_lift(g), None, _lift(x), _lift(w), **attrs, groups=groups))


def _conv1d_shape(xs, ws, stride=1, padding=0, dilation=1, groups=1):
    attrs = _lifted(stride, padding, dilation)
    s, p, d = (attrs[k][1:] for k in ("stride", "padding", "dilation"))
    return _conv_shape(xs, ws, s, p, d, _groups(groups))


def _conv1d_samples(rng):
    yield [rng.standard_normal((2, 2, 6)), rng.standard_normal((3, 2, 3))], {}
    yield (
        [rng.standard_normal((1, 3, 9)), rng.standard_normal((2, 3, 2))],
        {"stride": 2, "padding": 2},
    )
    yield (
        [rng.standard_normal((2, 4, 8)), rng.standard_normal((6, 2, 3))],
        {"stride": 2, "padding": 1, "dilation": 2, "groups": 2},
    )


# -- pooling ------------------------------------------------------------------------------------


def _pool_geometry(x, kernel_size, stride, padding):
    k = _pair(kernel_size, "kernel_size")
    s = _pair(k if stride is None else stride, "stride")
    p = _pair(padding, "padding", 0)
    out = (
        None
        if x is None
        else (_out_size(x.shape[2], k[0], s[0], p[0]), _out_size(x.shape[3], k[1], s[1], p[1]))
    )
    return k, s, p, out


def _spread_nodes(parts, x, k, s, p):
    """Built as nodes: the (N, C, kh * kw, Ho, Wo) signals of every window's kernel offsets,
    added back to x's shape: a transposed convolution of each channel with one-hot kernels."""
    n, c, h, w = x.shape
    kk, (ho, wo) = k[0] * k[1], parts.shape[3:]
    reached = [(x.shape[2 + a] + 2 * p[a] - k[a]) % s[a] for a in (0, 1)]
    dtype = np.float64 if parts.dtype is None else parts.dtype
    eye = np.eye(kk, dtype=dtype).reshape(kk, 1, k[0], k[1])
    y = apply_op(
        CONV_TRANSPOSE2D, mg.ops.reshape(parts, (n * c, kk, ho, wo)), eye, stride=s,
        padding=p, output_padding=tuple(reached),
    )  # fmt: skip
    return mg.ops.reshape(y, (n, c, h, w))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each window, as ``torch.nn.functional.max_pool2d``; padding is -inf.

    Derivative: the error signal of each window goes to the window's (first) maximum.
    """
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp = _pad(x, p, -np.inf)
    offsets = _offsets(k, s, (1, 1), out)
    _, _, rows, cols = offsets[0]
    y = _copy(xp[:, :, rows, cols])  # in the input's layout
    for _, _, rows, cols in offsets[1:]:
        np.maximum(y, xp[:, :, rows, cols], out=y)
    return y


def _max_pool2d_fwd(x, kernel_size, stride=None, padding=0):
    """max_pool2d and, as the residual its message reads, the kernel offset (row-major) of
    each window's first maximum."""
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp = _pad(x, p, -np.inf)
    offsets = _offsets(k, s, (1, 1), out)
    _, _, rows, cols = offsets[0]
    y = _copy(xp[:, :, rows, cols])  # in the input's layout
    first = np.zeros_like(y, dtype=np.uint8 if k[0] * k[1] <= 256 else np.intp)
    later, step = np.empty_like(y, dtype=bool), np.empty_like(first)
    for n, (_, _, rows, cols) in enumerate(offsets[1:], 1):
        v = xp[:, :, rows, cols]
        np.greater(v, y, out=later)  # strictly: a tie keeps the first maximum
        # where offset n beats every earlier one it is the first maximum so far, and the
        # largest such n is the window's. Arithmetic rather than copyto(where=), which
        # branches on the data and was several times slower
        np.multiply(later, first.dtype.type(n), out=step)
        np.maximum(first, step, out=first)
        np.maximum(y, v, out=y)
    nan = np.isnan(y)
    if nan.any():  # NaN is the maximum of a window that holds one: its first NaN
        for n, (_, _, rows, cols) in reversed(list(enumerate(offsets))):
            np.copyto(first, n, where=nan & np.isnan(xp[:, :, rows, cols]))
    return y, first


def _max_pool2d_vjp(g, ans, x, kernel_size, stride=None, padding=0, res=None):
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    if _on_nodes(g, ans, x):
        # the windows' offsets stacked, the first maximum of each (argmax: NaN counts as the
        # maximum, ties go to the first) as a 0/1 mask that carries no gradient
        xp = mg.ops.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=-np.inf)
        windows = mg.ops.stack([xp[:, :, r, c] for _, _, r, c in _offsets(k, s, (1, 1), out)], 2)
        first = mg.ops.argmax(windows, axis=2, keepdims=True)
        hit = mg.ops.equal(first, np.arange(k[0] * k[1]).reshape(-1, 1, 1))
        return _spread_nodes(mg.ops.where(hit, mg.ops.expand_dims(g, 2), 0.0), x, k, s, p)
    first = _first_maximum(ans, x, k, s, p, out) if res is None else res
    n, c, h, w = x.shape  # with res, x may be a freed stand-in: only its shape is read
    # in the memory layout of the output, which is the input's (zeros_like keeps it): ufuncs
    # over mixed layouts are several times slower
    gxp = np.zeros_like(first, dtype=g.dtype, shape=(n, c, h + 2 * p[0], w + 2 * p[1]))
    disjoint = s[0] >= k[0] and s[1] >= k[1]  # each element in one window at most
    for m, (_, _, rows, cols) in enumerate(_offsets(k, s, (1, 1), out)):
        hit = first == m
        if disjoint and type(gxp) is np.ndarray:  # into a view (Dask has no views)
            np.multiply(hit, g, out=gxp[:, :, rows, cols])
        elif disjoint:
            gxp[:, :, rows, cols] = hit * g
        else:
            gxp[:, :, rows, cols] += hit * g
    return gxp[:, :, p[0] : p[0] + h, p[1] : p[1] + w]


def _first_maximum(ans, x, k, s, p, out):
    """The residual of ``_max_pool2d_fwd`` found again from the output and the input."""
    xp = _pad(x, p, -np.inf)
    nan = np.isnan(ans)
    first = np.zeros_like(ans, dtype=np.intp)
    left = np.ones_like(ans, dtype=bool)  # windows whose maximum is not yet found
    for m, (_, _, rows, cols) in enumerate(_offsets(k, s, (1, 1), out)):
        v = xp[:, :, rows, cols]
        hit = (v == ans) | (nan & np.isnan(v))
        hit &= left
        left ^= hit
        first[hit] = m
    return first


def _max_pool2d_jvp(t, ans, x, kernel_size, stride=None, padding=0, res=None):
    # the tangent of each window's first maximum, the element its message goes back to
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    first = _first_maximum(ans, x, k, s, p, out) if res is None else res
    tp = _pad(t, p)
    y = np.zeros_like(ans, dtype=np.result_type(t))
    for m, (_, _, rows, cols) in enumerate(_offsets(k, s, (1, 1), out)):
        if type(y) is np.ndarray:
            np.copyto(y, tp[:, :, rows, cols], where=first == m)
        else:  # a library without copyto (Dask)
            y = np.where(first == m, tp[:, :, rows, cols], y)
    return y


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window, as ``torch.nn.functional.avg_pool2d`` (padding counted).

    Derivative: each window's error signal, divided by the window size, to every element of it.
    """
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp = _pad(x, p)
    offsets = _offsets(k, s, (1, 1), out)
    _, _, rows, cols = offsets[0]
    y = _copy(xp[:, :, rows, cols])  # in the input's layout
    for _, _, rows, cols in offsets[1:]:
        y += xp[:, :, rows, cols]
    y /= k[0] * k[1]
    return y


def _avg_pool2d_vjp(g, ans, x, kernel_size, stride=None, padding=0):
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    share = g / (k[0] * k[1])
    if _on_nodes(g):  # every offset of a window gets its share
        return _spread_nodes(mg.ops.stack([share] * (k[0] * k[1]), 2), x, k, s, p)
    n, c, h, w = x.shape  # x may be a freed stand-in (needs ""): only its shape is read
    gxp = np.zeros_like(share, shape=(n, c, h + 2 * p[0], w + 2 * p[1]))
    for _, _, rows, cols in _offsets(k, s, (1, 1), out):
        gxp[:, :, rows, cols] += share
    return gxp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]]


def _pool_shape(xs, kernel_size, stride=None, padding=0):
    if len(xs) != 4:
        raise ValueError(f"x must be (N, C, H, W); got shape {xs}")
    k, s, p, _ = _pool_geometry(None, kernel_size, stride, padding)
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ValueError(f"padding {padding} is more than half the kernel {k}")
    ho, wo = _out_size(xs[2], k[0], s[0], p[0]), _out_size(xs[3], k[1], s[1], p[1])
    if (ho is not None and ho < 1) or (wo is not None and wo < 1):
        raise ValueError(f"kernel {k} does not fit input {xs[2:]} with padding {padding}")
    return (xs[0], xs[1], ho, wo)


def _pool_samples(rng):
    yield [rng.standard_normal((2, 3, 4, 4))], {"kernel_size": 2}
    yield [rng.standard_normal((1, 2, 5, 6))], {"kernel_size": 3, "stride": 2, "padding": 1}
    yield [rng.standard_normal((2, 1, 5, 5))], {"kernel_size": (2, 3), "stride": 1}


def _resolved_padding(op, padding, w, stride, dilation, n):
    """PyTorch's ``padding="valid"`` (none) and ``"same"`` (the output as large as the input,
    stride 1) as the ints the op takes; ints and tuples pass through."""
    if not isinstance(padding, str):
        return padding
    if padding == "valid":
        return 0
    if padding != "same":
        raise mg.ShapeError(
            f"mpgraph: op '{op}': padding must be an int, a tuple of ints, 'valid' or 'same'; "
            f"got {padding!r}"
        )
    if any(s != 1 for s in _ints(stride, n, "stride", 1)):
        raise mg.ShapeError(f"mpgraph: op '{op}': padding='same' needs stride 1 (as in PyTorch)")
    kernel = tuple(np.shape(w)[2:])
    total = [d * (k - 1) for d, k in zip(_ints(dilation, n, "dilation", 1), kernel)]
    if any(t % 2 for t in total):
        raise mg.ShapeError(
            f"mpgraph: op '{op}': padding='same' with kernel {kernel} pads {total} rows or "
            "columns in all, an odd number, which the conv plugin cannot split evenly between "
            "the two sides (PyTorch puts the extra one at the end): pad the input with "
            "mg.ops.pad and use padding=0"
        )
    return tuple(t // 2 for t in total) if n == 2 else total[0] // 2


def _conv2d_public(apply, x, w, stride=1, padding=0, dilation=1, groups=1, name=None):
    padding = _resolved_padding("conv2d", padding, w, stride, dilation, 2)
    return apply(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups, name=name)


def _conv1d_public(apply, x, w, stride=1, padding=0, dilation=1, groups=1, name=None):
    padding = _resolved_padding("conv1d", padding, w, stride, dilation, 1)
    return apply(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups, name=name)


# needs: what each vjp reads beyond shapes and residuals, so that g.grad frees the rest early
# (residuals always come with a graph run's values; a vjp called without them reads all). The
# convolutions are linear in each argument and avg_pool2d in its one: the tangent goes through
# the op itself (forward mode).
CONV2D = mg.Op(
    "conv2d",
    conv2d,
    (_conv2d_vjp_x, _conv2d_vjp_w),
    _conv2d_shape,
    samples=_conv2d_samples,
    needs=("w", "x"),
    differentiable_vjp=True,
    public=_conv2d_public,
    jvp=(
        lambda t, ans, x, w, stride=1, padding=0, dilation=1, groups=1: conv2d(
            t, w, stride, padding, dilation, groups
        ),
        lambda t, ans, x, w, stride=1, padding=0, dilation=1, groups=1: conv2d(
            x, t, stride, padding, dilation, groups
        ),
    ),
)
CONV_TRANSPOSE2D = mg.Op(
    "conv_transpose2d",
    conv_transpose2d,
    (_conv_t_vjp_x, _conv_t_vjp_w),
    _conv_t_shape,
    samples=_conv_t_samples,
    needs=("w", "x"),
    differentiable_vjp=True,
    jvp=(
        lambda t, ans, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1: (
            conv_transpose2d(t, w, stride, padding, output_padding, groups, dilation)
        ),
        lambda t, ans, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1: (
            conv_transpose2d(x, t, stride, padding, output_padding, groups, dilation)
        ),
    ),
)
OPS = [
    CONV2D,
    CONV_TRANSPOSE2D,
    mg.Op(
        "conv1d",
        conv1d,
        (_conv1d_vjp_x, _conv1d_vjp_w),
        _conv1d_shape,
        samples=_conv1d_samples,
        needs=("w", "x"),
        differentiable_vjp=True,
        public=_conv1d_public,
        jvp=(
            lambda t, ans, x, w, stride=1, padding=0, dilation=1, groups=1: conv1d(
                t, w, stride, padding, dilation, groups
            ),
            lambda t, ans, x, w, stride=1, padding=0, dilation=1, groups=1: conv1d(
                x, t, stride, padding, dilation, groups
            ),
        ),
    ),
    mg.Op(
        "max_pool2d",
        max_pool2d,
        (_max_pool2d_vjp,),
        _pool_shape,
        samples=_pool_samples,
        needs=("",),
        differentiable_vjp=True,
        fwd=_max_pool2d_fwd,
        jvp=(_max_pool2d_jvp,),
    ),
    mg.Op(
        "avg_pool2d",
        avg_pool2d,
        (_avg_pool2d_vjp,),
        _pool_shape,
        samples=_pool_samples,
        needs=("",),
        differentiable_vjp=True,
        jvp=(
            lambda t, ans, x, kernel_size, stride=None, padding=0: avg_pool2d(
                t, kernel_size, stride, padding
            ),
        ),
    ),
]


@mg.hookimpl
def mpgraph_ops():
    return OPS
