"""Forward mode and Jacobians inside a traced function: built as graph nodes.

Inside ``mg.grad`` (or on a built Graph's nodes) there are no values to push tangents along,
so ``mg.jvp`` builds its tangent as nodes of the graph being traced, which the enclosing
transformation then differentiates or runs: ``mg.grad(lambda x: mg.jvp(f, (x,), (v,))[1])``.

The tangent is built from vjps alone (the "double vjp"): with ``u`` a fresh variable of the
output's shape, ``vjp(u) = J^T u`` is built as nodes by the symbolic backward pass, and it is
linear in ``u``, so ``J t = d<J^T u, t>/du``, built by a second symbolic backward pass. Every op
on the way needs a differentiable vjp (every built-in op has one), and the result is
differentiable again to any order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine.graph import Graph
from ..engine.node import Node
from ..engine.symbolic import gradients
from ..engine.trace import current_trace, tracing
from ..errors import GraphError, MpgraphError
from ..tree import tree_flatten, tree_unflatten
from .arguments import FlatArgs, fn_name

__all__ = ["NestedTrace", "enclosing_graph"]


def enclosing_graph(args: Sequence[Any]) -> Graph | None:
    """The graph a transformation called on ``args`` must build on: that of a graph node
    among the arguments' leaves, or the one an enclosing transformation is tracing."""
    node = next((a for a in tree_flatten(list(args))[0] if type(a) is Node), None)
    return node.graph if node is not None else current_trace()


class NestedTrace:
    """``fn(*args, **kwargs)`` traced into ``graph`` with fresh variables for the leaves of
    ``args[argnums]``, and the pieces forward mode builds from it.

    Parameters
    ----------
    graph : Graph
        The graph being traced (see :func:`enclosing_graph`).
    fn, args, kwargs, argnums, has_aux, what
        As :class:`~mpgraph.transforms.traced.Traced`'s.

    Attributes
    ----------
    flat : FlatArgs
        The arguments, flattened.
    inputs : list of Node
        One fresh variable per differentiated leaf (so that a node the function also closes
        over is not differentiated as if it were the argument).
    out_leaves, out_def, aux
        The output's leaves (nodes, or values that depend on no input), its structure, and
        with ``has_aux`` the auxiliary output as the function returned it.

    Raises
    ------
    MpgraphError
        As ``Traced``'s: a leaf that is not a float array, ``has_aux`` without a pair.
    """

    def __init__(
        self,
        graph: Graph,
        fn: Callable,
        args: Sequence[Any],
        kwargs: dict,
        argnums: int | Sequence[int],
        has_aux: bool,
        what: str,
    ) -> None:
        self.graph, self.fn, self.what = graph, fn, what
        self.flat = FlatArgs(fn, args, argnums)
        flat = list(self.flat.flat)
        with graph.scope(what):
            for i in self.flat.leaf_argnums:
                leaf = flat[i]
                flat[i] = graph.apply(
                    "add", [leaf if type(leaf) is Node else graph.constant(leaf), 0.0]
                )
        self.inputs = [flat[i] for i in self.flat.leaf_argnums]
        with tracing(graph):
            out = self.flat.function(kwargs)(*flat)
        self.aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise MpgraphError(
                    f"mpgraph: with has_aux=True, {fn_name(fn)} must return "
                    f"(output, aux); it returned {type(out).__name__}"
                )
            out, self.aux = out
        self.out_leaves, self.out_def = tree_flatten(out)
        self._vjp: tuple | None = None

    def outputs(self) -> Any:
        """The function's output: nodes of the graph."""
        return tree_unflatten(self.out_def, self.out_leaves)

    def _transposable(self) -> tuple[list, list]:
        """``J^T u`` as nodes: one fresh variable ``u`` per float output leaf, and the
        gradient of ``sum <out, u>`` with respect to every input (built once)."""
        if self._vjp is None:
            g = self.graph
            us: list = []
            terms = []
            with g.scope(self.what):
                for o in self.out_leaves:
                    if type(o) is not Node or (o.dtype is not None and o.dtype.kind != "f"):
                        us.append(None)
                        continue
                    if o.shape is None or None in o.shape:
                        raise MpgraphError(
                            f"mpgraph: {self.what} of {fn_name(self.fn)} inside a traced "
                            f"function needs the output's shape, and node '{o.name}' has "
                            f"shape {o.shape}: declare the inputs' shapes, e.g. "
                            "g.input('x', shape=(2, 3))"
                        )
                    zero = g.constant(np.zeros(o.shape, o.dtype or np.float64))
                    u = g.apply("add", [zero, 0.0])
                    us.append(u)
                    terms.append(g.apply("sum", [g.apply("multiply", [o, u])]))
            if terms:
                vjps = self._build(lambda: gradients(_total(g, terms), self.inputs))
            else:
                vjps = [None] * len(self.inputs)
            self._vjp = (us, vjps)
        return self._vjp

    def _build(self, make: Callable) -> Any:
        try:
            return make()
        except GraphError as e:
            raise GraphError(
                f"mpgraph: {self.what} of {fn_name(self.fn)} inside a traced function builds "
                "its tangents as graph nodes by transposing the vjps, which needs every op "
                f"on the way to have a differentiable vjp: {str(e).removeprefix('mpgraph: ')}"
            ) from e

    def tangents(self, tangents: Sequence[Any]) -> Any:
        """The output's tangent (nodes) for one tangent per input leaf (nodes or arrays)."""
        us, vjps = self._transposable()
        g = self.graph
        with g.scope(self.what):
            terms = [
                g.apply("sum", [g.apply("multiply", [v, t])])
                for v, t in zip(vjps, tangents)
                if v is not None
            ]
            live = [u for u in us if u is not None]
            if terms and live:
                outs = iter(self._build(lambda: gradients(_total(g, terms), live)))
            else:
                outs = iter([self._zero(u) for u in live])
            leaves = [
                self._zero(o) if u is None else next(outs) for o, u in zip(self.out_leaves, us)
            ]
        return tree_unflatten(self.out_def, leaves)

    def _zero(self, leaf: Any) -> Node:
        shape = leaf.shape if type(leaf) is Node else np.shape(leaf)
        dtype = leaf.dtype if type(leaf) is Node else np.result_type(leaf)
        if dtype is None or dtype.kind != "f":
            dtype = np.float64
        return self.graph.constant(np.zeros(shape, dtype))

    def input_tangents(self, tangents: Sequence[Any]) -> list:
        """Tangents in the structure of the differentiated arguments (one pytree per argnum),
        as one per input leaf, checked as :meth:`Traced.input_tangents` checks them."""
        leaves = self.flat.tangent_leaves(tangents)
        for node, t in zip(self.inputs, leaves):
            if np.shape(t) != node.shape and not (type(t) is Node and t.shape is None):
                raise MpgraphError(
                    f"mpgraph: a tangent has shape {np.shape(t)}; its primal has shape {node.shape}"
                )
        return leaves

    def jacobian(self, mode: str) -> Any:
        """The Jacobian as nodes, laid out as :meth:`Traced.jacobian`'s: rows by symbolic
        backward passes seeded with each output element (``"rev"``), or columns by tangents
        along each input element (``"fwd"``)."""
        for x in self.inputs:
            if x.shape is None or None in x.shape:
                raise MpgraphError(
                    f"mpgraph: {self.what} inside a traced function needs the arguments' "
                    f"shapes; '{x.name}' has shape {x.shape}"
                )
        blocks: list = [[None] * len(self.inputs) for _ in self.out_leaves]
        if mode == "fwd":
            for b, x in enumerate(self.inputs):
                cols: list = [[] for _ in self.out_leaves]
                for e in np.ndindex(*x.shape):
                    basis = np.zeros(x.shape)
                    basis[e] = 1.0
                    col = self.tangents(
                        [basis if i == b else np.zeros(w.shape) for i, w in enumerate(self.inputs)]
                    )
                    for a, leaf in enumerate(tree_flatten(col)[0]):
                        cols[a].append(leaf)
                for a, o in enumerate(self.out_leaves):
                    blocks[a][b] = self._gather(cols[a], _shape(o), x.shape, outer_first=False)
        else:
            for a, o in enumerate(self.out_leaves):
                rows: list = [[] for _ in self.inputs]
                for e in np.ndindex(*_shape(o)):
                    if type(o) is Node and (o.dtype is None or o.dtype.kind == "f"):
                        seed = np.zeros(o.shape, o.dtype or np.float64)
                        seed[e] = 1.0
                        grads = self._build(
                            lambda o=o, seed=seed: gradients(o, self.inputs, seed=seed)
                        )
                    else:
                        grads = [self._zero(x) for x in self.inputs]
                    for b, row in enumerate(grads):
                        rows[b].append(row)
                for b, x in enumerate(self.inputs):
                    blocks[a][b] = self._gather(rows[b], _shape(o), x.shape, outer_first=True)
        return tree_unflatten(self.out_def, [self.flat.regroup(row) for row in blocks])

    def _gather(self, pieces: list, out_shape: tuple, in_shape: tuple, outer_first: bool):
        """One Jacobian block of shape ``out_shape + in_shape`` from its rows (each of
        ``in_shape``, one per output element) or columns (each of ``out_shape``, one per
        input element)."""
        g = self.graph
        with g.scope(self.what):
            if not pieces:
                return g.constant(np.zeros(out_shape + in_shape))
            stacked = g.apply("stack", list(pieces), {"axis": 0 if outer_first else -1})
            return g.apply("reshape", [stacked], {"shape": out_shape + in_shape})


def _shape(leaf: Any) -> tuple:
    return leaf.shape if type(leaf) is Node else np.shape(leaf)


def _total(g: Graph, terms: list) -> Node:
    return functools.reduce(lambda a, b: g.apply("add", [a, b]), terms)
