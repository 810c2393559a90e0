"""What an op is: a forward function and the messages it sends back to its inputs.

An op knows nothing of the graph. Its author writes, in one place:

- ``forward(*arrays, **attrs)``: NumPy arrays in, an array out. The names after the array
  arguments are the op's attributes (``axis``, ``keepdims``, ...), NumPy's names where NumPy has
  the same function.
- ``vjp``: one function per array argument, ``vjp_i(g, ans, *arrays, **attrs)``, that turns the
  error signal ``g`` of the output into the message for argument ``i`` (the vector-Jacobian
  product). ``None`` marks an argument that carries no gradient (labels, a condition). A vjp may
  also return ``None`` at run time when no gradient flows (an integer input). Written with
  operators and ``mg.ops`` functions, the same vjp also works on graph nodes.
- ``shape``, optionally: the output shape from the input shapes (dims may be ``None`` when
  unknown), raising ``ValueError`` for shapes that do not fit. Without it, mpgraph finds the
  shape by running ``forward`` on zero-strided stand-ins when the node is built.
- ``needs``, optionally: for each vjp, the names of its parameters (``ans`` and the arrays)
  whose values it reads, beyond their shape and dtype. A value that no vjp needs is freed by
  ``g.grad`` and ``mg.grad`` as soon as the forward pass is done with it; a vjp then gets a
  read-only stand-in with the right shape and dtype. By default a vjp needs everything.
- ``fwd``, optionally: the forward pass that also saves *residuals* for the vjps,
  ``fwd(*arrays, **attrs) -> (ans, res)`` (softmax cross-entropy saves its softmax, dropout
  its mask). A graph run uses ``fwd``; the vjps (and jvps) then take the keyword ``res``: the
  residuals of the same run, or ``None`` when the vjp is built as graph nodes (a higher-order
  derivative), where it recomputes what it needs. Residuals are freed with the node's vjps.
- ``jvp``, optionally: one function per array argument, ``jvp_i(t, ans, *arrays, **attrs)``,
  the output's tangent from argument ``i``'s tangent ``t`` (the Jacobian-vector product; it
  may broadcast to the output's shape). Without it, forward mode transposes the op's vjp,
  which needs ``differentiable_vjp=True`` (see ``mpgraph.engine.tangents``).

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> square = mg.Op("my_square", lambda x: x * x, vjp=(lambda g, ans, x: 2 * g * x,),
...                shape=lambda s: s, needs=("x",))
>>> square.nargs, square.attr_names, square.reads
(1, (), ((False, (0,)),))
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ArityError, GraphError, PluginError

__all__ = ["Op", "is_graph_node", "raise_arity"]


class Op:
    """The definition of one op.

    Parameters
    ----------
    name : str
        The op's name, NumPy's where NumPy has the function (``"sum"``, ``"matmul"``); a dotted
        name (``"linalg.inv"``) appears as ``mg.ops.linalg.inv``.
    forward : callable
        ``forward(*arrays, **attrs) -> array``.
    vjp : tuple of (callable or None), or callable
        One entry per array argument (see the module docs). A variadic op (``variadic=True``)
        gives one callable ``vjp(argnum, g, ans, *arrays, **attrs)``.
    shape : callable, optional
        ``shape(*input_shapes, **attrs) -> output_shape``.
    dtype : callable, optional
        ``dtype(*input_dtypes, **attrs) -> numpy dtype``; input dtypes may be ``None`` (a Python
        number or an input of unknown dtype). By default NumPy's promotion of the known ones.
        A rule with the keyword ``shapes`` also gets the input shapes (``None`` where unknown),
        to refuse a dtype that only some shapes allow (float targets of a cross-entropy are
        probabilities, of the logits' shape; with a dim fewer they would be class indices).
    variadic : bool
        The op takes a sequence of arrays as its first argument (``concatenate``, ``stack``).
    samples : callable, optional
        ``samples(rng) -> iterable of (args, attrs)``: valid inputs on which the registry-wide
        gradient check runs this op. By default, standard normal arrays of shape (2, 3).
    differentiable_vjp : bool
        The vjp is written with operators and ``mg.ops``, so it can itself be differentiated.
    needs : tuple of str, optional
        One entry per vjp entry: the names of that vjp's parameters whose values it reads
        (``"ans"``, array names as the vjp names them), space-separated, ``""`` for shapes
        only. Lets the engine free every other value early. Not for variadic ops.
    fwd : callable, optional
        ``fwd(*arrays, **attrs) -> (ans, res)``: ``forward`` that also returns the residuals
        its vjps read (passed to them as the keyword ``res``).
    jvp : tuple of (callable or None), or callable, optional
        One entry per array argument, ``jvp_i(t, ans, *arrays, **attrs)``; ``None`` for an
        argument that carries no tangent. A variadic op gives one callable
        ``jvp(argnum, t, ans, *arrays, **attrs)``.
    doc : str, optional
        The formula and the local derivative; defaults to ``forward.__doc__``.
    public : callable, optional
        ``public(apply, *args, **kwargs)``: the public function, for an op whose NumPy
        signature is not (arrays, then attributes): ``einsum``'s subscripts come before its
        operands, ``split`` returns a list. ``apply`` is the default public function.

    Raises
    ------
    PluginError
        When the definition is malformed: no name, forward or vjp not callable, a vjp entry
        per argument that does not match forward's array arguments, ``needs`` naming what a
        vjp does not take.

    Attributes
    ----------
    reads : tuple or None
        From ``needs``: per vjp entry, ``(reads_ans, positions of the arrays it reads)``;
        ``None`` when every vjp reads everything.
    dtype_reads_shapes : bool
        The dtype rule takes the keyword ``shapes``.
    gradient_args : tuple of int or None
        The positions of the arguments that receive messages (their vjp entry is not
        ``None``); ``None`` for a variadic op, whose every argument does. The engine's
        planning reads it for every node, where a call of :meth:`carries_gradient` per
        argument would cost more.
    """

    __slots__ = (
        "name",
        "forward",
        "vjp",
        "shape",
        "dtype",
        "variadic",
        "samples",
        "differentiable_vjp",
        "doc",
        "public",
        "nargs",
        "attr_names",
        "attr_defaults",
        "plugin",
        "needs",
        "reads",
        "fwd",
        "jvp",
        "dtype_reads_shapes",
        "gradient_args",
    )

    def __init__(
        self,
        name: str,
        forward: Callable,
        vjp: Sequence[Callable | None] | Callable,
        shape: Callable | None = None,
        dtype: Callable | None = None,
        *,
        variadic: bool = False,
        samples: Callable | None = None,
        differentiable_vjp: bool = False,
        doc: str | None = None,
        public: Callable | None = None,
        needs: Sequence[str] | None = None,
        fwd: Callable | None = None,
        jvp: Sequence[Callable | None] | Callable | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjp = vjp if variadic or not isinstance(vjp, list) else tuple(vjp)
        self.shape = shape
        self.dtype = dtype
        self.dtype_reads_shapes = dtype is not None and _takes_keyword(dtype, "shapes")
        self.variadic = variadic
        self.samples = samples
        self.differentiable_vjp = differentiable_vjp
        self.doc = doc if doc is not None else (getattr(forward, "__doc__", None) or "")
        self.public = public
        self.plugin: str | None = None  # set by the registry
        self.fwd = fwd
        self.jvp = jvp if variadic or not isinstance(jvp, list) else tuple(jvp)
        self.nargs, self.attr_names, self.attr_defaults = _signature(self)
        self.needs = needs
        self.reads = None if needs is None else _reads(self, needs)
        self.gradient_args = (
            None if variadic else tuple(k for k, f in enumerate(self.vjp) if f is not None)
        )
        _check_jvp(self)

    def __repr__(self) -> str:
        return f"<Op {self.name!r} nargs={self.nargs if not self.variadic else '*'}>"

    def apply_vjp(self, argnum: int, g: Any, ans: Any, *args: Any, **attrs: Any) -> Any:
        """The message to argument ``argnum``, checked against what the op declares.

        On arrays this is the message the backward pass sends. When ``g``, ``ans`` or an
        argument is a graph node, the message is built as graph nodes, so that it can be
        differentiated again (a higher-order derivative); only an op that declares
        ``differentiable_vjp=True`` allows that.

        Raises
        ------
        GraphError
            The argument is declared non-differentiable (its vjp entry is ``None``), or the
            message is asked for on graph nodes and the vjp is not declared differentiable.

        Examples
        --------
        >>> import numpy as np, mpgraph as mg
        >>> tanh = mg.ops.tanh.op
        >>> g = mg.Graph()
        >>> x = g.input("x")
        >>> dx = tanh.apply_vjp(0, 1.0, mg.ops.tanh(x), x)   # d tanh(x)/dx, as a node
        >>> d2x = g.grad(dx, wrt=x, feed={"x": 0.5})        # d2 tanh(x)/dx2 at 0.5
        >>> bool(np.isclose(d2x, -2 * np.tanh(0.5) * (1 - np.tanh(0.5) ** 2)))
        True
        """
        if not self.carries_gradient(argnum):
            raise GraphError(
                f"mpgraph: op '{self.name}': argument {argnum} is not differentiable "
                "(its vjp entry is None)"
            )
        if not self.differentiable_vjp and any(is_graph_node(v) for v in (g, ans, *args)):
            raise GraphError(
                f"mpgraph: op '{self.name}' does not declare a differentiable vjp "
                "(differentiable_vjp=False), so its messages cannot be built as graph "
                "nodes for a higher-order derivative"
            )
        attrs = {**self.attr_defaults, **attrs}
        if self.fwd is not None:
            attrs.setdefault("res", None)  # no residuals for a message built as nodes
        return self.vjp_function(argnum)(g, ans, *args, **attrs)

    def carries_tangent(self, argnum: int) -> bool:
        """Whether argument ``argnum``'s tangent reaches the output: it carries a gradient,
        and a declared ``jvp`` does not mark it ``None``."""
        if not self.carries_gradient(argnum):
            return False
        return self.jvp is None or self.variadic or self.jvp[argnum] is not None

    def jvp_function(self, argnum: int) -> Callable | None:
        """``jvp(t, ans, *arrays, **attrs)`` for argument ``argnum``, or ``None`` when the
        op declares no jvp rule (or none for this argument)."""
        if self.jvp is None:
            return None
        if self.variadic:
            return functools.partial(self.jvp, argnum)
        return self.jvp[argnum]

    def carries_gradient(self, argnum: int) -> bool:
        """Whether argument ``argnum`` receives a message (its vjp entry is not ``None``)."""
        return self.variadic or self.vjp[argnum] is not None

    def vjp_function(self, argnum: int) -> Callable | None:
        """``vjp(g, ans, *arrays, **attrs)`` for argument ``argnum``, whatever form the op
        declared its vjps in; ``None`` when the argument carries no gradient."""
        if self.variadic:
            return functools.partial(self.vjp, argnum)
        return self.vjp[argnum]

    def bind_attrs(self, extra: tuple, kwargs: dict, node: str | None = None) -> dict:
        """Attributes from the positional values after the arrays and the keywords, defaults
        filled in, so that a node records every attribute its op ran with."""
        names = self.attr_names
        if not extra and not kwargs and len(self.attr_defaults) == len(names):
            return dict(self.attr_defaults)  # the common case: every attribute by default
        if len(extra) > len(names):
            raise_arity(self, self.nargs + len(extra), node)
        attrs = dict(self.attr_defaults)
        attrs.update(zip(names, extra))
        for key, value in kwargs.items():
            if key not in names:
                known = ", ".join(names) or "no attributes"
                raise ArityError(
                    f"mpgraph: op '{self.name}' has no attribute '{key}' (it takes {known})"
                )
            attrs[key] = value
        missing = [n for n in names if n not in attrs]
        if missing:
            where = f" at node '{node}'" if node else ""
            raise ArityError(
                f"mpgraph: op '{self.name}'{where} needs the attribute"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            )
        return attrs


def raise_arity(op: Op, got: int, node: str | None = None) -> None:
    where = f" at node '{node}'" if node else ""
    raise ArityError(
        f"mpgraph: op '{op.name}'{where} takes {op.nargs} array argument"
        f"{'s' if op.nargs != 1 else ''}, got {got}"
    )


def _takes_keyword(f: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(f).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _signature(op: Op) -> tuple[int, tuple[str, ...], dict[str, Any]]:
    """Split forward's parameters into array arguments and attributes, and check the vjps."""
    if not isinstance(op.name, str) or not op.name:
        raise PluginError(f"mpgraph: an op definition has no name (got {op.name!r})")
    if not callable(op.forward):
        raise PluginError(f"mpgraph: op '{op.name}': forward is not callable")
    try:  # a ufunc's signature lists out=, where=, ...: it takes arrays only
        params = (
            []
            if isinstance(op.forward, np.ufunc)
            else list(inspect.signature(op.forward).parameters.values())
        )
    except (TypeError, ValueError):  # a builtin without a signature: arrays only
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    star = any(p.kind is p.VAR_POSITIONAL for p in params)
    if op.variadic:
        if not callable(op.vjp):
            raise PluginError(
                f"mpgraph: op '{op.name}' is variadic: its vjp must be one callable "
                "vjp(argnum, g, ans, *arrays, **attrs)"
            )
        names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        return -1, tuple(names), _defaults(params, names)
    if callable(op.vjp) or not isinstance(op.vjp, tuple):
        raise PluginError(
            f"mpgraph: op '{op.name}': vjp must be a tuple with one function (or None) "
            f"per array argument, got {type(op.vjp).__name__}"
        )
    nargs = len(op.vjp)
    if params and not star and len(positional) < nargs:
        raise PluginError(
            f"mpgraph: op '{op.name}': forward takes {len(positional)} positional "
            f"argument(s) ({', '.join(p.name for p in positional)}) but vjp has "
            f"{nargs} entries, one per array argument"
        )
    arrays = positional[:nargs]
    names = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p not in arrays
    ]
    attrs = dict.fromkeys(names)
    for i, f in enumerate(op.vjp):
        if f is None:
            continue
        if not callable(f):
            raise PluginError(f"mpgraph: op '{op.name}': vjp entry {i} is not callable")
        try:
            inspect.signature(f).bind(
                *([None] * (2 + nargs)), **attrs, **({"res": None} if op.fwd is not None else {})
            )
        except TypeError as e:
            raise PluginError(
                f"mpgraph: op '{op.name}': vjp entry {i} must accept "
                f"(g, ans, {', '.join(p.name for p in arrays) or '*arrays'}"
                f"{', **attrs' if attrs else ''}): {e}"
            ) from None
        except ValueError:  # no signature to inspect
            pass
    return nargs, tuple(names), _defaults(params, names)


def _check_jvp(op: Op) -> None:
    if op.fwd is not None and not callable(op.fwd):
        raise PluginError(f"mpgraph: op '{op.name}': fwd is not callable")
    jvp = op.jvp
    if jvp is None:
        return
    if op.variadic:
        if not callable(jvp):
            raise PluginError(
                f"mpgraph: op '{op.name}' is variadic: its jvp must be one callable "
                "jvp(argnum, t, ans, *arrays, **attrs)"
            )
        return
    if (
        not isinstance(jvp, tuple)
        or len(jvp) != op.nargs
        or not all(f is None or callable(f) for f in jvp)
    ):
        raise PluginError(
            f"mpgraph: op '{op.name}': jvp must be a tuple with one function (or "
            f"None) per array argument ({op.nargs}), got {jvp!r:.60}"
        )


def _reads(op: Op, needs: Sequence[str]) -> tuple:
    """``needs`` as ``(reads_ans, array positions)`` per vjp entry, each name checked against
    the parameters of the vjp it is for."""
    if op.variadic:
        raise PluginError(f"mpgraph: op '{op.name}' is variadic: it cannot declare needs")
    if not isinstance(needs, (tuple, list)) or len(needs) != op.nargs:
        raise PluginError(
            f"mpgraph: op '{op.name}': needs must be a tuple with one string per "
            f"vjp entry ({op.nargs}), got {needs!r}"
        )
    out = []
    for i, (f, names) in enumerate(zip(op.vjp, needs)):
        if not isinstance(names, str):
            raise PluginError(
                f"mpgraph: op '{op.name}': needs entry {i} must be a string of "
                f'space-separated parameter names ("ans x", "" for none), '
                f"got {type(names).__name__} {names!r}"
            )
        try:
            params = [] if f is None else list(inspect.signature(f).parameters)[1 : 2 + op.nargs]
        except (TypeError, ValueError):  # no signature: the entry must name nothing
            params = []
        positions = []
        for name in names.split():
            if name not in params:
                raise PluginError(
                    f"mpgraph: op '{op.name}': needs entry {i} names '{name}', "
                    f"which vjp entry {i} does not take "
                    f"(it takes {', '.join(params) or 'nothing inspectable'})"
                )
            positions.append(params.index(name))
        out.append((0 in positions, tuple(sorted({p - 1 for p in positions if p}))))
    return tuple(out)


def _defaults(params, names) -> dict[str, Any]:
    return {p.name: p.default for p in params if p.name in names and p.default is not p.empty}


def is_graph_node(x: Any) -> bool:
    """Whether ``x`` is a graph node handle rather than a value. Handles say so themselves
    (``is_graph_node = True`` on their class), so that op definitions need not know the
    engine that builds graphs."""
    return getattr(type(x), "is_graph_node", False) is True
