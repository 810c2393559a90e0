"""A function traced once into a Graph and run: what forward mode and the Jacobians work on.

:class:`Traced` turns the differentiated leaves of the arguments into graph inputs, calls the
function on them (so an ``mg.grad`` inside builds its gradient as nodes of the same graph),
runs the graph forward once, and keeps the Run, on which tangent passes (``run.jvp``) and
backward passes (``run.backward``) can then be repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..backend import as_array, to_numpy
from ..engine.graph import Graph
from ..engine.node import Node
from ..engine.trace import tracing
from ..errors import MpgraphError
from ..tree import tree_flatten, tree_map, tree_unflatten
from .arguments import FlatArgs, fn_name

__all__ = ["Traced"]


class Traced:
    """``fn(*args, **kwargs)`` traced with the leaves of ``args[argnums]`` as graph inputs.

    Parameters
    ----------
    fn : callable
        Written with operators and ``mg.ops``; returns a pytree of arrays (with ``has_aux``,
        ``(pytree, aux)``).
    args, kwargs
        The call's arguments.
    argnums : int or sequence of int
        The arguments (pytrees of float arrays) that become inputs.
    has_aux : bool
        ``fn`` returns ``(out, aux)``; ``aux`` is evaluated and passed through.
    what : str
        The transformation's name, for messages.

    Attributes
    ----------
    flat : FlatArgs
        The arguments, flattened.
    inputs : list of Node
        One input per differentiated leaf, in the order of ``flat.leaf_argnums``.
    out_leaves : list
        The output's leaves: nodes, or values that do not depend on the inputs.
    out_def : TreeDef
        The output's structure.
    run : Run or None
        The forward run of every output node (``None`` when no output is a node).
    aux : Any
        With ``has_aux``, the auxiliary output, its nodes replaced by their values.

    Raises
    ------
    MpgraphError
        With ``has_aux``, ``fn`` does not return a pair. (Inside another transformation's
        trace, :class:`~mpgraph.transforms.nested.NestedTrace` builds on its graph instead.)
    """

    def __init__(
        self,
        fn: Callable,
        args: Sequence[Any],
        kwargs: dict,
        argnums: int | Sequence[int],
        has_aux: bool,
        what: str,
    ) -> None:
        self.flat = FlatArgs(fn, args, argnums)
        g = self.graph = Graph()
        flat = list(self.flat.flat)
        self.inputs: list[Node] = []
        feed = {}
        for i, name in zip(self.flat.leaf_argnums, self.flat.leaf_names):
            arr = as_array(flat[i])
            node = g.input(name, shape=tuple(arr.shape), dtype=arr.dtype)
            flat[i] = node
            self.inputs.append(node)
            feed[node] = arr
        with tracing(g):
            out = self.flat.function(kwargs)(*flat)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise MpgraphError(
                    f"mpgraph: with has_aux=True, {fn_name(fn)} must return "
                    f"(output, aux); it returned {type(out).__name__}"
                )
            out, aux = out
        self.out_leaves, self.out_def = tree_flatten(out)
        aux_nodes = [a for a in tree_flatten(aux)[0] if type(a) is Node]
        nodes = [o for o in self.out_leaves if type(o) is Node] + aux_nodes
        self.run = g.forward(list(dict.fromkeys(nodes)), feed) if nodes else None
        self.aux = tree_map(self.value, aux) if has_aux else None

    def value(self, leaf: Any) -> Any:
        """A leaf's value: a node's value in the run, anything else as it is."""
        return self.run[leaf] if type(leaf) is Node else leaf

    def outputs(self) -> Any:
        """The function's output, with values for nodes."""
        return tree_unflatten(
            self.out_def,
            [as_array(self.value(o)) if type(o) is Node else o for o in self.out_leaves],
        )

    def output_tangents(self, tangents: dict) -> Any:
        """Forward mode: the output's tangent for ``tangents`` (input node -> array)."""
        run = self.run
        if run is not None:
            run.jvp(tangents)
        out = []
        for o in self.out_leaves:
            if type(o) is Node:  # the run's tangent, a fresh array, zeros where none arrived
                out.append(run.tangents_of([o])[0])
            else:  # an output that does not depend on the arguments
                value = as_array(o)
                out.append(np.zeros_like(value, dtype=np.promote_types(value.dtype, np.float64)))
        return tree_unflatten(self.out_def, out)

    def input_tangents(self, tangents: Sequence[Any]) -> dict:
        """Tangents given in the structure of the differentiated arguments (one pytree per
        argnum, as a tuple), as input node -> array.

        Raises
        ------
        MpgraphError
            A tangent's structure or a leaf's shape differs from its primal's.
        """
        leaves = self.flat.tangent_leaves(tangents)
        out = {}
        for node, t in zip(self.inputs, leaves):
            if np.shape(t) != node.shape:
                raise MpgraphError(
                    f"mpgraph: a tangent has shape {np.shape(t)}; its primal "
                    f"('{node.name}') has shape {node.shape}"
                )
            out[node] = t
        return out

    def jacobian(self, mode: str) -> Any:
        """The Jacobian of every output leaf with respect to every input leaf, built column
        by column with tangent passes (``"fwd"``) or row by row with backward passes
        (``"rev"``); in the output's structure, each entry in the arguments' structure, each
        block of shape ``out_leaf.shape + in_leaf.shape``."""
        # assembled in NumPy, block by block: a Jacobian of another library's arrays is
        # copied to the host
        outs = [np.asarray(to_numpy(self.value(o))) for o in self.out_leaves]
        blocks = [
            [np.zeros(o.shape + tuple(x.shape), np.result_type(o, np.float64)) for x in self.inputs]
            for o in outs
        ]
        run = self.run
        if run is not None and mode == "fwd":
            for b, x in enumerate(self.inputs):
                for e in np.ndindex(*x.shape):
                    basis = np.zeros(x.shape, x.dtype)
                    basis[e] = 1
                    run.jvp({x: basis})
                    for a, o in enumerate(self.out_leaves):
                        t = run.tangent(o) if type(o) is Node else None
                        if t is not None:
                            blocks[a][b][(Ellipsis,) + e] = to_numpy(t)
        elif run is not None:
            for a, o in enumerate(self.out_leaves):
                if type(o) is not Node:
                    continue
                for e in np.ndindex(*outs[a].shape):
                    seed = np.zeros(outs[a].shape, outs[a].dtype)
                    seed[e] = 1
                    run.backward(o, seed=seed, keep=False)
                    for b, row in enumerate(run.grads_of(self.inputs)):
                        blocks[a][b][e] = to_numpy(row)
        return tree_unflatten(self.out_def, [self.flat.regroup(row) for row in blocks])
