"""Node handles: what ``g.input``, ``g.param`` and every op on nodes return.

A handle names one node of a Graph. Arithmetic on handles adds op nodes to the same graph,
with NumPy's operator meanings (``@`` is matmul, ``**`` is power, ``x[i]`` is indexing). Python
numbers and NumPy arrays used with handles become constant nodes. NumPy functions called on
handles (``np.exp(x)``, ``np.sum(x, axis=0)``) add the registered op of the same name.

A handle refers to its graph weakly, so that no node sits in a reference cycle: a graph and
its nodes are freed by reference counting alone.
"""

from __future__ import annotations

import inspect
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contract.op import Op, raise_arity
from ..errors import GraphError, ShapeError, UsageError, a_kind
from ..hooks.manager import get_op, on_rebuild
from ..hooks.manager import ops as op_table

__all__ = ["KINDS", "Node", "OpFunction", "op_function"]

if TYPE_CHECKING:
    from .graph import Graph

KINDS = ("input", "param", "const", "op")


def _operator_method(name: str, method: str, *, reflected: bool = False):
    """``node <op> other`` (or reflected) as a method of Node: straight to ``graph.apply``
    when the op takes the arrays alone, skipping the public function's parsing of
    attributes. A method of its own per operator: building a traced op node starts here."""

    def operator(self, other):
        try:
            op = _direct[name]
        except KeyError:
            op = _direct_op(name)
        args = (other, self) if reflected else (self, other)
        if op is None:
            return _function(name)(*args)
        graph = self.graph_ref()
        if graph is None:
            graph = self.graph  # raises: the graph no longer exists
        return graph.apply(op, args)

    operator.__name__ = operator.__qualname__ = method
    return operator


class Node:
    """One node of a :class:`~mpgraph.Graph`.

    Attributes
    ----------
    name : str
        Unique in its graph, scope prefix included (``"layer1/matmul_2"``).
    kind : str
        ``"input"``, ``"param"``, ``"const"`` or ``"op"``.
    op : Op or None
        The op of an op node.
    attrs : dict
        The op's attributes (``axis``, ``keepdims``, ...), defaults included.
    args : tuple of Node
        The ordered arguments of an op node; one parent may appear several times (``x * x``).
    shape : tuple or None
        The static shape, with ``None`` for unknown dims; ``None`` when unknown altogether.
    dtype : numpy.dtype or None
    """

    __slots__ = (
        "name",
        "kind",
        "op",
        "attrs",
        "args",
        "shape",
        "dtype",
        "index",
        "fixed",
        "graph_ref",
        "__weakref__",
    )
    __array_priority__ = 1000
    is_graph_node = True  # how op definitions tell a handle from a value (contract.op)

    def __init__(
        self,
        graph: Graph,
        name: str,
        kind: str,
        index: int,
        op: Op | None = None,
        attrs: dict | None = None,
        args: tuple = (),
        shape=None,
        dtype=None,
        value: Any = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.op = op
        self.attrs = attrs if attrs is not None else {}
        self.args = args
        self.shape = shape
        self.dtype = dtype
        self.index = index  # creation order, which is a topological order
        self.fixed = value  # a parameter's or constant's value; None for inputs and ops
        self.graph_ref = graph.ref  # the graph's own weak reference to itself

    @property
    def graph(self) -> Graph:
        g = self.graph_ref()
        if g is None:
            raise GraphError(f"mpgraph: node '{self.name}': its graph no longer exists")
        return g

    @property
    def value(self) -> Any:
        """The value of a parameter or constant (read-only; set a parameter with
        ``g.set_param`` or by assigning ``node.value``)."""
        if self.kind not in ("param", "const"):
            raise GraphError(
                f"mpgraph: node '{self.name}' is {a_kind(self.kind)}: its value "
                "lives in a Run (run[node])"
            )
        return self.fixed

    @value.setter
    def value(self, new: Any) -> None:
        self.graph.set_param(self, new)

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def size(self) -> int | None:
        """The number of elements, ``None`` while a dim is unknown."""
        if self.shape is None or None in self.shape:
            return None
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __reduce__(self):
        """Pickle as ``graph[name]``. Pickle a handle together with its graph
        (``pickle.dumps((g, loss))``): a handle holds its graph weakly, so one unpickled alone
        has lost its graph."""
        return operator.getitem, (self.graph, self.name)

    def __repr__(self) -> str:
        what = self.op.name if self.op is not None else self.kind
        return f"<Node {self.name!r} {what} shape={self.shape} dtype={self.dtype}>"

    def __bool__(self) -> bool:
        raise UsageError(
            f"mpgraph: node '{self.name}' has no truth value while the graph is built; "
            "use mg.ops.where for data-dependent choices"
        )

    def __float__(self) -> float:
        raise UsageError(
            f"mpgraph: node '{self.name}' has no value while the graph is built; "
            "run the graph and read run[node]"
        )

    __int__ = __complex__ = __float__

    def __len__(self) -> int:
        if not self.shape or self.shape[0] is None:
            raise UsageError(
                f"mpgraph: node '{self.name}' has no known length (shape {self.shape})"
            )
        return self.shape[0]

    def __iter__(self):
        # Without this, Python would iterate by indexing forever.
        return (self[i] for i in range(len(self)))

    # Operators follow NumPy; each builds one op node, as the public op function would.
    __add__ = _operator_method("add", "__add__")
    __radd__ = _operator_method("add", "__radd__", reflected=True)
    __sub__ = _operator_method("subtract", "__sub__")
    __rsub__ = _operator_method("subtract", "__rsub__", reflected=True)
    __mul__ = _operator_method("multiply", "__mul__")
    __rmul__ = _operator_method("multiply", "__rmul__", reflected=True)
    __truediv__ = _operator_method("divide", "__truediv__")
    __rtruediv__ = _operator_method("divide", "__rtruediv__", reflected=True)
    __pow__ = _operator_method("power", "__pow__")
    __rpow__ = _operator_method("power", "__rpow__", reflected=True)
    __mod__ = _operator_method("remainder", "__mod__")
    __rmod__ = _operator_method("remainder", "__rmod__", reflected=True)
    __matmul__ = _operator_method("matmul", "__matmul__")
    __rmatmul__ = _operator_method("matmul", "__rmatmul__", reflected=True)

    def __neg__(self):
        return _call("negative", self)

    def __pos__(self):
        return self

    def __lt__(self, other):
        return _call("less", self, other)

    def __le__(self, other):
        return _call("less_equal", self, other)

    def __gt__(self, other):
        return _call("greater", self, other)

    def __ge__(self, other):
        return _call("greater_equal", self, other)

    # == and != are elementwise, as in NumPy, PyTorch and JAX; hashing stays by identity, so
    # nodes still work as dict keys and set members.
    def __eq__(self, other):
        return _call("equal", self, other)  # type: ignore[override]

    def __ne__(self, other):
        return _call("not_equal", self, other)  # type: ignore[override]

    __hash__ = object.__hash__

    def __getitem__(self, index):
        node_axis = _node_index_axis(index)
        if node_axis is not None:  # x[ids], x[:, ids]: integer indices fed per run
            axis, ids = node_axis
            return _call("take", self, ids, axis=axis)
        return _call("getitem", self, index)

    @property
    def T(self) -> Node:
        return _call("transpose", self)

    def sum(self, axis=None, keepdims=False) -> Node:
        return _call("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False) -> Node:
        return _call("mean", self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape) -> Node:
        return _call("reshape", self, shape[0] if len(shape) == 1 else shape)

    def ravel(self) -> Node:
        return _call("ravel", self)

    def flatten(self) -> Node:
        return _call("ravel", self)  # a copy in NumPy; nodes are never written to

    def squeeze(self, axis=None) -> Node:
        return _call("squeeze", self, axis=axis)

    def astype(self, dtype) -> Node:
        return _call("astype", self, dtype=np.dtype(dtype))

    # NumPy functions on nodes become the registered ops of the same name.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            return _numpy_call(ufunc.__name__, inputs, {})
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        if func in _STATIC and args and type(args[0]) is Node and len(args) + len(kwargs) == 1:
            return _static(func.__name__, args[0])
        if func.__module__ == "numpy.linalg":
            return _numpy_call("linalg." + func.__name__, args, kwargs)
        return _numpy_call(func.__name__, args, kwargs)


def first_node(x: Any) -> Node | None:
    """``x`` if it is a node, else the first node among the items of a list, tuple or object
    array ``x`` (at any depth), else ``None``."""
    if type(x) is Node:
        return x
    if isinstance(x, np.ndarray):
        items = x.ravel() if x.dtype.hasobject else ()
    elif isinstance(x, (list, tuple)):
        items = x
    else:
        return None
    for item in items:
        found = first_node(item)
        if found is not None:
            return found
    return None


def holds_nodes(x: Any) -> bool:
    """Whether ``x`` is a list, tuple or object array with a graph node among its items, which
    must be built as an array node rather than taken for a constant."""
    return type(x) is not Node and first_node(x) is not None


def _node_index_axis(index):
    """``(axis, node)`` when ``index`` is one graph node, alone or among full slices
    (``x[ids]``, ``x[:, ids]``); ``None`` otherwise."""
    if type(index) is Node:
        return None if _is_mask(index) else (0, index)
    if isinstance(index, tuple):
        nodes = [k for k, part in enumerate(index) if type(part) is Node and not _is_mask(part)]
        full = slice(None)
        if len(nodes) == 1 and all(
            type(p) is slice and p == full for k, p in enumerate(index) if k != nodes[0]
        ):
            return nodes[0], index[nodes[0]]
    return None


def _is_mask(node: Node) -> bool:
    return node.dtype is not None and node.dtype.kind == "b"


class OpFunction:
    """The public function of an op (``mg.ops.tanh``): eager on arrays, and on graph nodes
    it adds an op node to their graph and returns its handle."""

    # No __slots__: each instance carries its op's docstring as __doc__, for help().

    def __init__(self, op: Op) -> None:
        self.op = op
        self.__name__ = op.name
        self.__signature__ = public_signature(op)  # what inspect.signature shows
        # help() does not show a callable object's signature: the doc starts with it
        self.__doc__ = f"{op.name}{self.__signature__}\n\n{inspect.cleandoc(op.doc)}"

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
                graph = a.graph_ref()
                if graph is None:
                    graph = a.graph  # raises: the graph no longer exists
                break
        if graph is None:
            for a in arrays:  # a list or object array of nodes, e.g. np.array([x, 2 * x])
                inner = first_node(a) if isinstance(a, (list, tuple, np.ndarray)) else None
                if inner is not None:
                    graph = inner.graph
                    break
        if graph is None:
            if name is not None:
                raise UsageError(
                    f"mpgraph: op '{op.name}': name= names a graph node, and "
                    "these arguments are plain arrays (computed at once, no node)"
                )
            attrs = op.bind_attrs(extra, kwargs)
            if op.shape is not None:  # the check a node gets when built (norm's ord, ...)
                try:
                    op.shape(*[np.shape(a) for a in arrays], **attrs)
                except ValueError as e:
                    raise ShapeError(f"mpgraph: op '{op.name}': {e}") from None
            return op.forward(*arrays, **attrs)
        # an op without attributes (tanh) has none to bind
        attrs = op.bind_attrs(extra, kwargs) if extra or kwargs or op.attr_names else None
        return graph.apply(op, arrays, attrs, name=name)


def public_signature(op: Op) -> inspect.Signature:
    """The signature of ``op``'s public function: its array arguments, then its attributes
    with their defaults (which may also be given by position), then the keyword ``name``.

    Examples
    --------
    >>> import mpgraph as mg
    >>> public_signature(mg.ops.softmax.op)
    <Signature (x, axis=-1, *, name=None)>
    """
    P = inspect.Parameter
    name = P("name", P.KEYWORD_ONLY, default=None)
    if op.public is not None:
        try:
            params = list(inspect.signature(op.public).parameters.values())[1:]  # not apply
        except (TypeError, ValueError):
            params = [P("args", P.VAR_POSITIONAL), P("kwargs", P.VAR_KEYWORD)]
        return inspect.Signature(params)
    try:
        forward = list(inspect.signature(op.forward).parameters.values())
    except (TypeError, ValueError):
        forward = []
    if op.variadic:
        arrays = [P("arrays", P.POSITIONAL_OR_KEYWORD)]
    else:
        given = [p.name for p in forward if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        names = (given + [f"x{k}" for k in range(len(given), op.nargs)])[: op.nargs]
        arrays = [P(n, P.POSITIONAL_OR_KEYWORD) for n in names]
    attrs = [
        P(a, P.POSITIONAL_OR_KEYWORD, default=op.attr_defaults.get(a, P.empty))
        for a in op.attr_names
    ]
    # attributes without a default (``reshape``'s shape) come before those with one
    attrs.sort(key=lambda p: p.default is not P.empty)
    return inspect.Signature(arrays + attrs + [name])


class _PublicOpFunction(OpFunction):
    """The function of an op with its own ``public`` signature (``einsum``, ``split``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.op.public(super().__call__, *args, **kwargs)


_by_op: dict[tuple[str, int], OpFunction] = {}


def op_function(op: Op) -> OpFunction:
    """The (cached) public function of ``op``."""
    key = (op.name, id(op))
    f = _by_op.get(key)
    if f is None:
        f = _by_op[key] = (OpFunction if op.public is None else _PublicOpFunction)(op)
    return f


def _function(name: str) -> OpFunction:
    """The public function of op ``name``, cached until the op table is rebuilt."""
    f = _by_name.get(name)
    if f is None:
        f = _by_name[name] = op_function(get_op(name))
    return f


_by_name: dict[str, OpFunction] = {}
# op name -> its Op when an operator can go straight to graph.apply (the op takes the arrays
# alone), else None
_direct: dict[str, Op | None] = {}


def _forget() -> None:
    _by_name.clear()
    _direct.clear()


on_rebuild(_forget)


def _call(name: str, *args, **kwargs):
    return _function(name)(*args, **kwargs)


def _direct_op(name: str) -> Op | None:
    """The op an operator can hand straight to ``graph.apply`` (one that takes the arrays
    alone), else ``None``; cached until the op table is rebuilt."""
    op = _function(name).op
    if op.public is not None or len(op.attr_defaults) != len(op.attr_names):
        op = None
    _direct[name] = op
    return op


# NumPy names whose op is registered under another name (np.abs is np.absolute).
_ALIASES = {"absolute": "abs", "linalg.norm": "norm", "rad2deg": "degrees", "deg2rad": "radians"}


_STATIC = (np.shape, np.ndim, np.size)


def _static(name: str, node: Node) -> Any:
    """``np.shape``, ``np.ndim`` and ``np.size`` of a node, from its shape known when built."""
    if node.shape is None or (name != "ndim" and None in node.shape):
        raise ShapeError(
            f"mpgraph: numpy.{name} of node '{node.name}': its shape is not known "
            f"while the graph is built ({node.shape}); give its inputs a shape"
        )
    return {"shape": node.shape, "ndim": node.ndim, "size": node.size}[name]


def _numpy_call(name: str, args, kwargs):
    name = _ALIASES.get(name, name)
    if name not in op_table():
        raise UsageError(
            f"mpgraph: numpy.{name} was called on a graph node, and no op named "
            f"'{name}' is registered; use mg.ops or register one"
        )
    return _call(name, *args, **kwargs)
