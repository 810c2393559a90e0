"""``mg.r_`` and ``mg.c_``: NumPy's concatenation by index on graph nodes.

``np.r_[x, y]`` cannot take graph nodes (it converts each item to an array); ``mg.r_[x, y]``
takes nodes, arrays, numbers and slices (``mg.r_[0:3, x]``) with NumPy's rules, including the
directive string (``mg.r_['0,2,0', x, y]``), and adds one ``concatenate`` node. Without a node
among the items it is ``np.r_`` itself.

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", (2,))
>>> y = mg.r_[x, 0.0, 1:3]
>>> y.shape
(5,)
>>> g.forward(y, {x: np.array([5.0, 6.0])})[y]
array([5., 6., 0., 1., 2.])
>>> mg.c_[x, x].shape
(2, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from . import functions
from .node import Node

__all__ = ["c_", "r_"]


def _op(name: str):
    return getattr(functions, name)


class _Concatenator:
    """An index object like np.r_ / np.c_: ``axis``, ``ndmin`` and ``trans1d`` as NumPy's."""

    def __init__(self, numpy_version: Any, axis: int, ndmin: int, trans1d: int) -> None:
        self._numpy = numpy_version
        self._defaults = (axis, ndmin, trans1d)

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not any(type(item) is Node for item in items):
            return self._numpy[key]
        axis, ndmin, trans1d = self._defaults
        if items and isinstance(items[0], str):
            axis, ndmin, trans1d = _directive(items[0], self._defaults)
            items = items[1:]
        pieces = [_lift(_as_piece(item), ndmin, trans1d) for item in items]
        return _op("concatenate")(pieces, axis=axis)


def _directive(text: str, defaults: tuple) -> tuple:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ShapeError(
            f"mpgraph: r_/c_: the directive {text!r} must be up to three ints "
            "'axis,ndmin,trans1d' (matrix directives 'r'/'c' are not supported)"
        ) from None
    if not 1 <= len(values) <= 3:
        raise ShapeError(
            f"mpgraph: r_/c_: the directive {text!r} has {len(values)} numbers, expected 1 to 3"
        )
    return tuple(values) + defaults[len(values) :]


def _as_piece(item: Any) -> Any:
    if type(item) is Node:
        return item
    if isinstance(item, slice):  # as np.r_: arange, or linspace for an imaginary step
        return np.r_[item]
    return np.array(item, ndmin=1) if np.ndim(item) == 0 else np.asarray(item)


def _lift(piece: Any, ndmin: int, trans1d: int) -> Any:
    """``piece`` with at least ``ndmin`` dims, its own dims placed as NumPy's trans1d says."""
    shape = piece.shape
    if shape is None:
        raise ShapeError(f"mpgraph: r_/c_: node '{piece.name}' needs a known number of dims")
    k2 = ndmin - len(shape)
    if k2 <= 0:
        return piece
    lifted = _op("reshape")(piece, (1,) * k2 + tuple(-1 if d is None else d for d in shape))
    k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
    axes = list(range(ndmin))
    axes = axes[:k1] + axes[k2:] + axes[k1:k2]
    return lifted if axes == list(range(ndmin)) else _op("transpose")(lifted, tuple(axes))


r_ = _Concatenator(np.r_, 0, 1, -1)
c_ = _Concatenator(np.c_, -1, 2, 0)
