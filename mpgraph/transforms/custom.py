"""Custom derivatives for Python functions: ``mg.custom_vjp`` and ``mg.custom_jvp``.

A decorated function becomes one op node in the graph (named after the function) whose
derivative is the one the user wrote, as JAX's ``jax.custom_vjp`` / ``jax.custom_jvp`` and
PyTorch's ``autograd.Function``. Called on arrays it simply runs.

- ``custom_vjp``: ``f.defvjp(fwd, bwd)`` with ``fwd(*args) -> (out, res)`` and
  ``bwd(res, g) -> one cotangent per argument``. The residuals live in the run, as every op's
  (``Op.fwd``). Forward mode through it transposes ``bwd`` (which JAX refuses).
- ``custom_jvp``: ``f.defjvp(rule)`` with ``rule(primals, tangents) -> (out, tangent_out)``;
  reverse mode transposes the rule, as JAX does.

``nondiff_argnums`` names arguments that are not differentiated and may be any Python value (a
number, a string, a callable): they are not arguments of the node but constants its functions
close over, passed first to ``bwd`` and to the jvp rule, as in JAX.

Arguments and outputs may be pytrees (:mod:`mpgraph.tree`), as in JAX: the node takes one
argument per leaf; an output of several leaves is the node's value as one vector (the leaves
raveled and concatenated), cut back into the output's leaves by ``getitem`` and ``reshape``
nodes, and the cotangents and tangents travel the same way. The function is also traced once
per signature into a graph of its own, :func:`inside`, which pictures draw when the node is
expanded.

A rule written with operators and ``mg.ops`` can itself be differentiated (higher orders).
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..contract.op import Op
from ..engine import functions as ops
from ..engine.graph import Graph
from ..engine.node import Node
from ..engine.symbolic import gradients
from ..engine.trace import tracing
from ..errors import MpgraphError, TreeError, UsageError
from ..tree import TreeDef, tree_flatten, tree_flatten_with_path, tree_leaves_like, tree_unflatten

__all__ = ["Inside", "custom_jvp", "custom_vjp", "inside"]


class Inside(NamedTuple):
    """A custom function's node: which kind it is, and its function traced into a graph of
    its own.

    Attributes
    ----------
    kind : str
        ``"custom_vjp"``, ``"custom_jvp"`` or ``"checkpoint"``.
    graph : Graph or None
        The traced function; ``None`` when it could not be traced on graph nodes (it
        computes with NumPy directly).
    inputs : list of Node
        One input per argument leaf, in the order of the custom node's arguments.
    outputs : list
        The output's leaves: nodes of ``graph``, or values that depend on no argument.
    """

    kind: str
    graph: Graph | None
    inputs: list
    outputs: list


def inside(node: Node) -> Inside | None:
    """What a ``custom_vjp``, ``custom_jvp`` or ``checkpoint`` node holds inside: its kind and
    its function traced on inputs like the node's arguments; ``None`` for any other node.

    Parameters
    ----------
    node : Node
        A node of a graph.

    Returns
    -------
    Inside or None

    See also
    --------
    custom_vjp, mpgraph.render : ``expand=`` draws the inside of such nodes.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> block = mg.checkpoint(lambda x, w: mg.ops.tanh(x @ w))
    >>> g = mg.Graph()
    >>> y = block(g.input("x", shape=(3, 2)), g.param("w", np.eye(2)))
    >>> inside(y).kind, [n.op.name for n in inside(y).graph if n.kind == "op"]
    ('checkpoint', ['matmul', 'tanh'])
    """
    forward = node.op.forward if node.op is not None else None
    return forward.inside if isinstance(forward, _Forward) else None


class _Forward:
    """A custom node's forward: the function on the leaves of its arguments, its output packed
    as the node's value; it carries the function's traced inside for pictures."""

    def __init__(self, fun: Callable, in_def: TreeDef, layout: _Layout, inner: Inside):
        self.fun, self.in_def, self.layout, self.inside = fun, in_def, layout, inner

    def __call__(self, *arrays: Any) -> Any:
        return self.layout.pack(self.fun(*tree_unflatten(self.in_def, arrays)), "output")


class _Saved:
    """The residuals of one run of a custom_vjp node, and ``bwd``'s cotangents for the last
    error signal it was given: every argument's vjp of the node reads them, ``bwd`` runs once."""

    __slots__ = ("res", "g", "cotangents")

    def __init__(self, res: Any) -> None:
        self.res = res
        self.g = self.cotangents = None


class _Split:
    """One call's arguments split by ``nondiff_argnums``: the differentiable ones, which become
    the node's arguments, and the nondiff ones, which the node's functions close over. It
    keeps no differentiable argument: the Op it goes into must not keep alive the graph of the
    call that built it.

    Attributes
    ----------
    nondiff : tuple of int
        The nondiff positions, counted from the start, in the order of ``nondiff_argnums``.
    static : tuple
        The nondiff arguments in that order: what ``bwd`` and the jvp rule get first.
    positions : list of int
        The positions of the differentiable arguments.
    """

    def __init__(self, nondiff: tuple[int, ...], args: tuple) -> None:
        self.nondiff, self.n = nondiff, len(args)
        self.static = tuple(args[k] for k in nondiff)
        self.positions = [k for k in range(len(args)) if k not in nondiff]

    def full(self, diff: Sequence[Any]) -> tuple:
        """Every argument in its place, given the differentiable ones."""
        args: list = [None] * self.n
        for k, a in zip(self.nondiff, self.static):
            args[k] = a
        for k, a in zip(self.positions, diff):
            args[k] = a
        return tuple(args)

    def bind(self, fn: Callable) -> Callable:
        """``fn``, which takes every argument (the function, ``fwd``), as a function of the
        differentiable ones."""
        return lambda *diff: fn(*self.full(diff))

    def key(self) -> tuple | None:
        """What the node's Op depends on besides the signature of its arguments: the nondiff
        arguments, with their types (``1`` and ``1.0`` may trace differently); ``None`` when
        one is unhashable, and then no Op is kept for the next call."""
        key = tuple((type(a), a) for a in self.static)
        try:
            hash(key)
        except TypeError:
            return None
        return key


class _Layout:
    """How a custom function's output pytree is one node's value: a single leaf as it is;
    several leaves raveled and concatenated into one vector of their common dtype, cut apart
    again after the node."""

    def __init__(self, name: str, out_def: TreeDef, shapes: list, dtypes: list) -> None:
        self.name, self.out_def, self.shapes, self.dtypes = name, out_def, shapes, dtypes
        self.single = out_def.kind == "leaf"
        if self.single:
            self.shape, self.dtype, self.bounds = shapes[0], dtypes[0], None
            return
        if any(s is None or None in s for s in shapes):
            raise MpgraphError(
                f"mpgraph: {name} returns {len(shapes)} arrays, some of unknown shape "
                f"({shapes}): declare the shapes of its arguments' inputs, e.g. "
                "g.input('x', shape=(2, 3))"
            )
        ends = np.cumsum([math.prod(s) for s in shapes]).tolist()
        self.bounds = list(zip([0, *ends[:-1]], ends))
        self.shape = (ends[-1] if ends else 0,)
        self.dtype = np.result_type(*[d or np.float64 for d in dtypes])

    def leaves(self, tree: Any, what: str) -> list:
        """``tree``'s leaves, checked against the output's structure (``None`` for zeros)."""
        if self.single and tree is not None and tree_flatten(tree)[1].kind != "leaf":
            raise MpgraphError(
                f"mpgraph: the {what} of {self.name} does not have the structure of its "
                f"output: expected an array, got {type(tree).__name__}"
            )
        try:
            return tree_leaves_like(self.out_def, tree)
        except TreeError as e:
            raise MpgraphError(
                f"mpgraph: the {what} of {self.name} does not have the structure of its "
                f"output: {str(e).removeprefix('mpgraph: ')}"
            ) from None

    def pack(self, tree: Any, what: str) -> Any:
        """The node's value (or a tangent of it) from the output's (or a tangent's) pytree."""
        leaves = self.leaves(tree, what)
        if self.single:
            return leaves[0]
        return np.concatenate(
            [
                np.zeros(math.prod(s), self.dtype)
                if leaf is None
                else np.ravel(np.broadcast_to(np.asarray(leaf, self.dtype), s))
                for leaf, s in zip(leaves, self.shapes)
            ]
        )

    def unpack(self, packed: Any) -> list:
        """The output's leaves from the node's value (or an error signal for it), as arrays
        or as graph nodes."""
        if self.single:
            return [packed]
        out = []
        for (a, b), shape, dtype in zip(self.bounds, self.shapes, self.dtypes):
            if type(packed) is Node:
                piece = ops.reshape(ops.getitem(packed, slice(a, b)), shape)
                if dtype is not None and dtype != self.dtype:
                    piece = ops.astype(piece, dtype)
            else:
                piece = np.asarray(packed)[a:b].reshape(shape)
                if dtype is not None and dtype != self.dtype:
                    piece = piece.astype(dtype)
            out.append(piece)
        return out


class _Custom:
    """What custom_vjp and custom_jvp share: the wrapped function, its nondiff positions, and
    one Op per signature (the differentiable arguments' structure, each leaf's shape and
    dtype, and the nondiff arguments)."""

    kind = "custom"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = self._check_nondiff_argnums(nondiff_argnums)
        self._ops: dict[tuple, tuple[Op, _Layout]] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise MpgraphError(
                f"mpgraph: {self.__name__} (a {self.kind} function) "
                "takes its arguments by position only; bind keywords with "
                "functools.partial first"
            )
        self._check_rule()
        split = _Split(self._nondiff_positions(args), args)
        leaves, in_def = tree_flatten(tuple(args[k] for k in split.positions))
        graph = next((a.graph for a in leaves if type(a) is Node), None)
        for k in split.positions:
            for path, leaf in tree_flatten_with_path(args[k])[0]:
                self._check_leaf(k, path, leaf)
        if graph is None:
            return self.fun(*args)
        static = split.key()
        key = (in_def, tuple(_signature(a) for a in leaves), static)
        entry = self._ops.get(key)
        if entry is None:
            entry = self._build(args, split, in_def, leaves)
            if static is not None:
                # a fresh callable as a nondiff argument on every call must not keep every
                # trace alive
                if len(self._ops) >= _KEPT_OPS:
                    del self._ops[next(iter(self._ops))]
                self._ops[key] = entry
        op, layout = entry
        return tree_unflatten(layout.out_def, layout.unpack(graph.apply(op, leaves)))

    def _check_rule(self) -> None:
        raise NotImplementedError

    def _op(
        self, in_def: TreeDef, leaves: list, layout: _Layout, inner: Inside, split: _Split
    ) -> Op:
        raise NotImplementedError

    def _check_nondiff_argnums(self, nums: Sequence[int]) -> tuple[int, ...]:
        """``nondiff_argnums`` as a tuple of ints, each named once."""
        try:
            out = tuple(operator.index(k) for k in nums)
        except TypeError:
            raise UsageError(
                f"mpgraph: nondiff_argnums of {self.__name__} (a {self.kind} function) must "
                f"be a tuple of ints, e.g. (1,); got {nums!r}"
            ) from None
        twice = next((k for i, k in enumerate(out) if k in out[:i]), None)
        if twice is not None:
            raise UsageError(
                f"mpgraph: nondiff_argnums {out} of {self.__name__} (a {self.kind} function) "
                f"name argument {twice} twice"
            )
        return out

    def _nondiff_positions(self, args: tuple) -> tuple[int, ...]:
        """The nondiff positions of this call, counted from the start (a negative one counts
        from the end, as a Python index), each in range, once, and holding no graph node."""
        n = len(args)
        where = f"{self.__name__} (a {self.kind} function)"
        positions = []
        for k in self.nondiff_argnums:
            if not -n <= k < n:
                raise UsageError(
                    f"mpgraph: nondiff_argnums {self.nondiff_argnums} of {where} ask for "
                    f"argument {k}, but {self.__name__} got {n} argument{'s' * (n != 1)}"
                )
            if k % n in positions:
                raise UsageError(
                    f"mpgraph: nondiff_argnums {self.nondiff_argnums} of {where} name argument "
                    f"{k % n} twice: with {n} arguments, {k} is argument {k % n}"
                )
            positions.append(k % n)
        for k in positions:
            for path, leaf in tree_flatten_with_path(args[k])[0]:
                if type(leaf) is Node:
                    raise UsageError(
                        f"mpgraph: argument {k}{' leaf ' + path if path else ''} of {where} is "
                        f"graph node '{leaf.name}', but position {k} is in nondiff_argnums: a "
                        "nondiff argument is a constant of the node and cannot depend on what "
                        "is traced or differentiated, as in JAX; pass it as an ordinary "
                        "argument (bwd may return None for it)"
                    )
        return tuple(positions)

    def _check_leaf(self, k: int, path: str, leaf: Any) -> None:
        if type(leaf) is Node:
            return
        try:
            kind = np.asarray(leaf).dtype.kind
        except ValueError:  # a ragged list of numbers
            kind = "O"
        if kind not in "biuf":
            where = f"argument {k}{' leaf ' + path if path else ''}"
            raise MpgraphError(
                f"mpgraph: {where} of {self.__name__} (a {self.kind} function) is "
                f"{type(leaf).__name__} ({leaf!r:.40}), not an array: its arguments must be "
                "real arrays or numbers, or nested dicts, lists, tuples and namedtuples of "
                "them; bind anything else with functools.partial first, or name its position "
                "in nondiff_argnums"
            )

    def _build(
        self, args: tuple, split: _Split, in_def: TreeDef, leaves: list
    ) -> tuple[Op, _Layout]:
        """Trace the function on inputs like ``leaves`` (the nondiff arguments as they are) for
        its output's structure, shapes and dtypes (and its inside); when it cannot be traced
        (it computes with NumPy directly), run it on zero stand-ins instead."""
        fun = split.bind(self.fun)
        names = _input_names(self.fun, args, split.positions)
        inner = Inside(self.kind, None, [], [])
        try:
            g = Graph()
            ins = [g.input(n, _shape_of(a), _dtype_of(a)) for n, a in zip(names, leaves)]
            with tracing(g):
                out = fun(*tree_unflatten(in_def, ins))
            if any(isinstance(o, np.ndarray) and o.dtype == object for o in tree_flatten(out)[0]):
                raise TypeError("NumPy turned the graph nodes into an array of objects")
            inner = Inside(self.kind, g, ins, tree_flatten(out)[0])
        except Exception as e:  # NumPy code that meets a node: fall back to stand-ins
            if any(_shape_of(a) is None or None in _shape_of(a) for a in leaves):
                raise MpgraphError(
                    f"mpgraph: {self.__name__} (a {self.kind} function) could not be traced "
                    f"on graph nodes ({type(e).__name__}: {e}), and its arguments' shapes "
                    "are not all known to run it on stand-ins: declare them, e.g. "
                    "g.input('x', shape=(2, 3))"
                ) from e
            stand_ins = [np.zeros(_shape_of(a), _dtype_of(a) or np.float64) for a in leaves]
            with np.errstate(all="ignore"):
                out = fun(*tree_unflatten(in_def, stand_ins))
        pairs, out_def = tree_flatten_with_path(out)
        shapes, dtypes = [], []
        for path, leaf in pairs:
            if type(leaf) is Node:
                if leaf.graph is not inner.graph:
                    raise MpgraphError(
                        f"mpgraph: {self.__name__} (a {self.kind} function) returns graph "
                        f"node '{leaf.name}' that is not computed from its arguments: pass "
                        "every node it uses as an argument, as in JAX"
                    )
                shapes.append(leaf.shape)
                dtypes.append(leaf.dtype)
                continue
            try:
                arr = np.asarray(leaf)
                ok = arr.dtype.kind in "biuf"
            except ValueError:
                ok = False
            if not ok:
                raise MpgraphError(
                    f"mpgraph: output{' leaf ' + path if path else ''} of {self.__name__} "
                    f"(a {self.kind} function) is {type(leaf).__name__} ({leaf!r:.40}), not "
                    "an array: it must return real arrays, or nested dicts, lists, tuples "
                    "and namedtuples of them"
                )
            shapes.append(arr.shape)
            dtypes.append(arr.dtype)
        if not pairs:
            raise MpgraphError(
                f"mpgraph: {self.__name__} (a {self.kind} function) returns no array"
            )
        layout = _Layout(f"{self.__name__} (a {self.kind} function)", out_def, shapes, dtypes)
        return self._op(in_def, leaves, layout, inner, split), layout

    def _arrays(self, in_def: TreeDef, leaves: Sequence[Any]) -> tuple:
        """The function's positional arguments from the node's argument leaves."""
        return tree_unflatten(in_def, list(leaves))

    def _rules(self, layout: _Layout) -> dict:
        """The Op's shape and dtype rules: what the trace found, fixed for this signature."""
        rules: dict = {"dtype": lambda *dtypes: layout.dtype}
        if layout.shape is not None and None not in layout.shape:
            rules["shape"] = lambda *shapes: layout.shape
        return rules

    def _per_argument(self, what: str, out: Any, in_def: TreeDef, split: _Split) -> list:
        """A rule's result with one entry per differentiable argument (a pytree like it, or
        ``None``), as one entry per argument leaf (``None`` for zero)."""
        nargs = len(in_def.children)
        if not isinstance(out, (tuple, list)) or len(out) != nargs:
            got = (
                f"a {type(out).__name__} of {len(out)}"
                if isinstance(out, (tuple, list))
                else type(out).__name__
            )
            raise MpgraphError(
                f"mpgraph: {what} of {self.__name__} must return a tuple with one entry per "
                f"argument{' not in nondiff_argnums' if split.nondiff else ''} ({nargs}); it "
                f"returned {got}"
            )
        leaves = []
        for k, (d, entry, position) in enumerate(zip(in_def.children, out, split.positions)):
            try:
                leaves.extend(tree_leaves_like(d, entry))
            except TreeError as e:
                raise MpgraphError(
                    f"mpgraph: {what} of {self.__name__}: entry {k} must have the structure "
                    f"of argument {position} (or be None): {str(e).removeprefix('mpgraph: ')}"
                ) from None
        return leaves


class custom_vjp(_Custom):
    """Give a Python function its own vector-Jacobian product, as ``jax.custom_vjp``.

    Parameters
    ----------
    fun : callable
        ``fun(*args) -> output``; the arguments and the output are arrays or pytrees of
        arrays (nested dicts, lists, tuples and namedtuples).
    nondiff_argnums : sequence of int
        Positions of arguments that are not differentiated, as in JAX: each may be any
        Python value (a number, a string, a callable, an array taken as a constant) but not a
        graph node. ``fwd`` gets every argument in its place; ``bwd`` gets the nondiff ones
        first, in the order of ``nondiff_argnums``, then the residuals and ``g``, and returns
        cotangents for the other arguments only. A negative position counts from the end of
        the call's arguments.

    Returns
    -------
    custom_vjp
        A function like ``fun``; called on arrays it runs ``fun``, called on graph nodes (or
        under ``mg.grad``) it builds one node whose vjp is ``bwd``'s.

    Raises
    ------
    UsageError
        ``nondiff_argnums`` not ints or naming an argument twice; when called: a nondiff
        position out of range for the call's arguments, or a nondiff argument that is (or
        holds) a graph node: it would depend on what is differentiated.
    MpgraphError
        When called: no rule set, keyword arguments, an argument or output leaf that is not a
        real array; when differentiated: ``fwd``'s output or ``bwd``'s cotangents without
        the structure of the output or of the arguments.

    Examples
    --------
    The gradient of ``log(1 + e^x)`` written stably by hand:

    >>> import numpy as np, mpgraph as mg
    >>> @mg.custom_vjp
    ... def softplus(x):
    ...     return mg.ops.log1p(mg.ops.exp(x))
    >>> def fwd(x):
    ...     return softplus(x), x                      # the residual: x itself
    >>> def bwd(x, g):
    ...     return (g * mg.ops.sigmoid(x),)             # one cotangent per argument
    >>> softplus.defvjp(fwd, bwd)
    >>> float(mg.grad(softplus)(0.0))
    0.5
    >>> round(float(mg.grad(mg.grad(softplus))(0.0)), 6)   # bwd is differentiable: sigmoid'(0)
    0.25

    Pytrees in and out: ``bwd`` gets the output's cotangent in the output's structure and
    gives one cotangent per argument in that argument's structure (``None`` for zero).

    >>> @mg.custom_vjp
    ... def affine(p, x):
    ...     return {"y": p["w"] * x + p["b"], "x": x}
    >>> affine.defvjp(lambda p, x: (affine(p, x), (p, x)),
    ...               lambda r, g: ({"w": mg.ops.sum(g["y"] * r[1]), "b": mg.ops.sum(g["y"])},
    ...                             g["y"] * r[0]["w"] + g["x"]))
    >>> loss = lambda p, x: mg.ops.sum(affine(p, x)["y"] ** 2)
    >>> mg.grad(loss)({"w": 2.0, "b": 1.0}, np.array([1.0, 2.0]))   # 2 y x, 2 y with y = 3, 5
    {'b': array(16.), 'w': array(26.)}

    A bound that is not differentiated: ``bwd`` gets it first, and returns one cotangent,
    for ``x``.

    >>> from functools import partial
    >>> @partial(mg.custom_vjp, nondiff_argnums=(1,))
    ... def clip_gradient(x, bound):
    ...     return x * 1.0
    >>> clip_gradient.defvjp(lambda x, bound: (clip_gradient(x, bound), None),
    ...                      lambda bound, res, g: (mg.ops.clip(g, -bound, bound),))
    >>> mg.grad(lambda x: mg.ops.sum(clip_gradient(x, 0.5) * 3.0))(np.array([1.0, 2.0]))
    array([0.5, 0.5])
    >>> mg.grad(lambda x: mg.ops.sum(clip_gradient(x, x)))(np.array([1.0, 2.0]))
    Traceback (most recent call last):
    ...
    mpgraph.errors.UsageError: mpgraph: argument 1 of clip_gradient ... is graph node 'arg0', ...

    See also
    --------
    custom_jvp, mpgraph.checkpoint, mpgraph.ops.stop_gradient, inside
    """

    kind = "custom_vjp"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set the rule: ``fwd(*args) -> (out, res)``, ``bwd(res, g) -> tuple`` of one
        cotangent per argument (a pytree like the argument, or ``None`` for none); with
        ``nondiff_argnums``, ``bwd(*nondiff_args, res, g)`` and one cotangent per other
        argument.

        Parameters
        ----------
        fwd : callable
            The primal output and the residuals ``bwd`` reads, given every argument.
        bwd : callable
            The cotangents, given the nondiff arguments (if any), the residuals and the
            output's error signal ``g`` (in the output's structure).

        Returns
        -------
        None
        """
        self.fwd, self.bwd = fwd, bwd
        self._ops.clear()

    def _check_rule(self) -> None:
        if self.bwd is None:
            raise MpgraphError(
                f"mpgraph: custom_vjp function {self.__name__} has no rule: call "
                f"{self.__name__}.defvjp(fwd, bwd) first"
            )

    def _op(
        self, in_def: TreeDef, leaves: list, layout: _Layout, inner: Inside, split: _Split
    ) -> Op:
        fwd, bwd = split.bind(self.fwd), functools.partial(self.bwd, *split.static)

        def save(*arrays):
            out, res = fwd(*self._arrays(in_def, arrays))
            return layout.pack(out, "output of fwd"), _Saved(res)

        def cotangents(res: Any, g: Any) -> list:
            ct = bwd(res, tree_unflatten(layout.out_def, layout.unpack(g)))
            return self._per_argument("bwd", ct, in_def, split)

        def cotangent(k: int) -> Callable:
            def vjp(g, ans, *arrays, res=None):
                if res is None:  # built as graph nodes: run fwd on them for the residuals
                    return cotangents(fwd(*self._arrays(in_def, arrays))[1], g)[k]
                if res.g is not g:
                    res.cotangents, res.g = cotangents(res.res, g), g
                return res.cotangents[k]

            return vjp

        return Op(
            self.__name__,
            _Forward(split.bind(self.fun), in_def, layout, inner),
            tuple(cotangent(k) if _differentiable(a) else None for k, a in enumerate(leaves)),
            fwd=save,
            differentiable_vjp=True,
            doc=self.fun.__doc__ or f"custom_vjp {self.__name__}",
            **self._rules(layout),
        )


class custom_jvp(_Custom):
    """Give a Python function its own Jacobian-vector product, as ``jax.custom_jvp``.

    Forward mode calls the rule; reverse mode transposes it (the rule is linear in the
    tangents), so the rule must be written with operators and ``mg.ops``.

    Parameters
    ----------
    fun : callable
        ``fun(*args) -> output``, arrays or pytrees of them.
    nondiff_argnums : sequence of int
        Positions of arguments that are not differentiated (any Python value but a graph
        node), as in JAX: the rule gets them first, in the order of ``nondiff_argnums``, and
        ``primals`` and ``tangents`` hold the other arguments only; ``fun`` gets every
        argument in its place.

    Returns
    -------
    custom_jvp
        A function like ``fun``; on graph nodes (or under a transformation) one node.

    Raises
    ------
    UsageError
        As :class:`custom_vjp`'s, for ``nondiff_argnums``.
    MpgraphError
        As :class:`custom_vjp`'s, for the rule's output and tangent.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> @mg.custom_jvp
    ... def f(x):
    ...     return mg.ops.sin(x)
    >>> f.defjvp(lambda primals, tangents: (f(primals[0]), mg.ops.cos(primals[0]) * tangents[0]))
    >>> float(mg.jvp(f, (0.0,), (2.0,))[1])          # cos(0) * 2
    2.0
    >>> float(mg.grad(f)(0.0))                       # the rule, transposed
    1.0

    An activation chosen by name, which is not differentiated:

    >>> from functools import partial
    >>> @partial(mg.custom_jvp, nondiff_argnums=(0,))
    ... def act(name, x):
    ...     return mg.ops.tanh(x) if name == "tanh" else mg.ops.sigmoid(x)
    >>> def act_jvp(name, primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     y = act(name, x)
    ...     return y, (1 - y * y if name == "tanh" else y * (1 - y)) * t
    >>> act.defjvp(act_jvp)
    >>> float(mg.grad(lambda x: act("sigmoid", x))(0.0)), float(mg.grad(partial(act, "tanh"))(0.0))
    (0.25, 1.0)

    See also
    --------
    custom_vjp, mpgraph.jvp, inside
    """

    kind = "custom_jvp"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.rule: Callable | None = None

    def defjvp(self, rule: Callable) -> None:
        """Set the rule ``rule(primals, tangents) -> (out, tangent_out)``, ``primals`` and
        ``tangents`` tuples with one entry per argument (pytrees like the arguments), the
        output's tangent in the output's structure; with ``nondiff_argnums``,
        ``rule(*nondiff_args, primals, tangents)`` and one entry per other argument.

        Parameters
        ----------
        rule : callable
            The primal output and its tangent; linear in ``tangents``.

        Returns
        -------
        None
        """
        self.rule = rule
        self._ops.clear()

    def _check_rule(self) -> None:
        if self.rule is None:
            raise MpgraphError(
                f"mpgraph: custom_jvp function {self.__name__} has no rule: call "
                f"{self.__name__}.defjvp(rule) first"
            )

    def _op(
        self, in_def: TreeDef, leaves: list, layout: _Layout, inner: Inside, split: _Split
    ) -> Op:
        rule = functools.partial(self.rule, *split.static)

        def tangent(k: int) -> Callable:
            def jvp(t, ans, *arrays):
                tangents: list = [np.zeros(np.shape(a), _float(a)) for a in arrays]
                tangents[k] = t
                out = rule(self._arrays(in_def, arrays), self._arrays(in_def, tangents))
                return layout.pack(self._rule_tangent(out), "tangent from the rule")

            return jvp

        def cotangent(k: int) -> Callable:
            def vjp(g, ans, *arrays):
                return self._transpose(rule, k, g, arrays, in_def, layout)

            return vjp

        diff = [_differentiable(a) for a in leaves]
        return Op(
            self.__name__,
            _Forward(split.bind(self.fun), in_def, layout, inner),
            tuple(cotangent(k) if d else None for k, d in enumerate(diff)),
            jvp=tuple(tangent(k) if d else None for k, d in enumerate(diff)),
            differentiable_vjp=True,
            doc=self.fun.__doc__ or f"custom_jvp {self.__name__}",
            **self._rules(layout),
        )

    def _rule_tangent(self, out: Any) -> Any:
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise MpgraphError(
                f"mpgraph: the jvp rule of {self.__name__} must return (output, "
                f"tangent_output); it returned {type(out).__name__}"
            )
        return out[1]

    def _transpose(
        self, rule: Callable, k: int, g: Any, arrays: tuple, in_def: TreeDef, layout: _Layout
    ) -> Any:
        """The message to argument leaf ``k``: the transpose of ``rule``'s linear map from
        tangent ``k`` to the output's tangent, applied to ``g``: d<g, rule(.., t_k, ..)>/dt_k.

        On arrays the rule is built in a scratch graph and differentiated there; as graph
        nodes (a higher-order derivative) it is built into the enclosing graph, and so is its
        gradient."""
        graph = next((v.graph for v in (g, *arrays) if type(v) is Node), None)
        on_nodes = graph is not None
        graph = graph or Graph()
        with graph.scope(f"{self.__name__}_transpose"):
            primals = [a if type(a) is Node else graph.constant(a) for a in arrays]
            # The rule is linear in the tangents, so their values do not matter: zeros, the
            # one for leaf k a node of its own to differentiate with respect to.
            tangents = [graph.constant(np.zeros(p.shape, _float(p))) for p in primals]
            t = tangents[k] = graph.apply("add", [tangents[k], 0.0])
            out_t = self._rule_tangent(
                rule(self._arrays(in_def, primals), self._arrays(in_def, tangents))
            )
            terms = [
                graph.apply("sum", [graph.apply("multiply", [o, gi])])
                for o, gi in zip(layout.leaves(out_t, "tangent from the rule"), layout.unpack(g))
                if type(o) is Node
            ]
            if not terms:  # the output's tangent does not depend on leaf k
                zero = np.zeros(t.shape, t.dtype or np.float64)
                return graph.constant(zero) if on_nodes else zero
            loss = functools.reduce(lambda a, b: graph.apply("add", [a, b]), terms)
            return gradients(loss, [t])[0] if on_nodes else graph.grad(loss, wrt=t)


_KEPT_OPS = 256  # Ops kept per custom function, the oldest dropped first


def _signature(a: Any) -> tuple:
    return (_shape_of(a), _dtype_of(a))


def _shape_of(a: Any) -> tuple | None:
    return a.shape if type(a) is Node else np.shape(a)


def _dtype_of(a: Any) -> np.dtype | None:
    if type(a) is Node:
        return a.dtype
    return None if type(a) in (float, int, bool) else np.asarray(a).dtype


def _float(a: Any) -> np.dtype:
    """The dtype of ``a``'s tangent: its own if float, float64 otherwise."""
    dtype = _dtype_of(a)
    return dtype if dtype is not None and dtype.kind == "f" else np.dtype(np.float64)


def _differentiable(a: Any) -> bool:
    dtype = _dtype_of(a)
    return dtype is None or dtype.kind == "f"


def _input_names(fun: Callable, args: tuple, positions: Sequence[int]) -> list[str]:
    """Names for the inputs of the traced inside, one per leaf of a differentiable argument:
    the function's parameter names, with a leaf's path in its argument (``params.w``)."""
    try:
        params = [
            p.name
            for p in inspect.signature(fun).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    names = []
    for k in positions:
        base = params[k] if k < len(params) else f"arg{k}"
        for path, _ in tree_flatten_with_path(args[k])[0]:
            names.append(base + re.sub(r"\[\'?([^\]']*)\'?\]", r".\1", path))
    return names
