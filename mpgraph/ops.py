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

from .node import Node
from .op import Op, raise_arity
from . import registry as _registry
from .registry import get_op, ops as _table


class OpFunction:
    # No __slots__: each instance carries its op's docstring as __doc__, for help().

    def __init__(self, op: Op) -> None:
        self.op = op
        self.__name__ = op.name
        self.__doc__ = op.doc

    def __repr__(self) -> str:
        return f"<mpgraph op function {self.op.name!r} from plugin {self.op.plugin!r}>"

    def __call__(self, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
        op = self.op
        if op.variadic:
            if not args:
                raise_arity(op, 0)
            arrays, extra = tuple(args[0]), args[1:]
        else:
            n = op.nargs
            if len(args) == n:
                arrays, extra = args, ()
            elif len(args) < n:
                raise_arity(op, len(args))
            else:
                arrays, extra = args[:n], args[n:]
        graph = None
        for a in arrays:
            if type(a) is Node:
                graph = a.graph
                break
        if graph is None:
            if name is not None:
                raise TypeError(f"mpgraph: op '{op.name}': name= is only for graph nodes")
            if op.variadic:  # attributes given by position must not join the arrays
                return op.forward(*arrays, **op.bind_attrs(extra, kwargs))
            return op.forward(*arrays, *extra, **kwargs)
        return graph.apply(op, arrays, op.bind_attrs(extra, kwargs), name=name)


class _PublicOpFunction(OpFunction):
    """The function of an op with its own ``public`` signature (``einsum``, ``split``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.op.public(super().__call__, *args, **kwargs)


_functions: dict[tuple[str, int], OpFunction] = {}


def op_function(op: Op) -> OpFunction:
    """The (cached) public function of ``op``."""
    key = (op.name, id(op))
    f = _functions.get(key)
    if f is None:
        f = _functions[key] = (OpFunction if op.public is None else _PublicOpFunction)(op)
    return f


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
    return sorted({k[len(prefix):].split(".")[0] for k in _table() if k.startswith(prefix)})


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


_registry._on_rebuild.append(_forget)


def __dir__() -> list[str]:
    return _names("") + ["OpFunction", "op_function"]
