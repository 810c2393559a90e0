"""Reductions with NumPy's ``axis`` (int, tuple or None) and ``keepdims``.

A reduction's message is its error signal with the reduced axes put back (``_expand``), times
the local derivative, which broadcasts it to the input's shape. ``max`` and ``min`` share the
signal evenly between tied maxima, as PyTorch's ``amax`` does.
"""
import numpy as np

from mpgraph.extend import Op, is_graph_node, normalize_axis, reduce_shape
from mpgraph.extend import hookimpl

from mpgraph.extend import cases, chain, float_dtype, positive


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _expand(g, x, axis, keepdims):
    """``g`` with the reduced axes of ``x`` back as size-1 axes, so that it broadcasts to x."""
    if keepdims or axis is None:  # a full reduction without keepdims gives a scalar: it broadcasts
        return g
    return np.expand_dims(g, normalize_axis(_axis(axis), x.ndim))


def _restore(g, x, axis, keepdims):
    g = _expand(g, x, axis, keepdims)
    if isinstance(g, np.generic):  # a NumPy scalar; not a graph node (a vjp built as nodes)
        g = np.asarray(g)
    if type(g) is np.ndarray and g.ndim == 0 and g.dtype.kind in "fc":
        # a full reduction's signal, spread over x's shape: a read-only view with zero strides
        # made directly, ten times cheaper than np.broadcast_to's argument handling
        out = np.ndarray(x.shape, g.dtype, g, 0, (0,) * len(x.shape))
        out.flags.writeable = False
        return out
    return np.broadcast_to(g, x.shape)


def _count(x, axis):
    """How many elements of ``x`` each output element reduces."""
    n = 1
    for a in normalize_axis(_axis(axis), x.ndim):
        n *= x.shape[a]
    return n


def sum(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """sum of x over axis

    Derivative: 1 for every summed element: the message is g broadcast back to x's shape.
    """
    if type(x) is np.ndarray:  # the method skips np.sum's dispatch
        return x.sum(axis=_axis(axis), keepdims=keepdims)
    return np.sum(x, axis=_axis(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """mean of x over axis (n elements per output)

    Derivative: 1/n: the message is g / n broadcast back to x's shape.

    Integer inputs give a float64 mean, as in NumPy.
    """
    return np.mean(x, axis=_axis(axis), keepdims=keepdims)


def _mean_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore(g / _count(x, axis), x, axis, keepdims)  # divide before broadcasting


def max(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """max of x over axis

    Derivative: 1 at the maximum, 0 elsewhere; k tied maxima get 1/k each (PyTorch's amax).
    """
    return np.max(x, axis=_axis(axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """min of x over axis

    Derivative: 1 at the minimum, 0 elsewhere; k tied minima get 1/k each (PyTorch's amin).
    """
    return np.min(x, axis=_axis(axis), keepdims=keepdims)


def _extreme_vjp(g, ans, x, axis=None, keepdims=False):
    hit = np.equal(x, _expand(ans, x, axis, keepdims))
    if is_graph_node(hit):  # as nodes: the count by summing a 0/1 float node
        count = np.sum(np.where(hit, 1.0, 0.0), axis=_axis(axis), keepdims=True)
    else:
        dtype = (g.dtype or np.float64) if is_graph_node(g) else np.result_type(g)
        count = np.sum(hit, axis=_axis(axis), keepdims=True, dtype=dtype)
    return np.where(hit, _expand(g, x, axis, keepdims) / count, 0)


def prod(x, axis=None, keepdims=False):
    """product of x over axis

    Derivative: the product of the other elements (exact where x has zeros, no division).
    """
    return np.prod(x, axis=_axis(axis), keepdims=keepdims)


def _prod_vjp(g, ans, x, axis=None, keepdims=False):
    # Move the reduced axes last and flatten them; the product of the others is the exclusive
    # prefix product times the exclusive suffix product.
    axes = normalize_axis(_axis(axis), x.ndim)
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    if is_graph_node(moved):  # as nodes, without cumprod: row k of an n x n matrix is the
        # reduced elements with element k replaced by 1, and its product is the others'
        n = int(np.prod([x.shape[a] for a in axes], dtype=int))
        flat = np.reshape(moved, moved.shape[:len(kept)] + (n,))
        rows = np.where(np.eye(n, dtype=bool), 1.0, np.expand_dims(flat, -2))
        others = np.transpose(np.reshape(np.prod(rows, axis=-1), moved.shape),
                              tuple(np.argsort(kept + list(axes))))
        return _expand(g, x, axis, keepdims) * others
    flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
    ones = np.ones_like(flat[..., :1])
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = np.transpose((before * after).reshape(moved.shape), np.argsort(kept + list(axes)))
    return _expand(g, x, axis, keepdims) * others


def var(x, axis=None, keepdims=False, ddof=0):
    """variance over axis: sum((x - mean)^2) / (n - ddof)

    Derivative: 2 (x - mean) / (n - ddof).
    """
    return np.var(x, axis=_axis(axis), keepdims=keepdims, ddof=ddof)


def _var_vjp(g, ans, x, axis=None, keepdims=False, ddof=0):
    centered = x - np.mean(x, axis=_axis(axis), keepdims=True)
    return _expand(g, x, axis, keepdims) * (2 * centered / (_count(x, axis) - ddof))


def std(x, axis=None, keepdims=False, ddof=0):
    """standard deviation over axis: sqrt(var(x, axis, ddof))

    Derivative: (x - mean) / ((n - ddof) std); 0 where std = 0 (PyTorch's convention).
    """
    return np.std(x, axis=_axis(axis), keepdims=keepdims, ddof=ddof)


def _std_vjp(g, ans, x, axis=None, keepdims=False, ddof=0):
    centered = x - np.mean(x, axis=_axis(axis), keepdims=True)
    s = _expand(ans, x, axis, keepdims)
    zero = np.equal(s, 0)
    scale = np.where(zero, 0, _expand(g, x, axis, keepdims) / np.where(zero, 1, s))
    return scale * centered / (_count(x, axis) - ddof)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x), axis)), computed as m + log(sum(exp(x - m))) with m the max, so that it
    is finite for large |x|

    Derivative: softmax: exp(x - logsumexp(x)).
    """
    m = np.max(x, axis=_axis(axis), keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or an inf) along axis: no shift
    out = np.log(np.sum(np.exp(x - m), axis=_axis(axis), keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=_axis(axis))


def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False):
    return _expand(g, x, axis, keepdims) * np.exp(x - _expand(ans, x, axis, keepdims))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    """the Euclidean (Frobenius) norm sqrt(sum(x^2)) over axis (any number of axes;
    ord None, 2 or 'fro'), or with ord=1 the sum of |x| over one axis

    Derivative: x / norm (0 where the norm is 0, PyTorch's convention); sign(x) for ord=1.
    """
    _check_norm(np.ndim(x), ord, axis)
    if ord == 1:
        return np.sum(np.abs(x), axis=_axis(axis), keepdims=keepdims)
    return np.sqrt(np.sum(x * x, axis=_axis(axis), keepdims=keepdims))


def _norm_vjp(g, ans, x, ord=None, axis=None, keepdims=False):  # noqa: A002
    g = _expand(g, x, axis, keepdims)
    if ord == 1:
        return g * np.sign(x)
    n = _expand(ans, x, axis, keepdims)
    zero = np.equal(n, 0)
    return np.where(zero, 0, g / np.where(zero, 1, n)) * x


def _check_norm(ndim, ord, axis):  # noqa: A002
    """Refuse what would not give NumPy's value: np.linalg.norm reads ord 1 and 2 as matrix
    norms over two axes (an ``axis=None`` matrix included) and as vector norms over one."""
    if isinstance(ord, bool) or ord not in (None, 2, "fro", 1):
        raise ValueError(f"norm supports ord None, 2, 'fro' (Euclidean) and 1, got {ord!r}")
    one_axis = isinstance(axis, (int, np.integer)) or (axis is None and ndim == 1)
    if ord == 1 and not one_axis:
        raise ValueError(f"norm with ord=1 is the vector 1-norm, over one axis; on {ndim} "
                         f"dimension(s) with axis={axis!r} NumPy gives a matrix norm, which "
                         "is not supported (pass axis=, or use mg.ops.sum(mg.ops.abs(x)))")
    if ord == 2 and not one_axis:
        raise ValueError(f"norm with ord=2 on {ndim} dimension(s) with axis={axis!r} is the "
                         "spectral norm in NumPy, which is not supported; use ord=None or "
                         "ord='fro' for the Frobenius norm")


def _norm_shape(s, ord=None, axis=None, keepdims=False):  # noqa: A002
    _check_norm(len(s), ord, axis)
    return reduce_shape(s, _axis(axis), keepdims)


def _var_shape(s, axis=None, keepdims=False, ddof=0):
    return reduce_shape(s, _axis(axis), keepdims)


def _shape(s, axis=None, keepdims=False):
    return reduce_shape(s, _axis(axis), keepdims)


_attrs = ({}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1},
          {"axis": [0, 1]}, {"axis": None, "keepdims": True})


def _many(draw=None):
    def samples(rng):
        for attrs in _attrs:
            x = rng.standard_normal((2, 3, 4)) if draw is None else draw(rng, (2, 3, 4))
            yield [x], attrs
        yield [rng.standard_normal(5)], {"axis": 0}
    return samples


def _reduction_jvp(vjp):
    """A reduction's jvp from its vjp: each output element depends only on the elements it
    reduces, so the vjp of an all-ones signal holds every local derivative, and the tangent
    is their sum weighted by the input's tangent."""
    def jvp(t, ans, x, axis=None, keepdims=False, **attrs):
        ones = np.ones(np.shape(ans), np.result_type(ans, t))
        local = vjp(ones, ans, x, axis=axis, keepdims=keepdims, **attrs)
        return np.sum(t * local, axis=_axis(axis), keepdims=keepdims)
    return jvp


def _reduction(name, forward, vjp, samples=None, shape=_shape, differentiable=True, dtype=None,
               needs=None, jvp=None):
    return Op(name, forward, (vjp,), shape, dtype, samples=samples or _many(),
              differentiable_vjp=differentiable, needs=needs, jvp=(jvp or _reduction_jvp(vjp),))


_ddof = cases(((3, 4),), axis=0, ddof=1)

OPS = [
    _reduction("sum", sum, lambda g, ans, x, axis=None, keepdims=False:
               _restore(g, x, axis, keepdims), needs=("",),
               jvp=lambda t, ans, x, axis=None, keepdims=False: sum(t, axis, keepdims)),
    _reduction("mean", mean, _mean_vjp, dtype=float_dtype, needs=("",),
               jvp=lambda t, ans, x, axis=None, keepdims=False: mean(t, axis, keepdims)),
    _reduction("max", max, _extreme_vjp, needs=("ans x",)),
    _reduction("min", min, _extreme_vjp, needs=("ans x",)),
    _reduction("prod", prod, _prod_vjp, samples=chain(
        _many(positive), lambda rng: [([np.array([[2.0, 0.0, 3.0], [0.0, 1.5, 0.0]])],
                                       {"axis": 1})]), needs=("x",)),
    _reduction("var", var, _var_vjp, chain(_many(), _ddof), _var_shape, dtype=float_dtype,
               needs=("x",)),
    _reduction("std", std, _std_vjp, chain(_many(), _ddof), _var_shape, dtype=float_dtype,
               needs=("ans x",)),
    _reduction("logsumexp", logsumexp, _logsumexp_vjp, dtype=float_dtype, needs=("ans x",)),
    _reduction("norm", norm, _norm_vjp, chain(
        _many(), cases(((3, 4),), ord=1, axis=1), cases(((3, 4),), ord="fro", axis=(0, 1)),
        cases(((3, 4),), ord=2, axis=0, keepdims=True)), _norm_shape, dtype=float_dtype,
        needs=("ans x",)),
]


@hookimpl
def mpgraph_ops():
    return OPS
