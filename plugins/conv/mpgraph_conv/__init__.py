"""2-D convolution and pooling for mpgraph, in PyTorch's layouts (N, C, H, W).

Every op is a forward function and one vjp per array argument, vectorised with NumPy: the
windows of the input are a strided view (``sliding_window_view``), a convolution is one
``tensordot`` over them, and messages are scattered back with ``bincount`` or computed as a
convolution of the error signal.

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
from numpy.lib.stride_tricks import sliding_window_view

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
    ph, pw = _pair(padding, "padding", 0)
    if not ph and not pw:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp, kernel, stride):
    """The (N, C, Ho, Wo, kh, kw) view of the windows of padded ``xp``: no copy."""
    (kh, kw), (sh, sw) = kernel, _pair(stride, "stride")
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _out_size(n, k, s, p):
    return None if n is None else (n + 2 * p - k) // s + 1


# -- conv2d -------------------------------------------------------------------------------------

def conv2d(x, w, stride=1, padding=0):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` without bias.

    y[n, o, h, w'] = sum_{c, i, j} xpad[n, c, h*s + i, w'*s + j] * w[o, c, i, j]

    Messages: to ``w``, the error signal correlated with the input windows; to ``x``, the
    error signal (dilated by the stride) convolved with the flipped kernel.
    """
    win = _windows(_pad(x, padding), w.shape[2:], stride)
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def _conv2d_vjp_w(g, ans, x, w, stride=1, padding=0):
    win = _windows(_pad(x, padding), w.shape[2:], stride)
    return np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))


def _conv2d_vjp_x(g, ans, x, w, stride=1, padding=0):
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding", 0)
    n, o, ho, wo = g.shape
    kh, kw = w.shape[2:]
    dilated = np.zeros((n, o, (ho - 1) * sh + 1, (wo - 1) * sw + 1), dtype=g.dtype)
    dilated[:, :, ::sh, ::sw] = g
    # full correlation with the flipped kernel, its in/out channels swapped
    full = conv2d(dilated, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), padding=(kh - 1, kw - 1))
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    gxp = np.zeros((n, x.shape[1], hp, wp), dtype=full.dtype)
    gxp[:, :, :full.shape[2], :full.shape[3]] = full  # rows no window reached get nothing
    return gxp[:, :, ph:hp - ph, pw:wp - pw]


def _conv2d_shape(xs, ws, stride=1, padding=0):
    if len(xs) != 4 or len(ws) != 4:
        raise ValueError(f"x must be (N, C, H, W) and w (out, in, kh, kw); got shapes {xs} and {ws}")
    if None not in (xs[1], ws[1]) and xs[1] != ws[1]:
        raise ValueError(f"x has {xs[1]} channels but w expects {ws[1]} (shapes {xs} and {ws})")
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding", 0)
    ho, wo = _out_size(xs[2], ws[2], sh, ph), _out_size(xs[3], ws[3], sw, pw)
    if (ho is not None and ho < 1) or (wo is not None and wo < 1):
        raise ValueError(f"kernel {ws[2:]} does not fit input {xs[2:]} with padding {padding}")
    return (xs[0], ws[0], ho, wo)


def _conv2d_samples(rng):
    yield [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))], {}
    yield [rng.standard_normal((1, 3, 6, 5)), rng.standard_normal((2, 3, 3, 2))], \
        {"stride": 2, "padding": 1}
    yield [rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((2, 1, 1, 1))], \
        {"stride": (1, 2), "padding": (0, 1)}


# -- pooling ------------------------------------------------------------------------------------

def _pool_geometry(x, kernel_size, stride, padding):
    k = _pair(kernel_size, "kernel_size")
    s = _pair(k if stride is None else stride, "stride")
    return k, s, _pair(padding, "padding", 0)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each window, as ``torch.nn.functional.max_pool2d``; padding is -inf.

    Message: the error signal of each window goes to the window's (first) maximum.
    """
    k, s, p = _pool_geometry(x, kernel_size, stride, padding)
    return _windows(_pad(x, p, -np.inf), k, s).max(axis=(4, 5))


def _max_pool2d_vjp(g, ans, x, kernel_size, stride=None, padding=0):
    k, s, p = _pool_geometry(x, kernel_size, stride, padding)
    win = _windows(_pad(x, p, -np.inf), k, s)
    n, c, ho, wo = g.shape
    first = win.reshape(n, c, ho, wo, -1).argmax(axis=-1)  # the reshape copies the windows once
    rows = np.arange(ho)[:, None] * s[0] + first // k[1]
    cols = np.arange(wo)[None, :] * s[1] + first % k[1]
    return _scatter(g, rows, cols, x.shape, p)


def _max_pool2d_jvp(t, ans, x, kernel_size, stride=None, padding=0):
    # the tangent of each window's (first) maximum, the element the message goes back to
    k, s, p = _pool_geometry(x, kernel_size, stride, padding)
    win = _windows(_pad(x, p, -np.inf), k, s)
    n, c, ho, wo = win.shape[:4]
    first = win.reshape(n, c, ho, wo, -1).argmax(axis=-1)
    tangents = _windows(_pad(t, p), k, s).reshape(n, c, ho, wo, -1)
    return np.take_along_axis(tangents, first[..., None], axis=-1)[..., 0]


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window, as ``torch.nn.functional.avg_pool2d`` (padding counted).

    Message: each window's error signal, divided by the window size, to every element of it.
    """
    k, s, p = _pool_geometry(x, kernel_size, stride, padding)
    return _windows(_pad(x, p), k, s).mean(axis=(4, 5))


def _avg_pool2d_vjp(g, ans, x, kernel_size, stride=None, padding=0):
    k, s, p = _pool_geometry(x, kernel_size, stride, padding)
    n, c, ho, wo = g.shape
    di, dj = np.divmod(np.arange(k[0] * k[1]), k[1])
    rows = np.arange(ho)[:, None, None] * s[0] + di   # (ho, 1, kh*kw)
    cols = np.arange(wo)[None, :, None] * s[1] + dj   # (1, wo, kh*kw)
    share = np.broadcast_to((g / (k[0] * k[1]))[..., None], (n, c, ho, wo, k[0] * k[1]))
    return _scatter(share, rows, cols, x.shape, p)


def _scatter(values, rows, cols, shape, padding):
    """Sum ``values`` into a zero array of the padded input's shape at (rows, cols) of each
    (n, c) plane (broadcast against ``values``), then crop the padding."""
    n, c, h, w = shape
    hp, wp = h + 2 * padding[0], w + 2 * padding[1]
    plane = (np.arange(n)[:, None] * c + np.arange(c)[None, :]) * (hp * wp)
    extra = values.ndim - 2
    flat = plane.reshape(n, c, *([1] * extra)) + rows * wp + cols
    out = np.bincount(np.broadcast_to(flat, values.shape).ravel(), weights=values.ravel(),
                      minlength=n * c * hp * wp).reshape(n, c, hp, wp)
    return out[:, :, padding[0]:hp - padding[0], padding[1]:wp - padding[1]].astype(
        values.dtype, copy=False)


def _pool_shape(xs, kernel_size, stride=None, padding=0):
    if len(xs) != 4:
        raise ValueError(f"x must be (N, C, H, W); got shape {xs}")
    k, s, p = _pool_geometry(None, kernel_size, stride, padding)
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
    mg.Op("conv2d", conv2d, (_conv2d_vjp_x, _conv2d_vjp_w), _conv2d_shape,
          samples=_conv2d_samples, needs=("w", "x"),
          jvp=(lambda t, ans, x, w, stride=1, padding=0: conv2d(t, w, stride, padding),
               lambda t, ans, x, w, stride=1, padding=0: conv2d(x, t, stride, padding))),
    mg.Op("max_pool2d", max_pool2d, (_max_pool2d_vjp,), _pool_shape, samples=_pool_samples,
          needs=("x",), jvp=(_max_pool2d_jvp,)),
    mg.Op("avg_pool2d", avg_pool2d, (_avg_pool2d_vjp,), _pool_shape, samples=_pool_samples,
          needs=("",), jvp=(lambda t, ans, x, kernel_size, stride=None, padding=0:
                            avg_pool2d(t, kernel_size, stride, padding),)),
]


@mg.hookimpl
def mpgraph_ops():
    return OPS
