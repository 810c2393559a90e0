"""Reductions with NumPy's ``axis`` (int, tuple or None) and ``keepdims``.

A reduction's message is its error signal with the reduced axes put back (``_expand``), times
the local derivative, which broadcasts it to the input's shape. ``max`` and ``min`` share the
signal evenly between tied maxima, as PyTorch's ``amax`` does.
"""

import builtins

import numpy as np

from mpgraph.extend import (
    Op,
    ShapeError,
    cases,
    chain,
    float_dtype,
    hookimpl,
    is_graph_node,
    like,
    normalize_axis,
    positive,
    reduce_shape,
    reduction,
)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _expand(g, x, axis, keepdims):
    """``g`` with the reduced axes of ``x`` back as size-1 axes, so that it broadcasts to x."""
    if keepdims or axis is None:  # a full reduction without keepdims gives a scalar: it broadcasts
        return g
    return np.expand_dims(g, normalize_axis(_axis(axis), x.ndim))


def _restore(g, x, axis, keepdims):
    if axis is not None:
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
        return x.sum(axis=axis if axis is None else _axis(axis), keepdims=keepdims)
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
        flat = np.reshape(moved, moved.shape[: len(kept)] + (n,))
        rows = np.where(np.eye(n, dtype=bool), 1.0, np.expand_dims(flat, -2))
        others = np.transpose(
            np.reshape(np.prod(rows, axis=-1), moved.shape), tuple(np.argsort(kept + list(axes)))
        )
        return _expand(g, x, axis, keepdims) * others
    flat = moved.reshape(moved.shape[: len(kept)] + (-1,))
    ones = np.ones_like(flat[..., :1])
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = np.transpose(
        (before * after).reshape(moved.shape), tuple(np.argsort(kept + list(axes)))
    )
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
        raise ValueError(
            f"norm with ord=1 is the vector 1-norm, over one axis; on {ndim} "
            f"dimension(s) with axis={axis!r} NumPy gives a matrix norm, which "
            "is not supported (pass axis=, or use mg.ops.sum(mg.ops.abs(x)))"
        )
    if ord == 2 and not one_axis:
        raise ValueError(
            f"norm with ord=2 on {ndim} dimension(s) with axis={axis!r} is the "
            "spectral norm in NumPy, which is not supported; use ord=None or "
            "ord='fro' for the Frobenius norm"
        )


def _norm_shape(s, ord=None, axis=None, keepdims=False):  # noqa: A002
    _check_norm(len(s), ord, axis)
    return reduce_shape(s, _axis(axis), keepdims)


def _var_shape(s, axis=None, keepdims=False, ddof=0):
    return reduce_shape(s, _axis(axis), keepdims)


def _shape(s, axis=None, keepdims=False):
    return reduce_shape(s, _axis(axis), keepdims)


# -- cumulative --------------------------------------------------------------------------------


def cumsum(a, axis=None):
    """running sums of a along axis (of the flattened a when axis is None), np.cumsum

    Derivative: element i reaches every sum from i on: the message is the reversed running
    sum of g, flip(cumsum(flip(g))).
    """
    return np.cumsum(a, axis=axis)


def _cumsum_vjp(g, ans, a, axis=None):
    ax = -1 if axis is None else axis
    back = np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax)
    return np.reshape(back, a.shape) if axis is None else back


def _cumulative_shape(s, axis=None):
    if axis is None:
        return (None if None in s else int(np.prod(s, dtype=int)),)
    normalize_axis(axis, len(s))
    return s


def cumprod(a, axis=None):
    """running products of a along axis (of the flattened a when axis is None), np.cumprod

    Derivative: the message to a_i is sum_{j >= i} g_j prod_{k <= j, k != i} a_k, computed
    without dividing by a_i, so it is exact where a has zeros (O(n^2) per line of n elements).
    """
    return np.cumprod(a, axis=axis)


def _cumprod_vjp(g, ans, a, axis=None):
    x = np.reshape(a, (-1,)) if axis is None else np.moveaxis(a, axis, -1)
    gx = np.reshape(g, (-1,)) if axis is None else np.moveaxis(g, axis, -1)
    n = x.shape[-1]
    eye = np.asarray(np.eye(n, dtype=bool), like=like(x))
    # rows[..., i, k] = a_k with a_i replaced by 1; its running product along k is the
    # product over k <= j of every a_k but a_i
    rows = np.where(eye, 1, np.expand_dims(x, -2))
    partial = np.cumprod(rows, axis=-1)
    upper = np.triu(np.ones((n, n), dtype=bool, like=like(x)))  # j >= i
    msg = np.sum(np.where(upper, partial * np.expand_dims(gx, -2), 0), axis=-1)
    return np.reshape(msg, a.shape) if axis is None else np.moveaxis(msg, -1, axis)


def diff(a, n=1, axis=-1):
    """the n-th discrete difference along axis, a[1:] - a[:-1] applied n times, np.diff;
    ``mg.ops.diff(a, n, axis, prepend, append)`` takes NumPy's prepend and append, values
    put before and after a along axis first (a scalar repeated across the other axes; nodes
    receive their messages through that concatenation)

    Derivative: the adjoint of one difference sends g_i to a_{i+1} and -g_i to a_i: the
    message is pad(g, (1, 0)) - pad(g, (0, 1)) along axis, applied n times.
    """
    return np.diff(a, n=n, axis=axis)


def _diff_vjp(g, ans, a, n=1, axis=-1):
    ax = normalize_axis(axis, a.ndim)[0]
    for _ in range(n):
        before = [(0, 0)] * a.ndim
        after = [(0, 0)] * a.ndim
        before[ax], after[ax] = (1, 0), (0, 1)
        g = np.pad(g, before) - np.pad(g, after)
    return g


def _diff_shape(s, n=1, axis=-1):
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    ax = normalize_axis(axis, len(s))[0]
    # the builtin max: this module's max is the reduction
    return s[:ax] + (None if s[ax] is None else builtins.max(s[ax] - n, 0),) + s[ax + 1 :]


def _diff_public(apply, a, n=1, axis=-1, prepend=None, append=None, name=None):
    if (prepend is None and append is None) or n == 0:  # NumPy: n = 0 returns a as it is
        return apply(a, n, axis, name=name)
    shape = tuple(a.shape) if hasattr(a, "shape") else np.shape(a)
    ax = normalize_axis(axis, len(shape))[0]

    def edge(v):
        if np.ndim(v) or (hasattr(v, "ndim") and v.ndim):
            return v
        if None in shape:
            raise ShapeError(
                f"mpgraph: op 'diff': a scalar prepend or append needs the known shape of a, "
                f"got {shape}"
            )
        return np.broadcast_to(v, shape[:ax] + (1,) + shape[ax + 1 :])

    parts = [edge(v) for v in (prepend,) if v is not None] + [a]
    parts += [edge(v) for v in (append,) if v is not None]
    return apply(np.concatenate(parts, axis=ax), n, axis, name=name)


def gradient(f, spacing=1.0, axis=0, edge_order=1):
    """np.gradient(f, spacing, axis=axis, edge_order=edge_order) along one axis: central
    differences (f[i+1] - f[i-1]) / 2h inside; at the two ends one-sided differences of first
    order (f[1] - f[0]) / h (edge_order=1) or second order (-3 f[0] + 4 f[1] - f[2]) / 2h
    (edge_order=2, mirrored at the end), h a uniform spacing; ``mg.ops.gradient(f)`` on an
    n-d f returns one node per axis

    Derivative: the adjoint of that linear map: g_i / 2h to f[i+1] and -g_i / 2h to f[i-1]
    inside, and each end's signal to the points its difference reads, times their weights.
    """
    return np.gradient(f, spacing, axis=axis, edge_order=edge_order)


def _gradient_terms(n, h, edge_order):
    """np.gradient as a sum of shifted slices: (first output, count, first input, weight)."""
    inner = [(1, n - 2, 2, 0.5 / h), (1, n - 2, 0, -0.5 / h)]
    if edge_order == 1:
        ends = [(0, 1, 1, 1 / h), (0, 1, 0, -1 / h), (n - 1, 1, n - 1, 1 / h)]
        ends.append((n - 1, 1, n - 2, -1 / h))
    else:
        ends = [(0, 1, 0, -1.5 / h), (0, 1, 1, 2 / h), (0, 1, 2, -0.5 / h)]
        ends += [(n - 1, 1, n - 1, 1.5 / h), (n - 1, 1, n - 2, -2 / h), (n - 1, 1, n - 3, 0.5 / h)]
    return inner + ends


def _gradient_vjp(g, ans, f, spacing=1.0, axis=0, edge_order=1):
    ax = normalize_axis(axis, f.ndim)[0]
    n = f.shape[ax]
    msg = None
    for out, count, start, weight in _gradient_terms(n, spacing, edge_order):
        width = [(0, 0)] * f.ndim
        width[ax] = (start, n - start - count)
        term = np.pad(g[(slice(None),) * ax + (slice(out, out + count),)] * weight, width)
        msg = term if msg is None else msg + term
    return msg


def _gradient_shape(s, spacing=1.0, axis=0, edge_order=1):
    if not isinstance(spacing, (int, float, np.integer, np.floating)) or spacing == 0:
        raise ValueError(f"spacing must be a non-zero number (a uniform step), got {spacing!r}")
    if edge_order not in (1, 2):
        raise ValueError(f"edge_order must be 1 or 2, got {edge_order!r}")
    ax = normalize_axis(axis, len(s))[0]
    if s[ax] is not None and s[ax] < edge_order + 1:
        raise ValueError(
            f"gradient with edge_order={edge_order} needs at least {edge_order + 1} elements "
            f"along axis {axis}, got {s[ax]}"
        )
    return s


def _gradient_public(apply, f, spacing=1.0, axis=None, edge_order=1, name=None):
    ndim = len(f.shape) if hasattr(f, "shape") else np.ndim(f)
    if axis is None and ndim > 1:
        return [
            apply(f, spacing, k, edge_order, name=None if name is None else f"{name}_{k}")
            for k in range(ndim)
        ]
    return apply(f, spacing, 0 if axis is None else axis, edge_order, name=name)


_attrs = (
    {},
    {"axis": 1},
    {"axis": (0, 2), "keepdims": True},
    {"axis": -1},
    {"axis": [0, 1]},
    {"axis": None, "keepdims": True},
)


def _many(draw=None):
    def samples(rng):
        for attrs in _attrs:
            x = rng.standard_normal((2, 3, 4)) if draw is None else draw(rng, (2, 3, 4))
            yield [x], attrs
        yield [rng.standard_normal(5)], {"axis": 0}

    return samples


def _reduction(
    name,
    forward,
    vjp,
    samples=None,
    shape=_shape,
    differentiable=True,
    dtype=None,
    needs=None,
    jvp=None,
):
    return reduction(
        name,
        forward,
        vjp,
        samples=samples or _many(),
        shape=shape,
        dtype=dtype,
        needs=needs,
        differentiable=differentiable,
        jvp=jvp,
    )


_ddof = cases(((3, 4),), axis=0, ddof=1)

OPS = [
    _reduction(
        "sum",
        sum,
        lambda g, ans, x, axis=None, keepdims=False: _restore(g, x, axis, keepdims),
        needs=("",),
        jvp=lambda t, ans, x, axis=None, keepdims=False: sum(t, axis, keepdims),
    ),
    _reduction(
        "mean",
        mean,
        _mean_vjp,
        dtype=float_dtype,
        needs=("",),
        jvp=lambda t, ans, x, axis=None, keepdims=False: mean(t, axis, keepdims),
    ),
    _reduction("max", max, _extreme_vjp, needs=("ans x",)),
    _reduction("min", min, _extreme_vjp, needs=("ans x",)),
    _reduction(
        "prod",
        prod,
        _prod_vjp,
        samples=chain(
            _many(positive),
            lambda rng: [([np.array([[2.0, 0.0, 3.0], [0.0, 1.5, 0.0]])], {"axis": 1})],
        ),
        needs=("x",),
    ),
    _reduction(
        "var", var, _var_vjp, chain(_many(), _ddof), _var_shape, dtype=float_dtype, needs=("x",)
    ),
    _reduction(
        "std", std, _std_vjp, chain(_many(), _ddof), _var_shape, dtype=float_dtype, needs=("ans x",)
    ),
    _reduction("logsumexp", logsumexp, _logsumexp_vjp, dtype=float_dtype, needs=("ans x",)),
    _reduction(
        "norm",
        norm,
        _norm_vjp,
        chain(
            _many(),
            cases(((3, 4),), ord=1, axis=1),
            cases(((3, 4),), ord="fro", axis=(0, 1)),
            cases(((3, 4),), ord=2, axis=0, keepdims=True),
        ),
        _norm_shape,
        dtype=float_dtype,
        needs=("ans x",),
    ),
    Op(
        "cumsum",
        cumsum,
        (_cumsum_vjp,),
        _cumulative_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=chain(cases(((2, 3),)), cases(((2, 3),), axis=1), cases(((3, 2, 2),), axis=0)),
    ),
    Op(
        "cumprod",
        cumprod,
        (_cumprod_vjp,),
        _cumulative_shape,
        needs=("a",),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3),), axis=1),
            cases(((4,),)),
            cases(((3, 2),), axis=0),
            lambda rng: [([np.array([[2.0, 0.0, 3.0, 1.5], [0.0, 0.5, 0.0, 2.0]])], {"axis": 1})],
        ),
    ),
    Op(
        "gradient",
        gradient,
        (_gradient_vjp,),
        _gradient_shape,
        float_dtype,
        needs=("",),
        differentiable_vjp=True,
        public=_gradient_public,
        samples=chain(
            cases(((5,),)),
            cases(((3, 4),), axis=1, spacing=0.5),
            cases(((2, 3),), axis=0, spacing=2.0),
            cases(((5,),), edge_order=2),
            cases(((3, 4),), axis=0, spacing=0.5, edge_order=2),
        ),
    ),
    Op(
        "diff",
        diff,
        (_diff_vjp,),
        _diff_shape,
        needs=("",),
        differentiable_vjp=True,
        public=_diff_public,
        samples=chain(cases(((2, 5),)), cases(((4, 3),), axis=0), cases(((6,),), n=3)),
    ),
]


@hookimpl
def mpgraph_ops():
    return OPS
