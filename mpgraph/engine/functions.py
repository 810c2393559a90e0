"""``mg.ops``: every registered op as a function with NumPy's name and signature.

On NumPy arrays (or numbers) an op function computes eagerly and returns an array; when any
array argument is a graph node, it adds an op node to that node's graph and returns its handle.

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> mg.ops.sum(np.ones((2, 3)), axis=0)
array([2., 2., 2.])
>>> g = mg.Graph()
>>> x = g.input("x", shape=(2, 3))
>>> mg.ops.sum(x, axis=0)
<Node 'sum_1' sum shape=(3,) dtype=None>
"""

from __future__ import annotations

from typing import Any

from ..hooks.manager import get_op, on_rebuild
from ..hooks.manager import ops as _table
from .node import OpFunction, op_function


class _Namespace:
    """The ops under a dotted prefix, e.g. ``mg.ops.linalg``."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return _lookup(self._prefix + name)

    def __dir__(self) -> list[str]:
        return _names(self._prefix)


def _lookup(full: str) -> Any:
    table = _table()
    if full in table:
        return op_function(table[full])
    if any(k.startswith(full + ".") for k in table):
        return _Namespace(full + ".")
    return op_function(get_op(full))  # UnknownOpError is an AttributeError too


def _names(prefix: str) -> list[str]:
    return sorted({k[len(prefix) :].split(".")[0] for k in _table() if k.startswith(prefix)})


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    f = _lookup(name)
    if isinstance(f, OpFunction):  # from now on a plain module attribute, until a rebuild
        globals()[name] = f
        _cached.add(name)
    return f


_cached: set[str] = set()


def _forget() -> None:
    for name in list(_cached):
        globals().pop(name, None)
        _cached.discard(name)


on_rebuild(_forget)


def __dir__() -> list[str]:
    return _names("") + ["OpFunction", "op_function"]
