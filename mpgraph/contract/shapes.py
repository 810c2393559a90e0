"""Shape rules and broadcasting helpers for op authors.

Shapes here are tuples whose dims may be ``None`` (unknown while a graph is built).
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError

__all__ = [
    "Shape",
    "unbroadcast",
    "broadcast_shapes",
    "normalize_axis",
    "reduce_shape",
    "same_shape",
]

Shape = tuple  # of int | None


def unbroadcast(g, x):
    """Sum the message ``g`` down to the shape of ``x``, undoing NumPy broadcasting.

    Examples
    --------
    >>> import numpy as np
    >>> unbroadcast(np.ones((4, 3)), np.zeros(3))
    array([4., 4., 4.])
    """
    if type(g) is np.ndarray and type(x) is np.ndarray:  # arrays: the common cases first
        gshape, shape = g.shape, x.shape
        if gshape == shape:
            return g
        lead = len(gshape) - len(shape)
        if lead > 0 and gshape[lead:] == shape:  # a bias: leading dims
            return np.add.reduce(g, axis=0 if lead == 1 else tuple(range(lead)))
    try:
        if g.shape == x.shape:  # without np.shape's overhead
            return g
    except AttributeError:
        pass
    # .shape rather than np.shape: graph nodes have one too (a vjp applied to nodes)
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    gshape = g.shape if hasattr(g, "shape") else np.shape(g)
    if gshape == shape:
        return g
    if gshape is None or shape is None or None in gshape or None in shape:
        raise GraphError(
            f"mpgraph: a message cannot be summed back to its argument's shape as "
            f"graph nodes while shapes are unknown ({gshape} and {shape}); give "
            "inputs their shapes, e.g. g.input(name, shape=...)"
        )
    lead = len(gshape) - len(shape)
    if lead > 0 and type(g) is np.ndarray and gshape[lead:] == shape:  # a bias: leading dims
        return np.add.reduce(g, axis=0 if lead == 1 else tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )
    if axes:  # np.add.reduce is ndarray.sum without its Python wrapper; np.sum takes nodes
        g = np.add.reduce(g, axis=axes) if type(g) is np.ndarray else np.sum(g, axis=axes)
    return np.reshape(g, shape) if g.shape != shape else g


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy's broadcasting rule on shapes whose dims may be ``None`` (unknown).

    Raises
    ------
    ValueError
        When two known dims differ and neither is 1.

    Examples
    --------
    >>> broadcast_shapes((None, 3), (3,))
    (None, 3)
    """
    first = shapes[0]
    for s in shapes:
        if s != first:
            break
    else:  # the common case: nothing to broadcast
        return tuple(first)
    ndim = max(len(s) for s in shapes)
    out = []
    for k in range(ndim):
        dims = {s[k - ndim + len(s)] for s in shapes if k - ndim + len(s) >= 0}
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(
                f"shapes {', '.join(map(str, shapes))} do not broadcast "
                f"({' != '.join(map(str, sorted(known)))})"
            )
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


def normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (int, tuple or None) as a sorted tuple of non-negative axes.

    Raises
    ------
    ValueError
        When an axis is out of range for ``ndim`` dimensions.
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for {ndim} dimension(s)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def reduce_shape(s: Shape, axis=None, keepdims: bool = False, **_) -> Shape:
    """The shape rule of a reduction over ``axis``."""
    axes = normalize_axis(axis, len(s))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(s))
    return tuple(n for i, n in enumerate(s) if i not in axes)


def same_shape(s: Shape, *_, **__) -> Shape:
    """The shape rule of an elementwise unary op."""
    return s
