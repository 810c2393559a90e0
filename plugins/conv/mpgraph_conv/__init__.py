"""2-D convolution and pooling for mpgraph, in PyTorch's layouts (N, C, H, W).

Every op is a forward function and one vjp per array argument, vectorised with NumPy, in the
dtype of its input. A convolution is im2col and one BLAS matmul: the windows of the padded
input are copied, one kernel offset at a time, into a (C * kh * kw, N * Ho * Wo) matrix that
the (O, C * kh * kw) kernel multiplies. Its messages are matmuls too: to the kernel, the error
signal times the im2col matrix; to the input, the kernel times the error signal, added back
(col2im) one kernel offset at a time as strided slices. Pooling likewise loops over the kh * kw
kernel offsets, never over pixels.

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
"""

from __future__ import annotations

import numpy as np

import mpgraph as mg

__version__ = "0.1.0"


def _pair(v, what="size", least=1) -> tuple[int, int]:
    """``v`` or ``(v_h, v_w)`` as two ints of at least ``least``; ValueError otherwise."""
    try:
        a, b = (v, v) if np.ndim(v) == 0 else tuple(v)
        pair = int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}") from None
    if min(pair) < least:
        raise ValueError(f"{what} must be at least {least}, got {v!r}")
    return pair


def _pad(x, padding, value=0.0):
    ph, pw = padding
    if not ph and not pw:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _out_size(n, k, s, p):
    return None if n is None else (n + 2 * p - k) // s + 1


def _offsets(kernel, stride, out):
    """For each kernel offset (i, j), in row-major order, the slices of the padded input that
    the offset reads in every window: rows i, i + s_h, ..., and likewise columns."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    return [
        (i, j, slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
        for i in range(kh)
        for j in range(kw)
    ]


# -- conv2d -------------------------------------------------------------------------------------


def _geometry(x, w, stride, padding):
    s, p = _pair(stride, "stride"), _pair(padding, "padding", 0)
    kh, kw = w.shape[2:]
    ho, wo = _out_size(x.shape[2], kh, s[0], p[0]), _out_size(x.shape[3], kw, s[1], p[1])
    return s, p, (ho, wo)


def _im2col(x, w, stride, padding):
    """The (C * kh * kw, N * Ho * Wo) matrix of the windows of padded ``x``, rows ordered as
    ``w.reshape(O, -1)``'s columns; filled one kernel offset at a time."""
    s, p, out = _geometry(x, w, stride, padding)
    n, c = x.shape[:2]
    kh, kw = w.shape[2:]
    xp = _pad(x, p)
    cols = np.empty((c, kh, kw, n) + out, dtype=np.result_type(x, w))
    for i, j, rows, cols_ in _offsets((kh, kw), s, out):
        cols[:, i, j] = xp[:, :, rows, cols_].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, -1), out


def conv2d(x, w, stride=1, padding=0):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` without bias.

    y[n, o, h, w'] = sum_{c, i, j} xpad[n, c, h*s + i, w'*s + j] * w[o, c, i, j]

    Derivative: to ``w``, the error signal correlated with the input windows; to ``x``, the
    kernel's transpose times the error signal, summed back over the windows.
    """
    cols, (ho, wo) = _im2col(x, w, stride, padding)
    y = w.reshape(w.shape[0], -1) @ cols  # (O, N * Ho * Wo): one matmul
    # a (N, O, Ho, Wo) view of the channel-major result: elementwise ops downstream keep its
    # layout, and the vjps read the error signal back without a copy
    return y.reshape(w.shape[0], x.shape[0], ho, wo).transpose(1, 0, 2, 3)


def _signal_matrix(g):
    """The error signal (N, O, Ho, Wo) as (O, N * Ho * Wo); a view when it is channel-major."""
    return g.transpose(1, 0, 2, 3).reshape(g.shape[1], -1)


def _conv2d_vjp_w(g, ans, x, w, stride=1, padding=0):
    cols, _ = _im2col(x, w, stride, padding)
    return (_signal_matrix(g) @ cols.T).reshape(w.shape)


def _conv2d_vjp_x(g, ans, x, w, stride=1, padding=0):
    s, (ph, pw), out = _geometry(x, w, stride, padding)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    gcols = (w.reshape(o, -1).T @ _signal_matrix(g)).reshape((c, kh, kw, n) + out)
    gxp = np.zeros((c, n, h + 2 * ph, wd + 2 * pw), dtype=gcols.dtype)
    for i, j, rows, cols in _offsets((kh, kw), s, out):  # col2im: windows overlap, so add
        gxp[:, :, rows, cols] += gcols[:, i, j]
    # rows and columns no window reached keep their zeros; crop the padding
    return gxp[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3)


def _conv2d_shape(xs, ws, stride=1, padding=0):
    if len(xs) != 4 or len(ws) != 4:
        raise ValueError(
            f"x must be (N, C, H, W) and w (out, in, kh, kw); got shapes {xs} and {ws}"
        )
    if None not in (xs[1], ws[1]) and xs[1] != ws[1]:
        raise ValueError(f"x has {xs[1]} channels but w expects {ws[1]} (shapes {xs} and {ws})")
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding", 0)
    ho, wo = _out_size(xs[2], ws[2], sh, ph), _out_size(xs[3], ws[3], sw, pw)
    if (ho is not None and ho < 1) or (wo is not None and wo < 1):
        raise ValueError(f"kernel {ws[2:]} does not fit input {xs[2:]} with padding {padding}")
    return (xs[0], ws[0], ho, wo)


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


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each window, as ``torch.nn.functional.max_pool2d``; padding is -inf.

    Derivative: the error signal of each window goes to the window's (first) maximum.
    """
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp = _pad(x, p, -np.inf)
    offsets = _offsets(k, s, out)
    _, _, rows, cols = offsets[0]
    y = xp[:, :, rows, cols].copy(order="K")  # in the input's layout
    for _, _, rows, cols in offsets[1:]:
        np.maximum(y, xp[:, :, rows, cols], out=y)
    return y


def _max_pool2d_vjp(g, ans, x, kernel_size, stride=None, padding=0):
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp = _pad(x, p, -np.inf)
    nan = np.isnan(ans)
    nan = nan if nan.any() else None  # NaN is the maximum of a window that holds one
    # every array in the input's memory layout (zeros_like keeps it): ufuncs over mixed
    # layouts are several times slower
    gxp = np.zeros_like(xp, dtype=g.dtype)
    left = np.ones_like(ans, dtype=bool)  # windows whose signal is not yet sent
    zero = g.dtype.type(0)
    for _, _, rows, cols in _offsets(k, s, out):
        v = xp[:, :, rows, cols]
        hit = v == ans
        if nan is not None:
            hit |= nan & np.isnan(v)
        hit &= left
        left ^= hit
        gxp[:, :, rows, cols] += np.where(hit, g, zero)
    return gxp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]]


def _max_pool2d_jvp(t, ans, x, kernel_size, stride=None, padding=0):
    # the tangent of each window's first maximum, the element its message goes back to
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp, tp = _pad(x, p, -np.inf), _pad(t, p)
    nan = np.isnan(ans)
    nan = nan if nan.any() else None
    y = np.zeros(ans.shape, dtype=np.result_type(t))
    left = np.ones_like(ans, dtype=bool)  # windows whose maximum is not yet found
    for _, _, rows, cols in _offsets(k, s, out):
        v = xp[:, :, rows, cols]
        hit = v == ans
        if nan is not None:
            hit |= nan & np.isnan(v)
        hit &= left
        left ^= hit
        np.copyto(y, tp[:, :, rows, cols], where=hit)
    return y


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window, as ``torch.nn.functional.avg_pool2d`` (padding counted).

    Derivative: each window's error signal, divided by the window size, to every element of it.
    """
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    xp = _pad(x, p)
    offsets = _offsets(k, s, out)
    _, _, rows, cols = offsets[0]
    y = xp[:, :, rows, cols].copy(order="K")  # in the input's layout
    for _, _, rows, cols in offsets[1:]:
        y += xp[:, :, rows, cols]
    y /= k[0] * k[1]
    return y


def _avg_pool2d_vjp(g, ans, x, kernel_size, stride=None, padding=0):
    k, s, p, out = _pool_geometry(x, kernel_size, stride, padding)
    share = g / (k[0] * k[1])
    n, c, h, w = x.shape  # x may be a freed stand-in (needs ""): only its shape is read
    gxp = np.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), dtype=share.dtype)
    for _, _, rows, cols in _offsets(k, s, out):
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


# needs: what each vjp reads beyond shapes, so that g.grad frees the rest early
OPS = [
    # conv2d is linear in each argument and avg_pool2d in its one: the tangent goes through
    # the op itself (forward mode)
    mg.Op(
        "conv2d",
        conv2d,
        (_conv2d_vjp_x, _conv2d_vjp_w),
        _conv2d_shape,
        samples=_conv2d_samples,
        needs=("w", "x"),
        jvp=(
            lambda t, ans, x, w, stride=1, padding=0: conv2d(t, w, stride, padding),
            lambda t, ans, x, w, stride=1, padding=0: conv2d(x, t, stride, padding),
        ),
    ),
    mg.Op(
        "max_pool2d",
        max_pool2d,
        (_max_pool2d_vjp,),
        _pool_shape,
        samples=_pool_samples,
        needs=("ans x",),
        jvp=(_max_pool2d_jvp,),
    ),
    mg.Op(
        "avg_pool2d",
        avg_pool2d,
        (_avg_pool2d_vjp,),
        _pool_shape,
        samples=_pool_samples,
        needs=("",),
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
