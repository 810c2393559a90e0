"""Graphs that travel: pickling a Graph (and a node handle) to send it to another process.

A Graph pickles (through :mod:`copyreg`) as its structure, not as its Python objects: every node's name, kind, op *name*,
attributes, arguments, shape, dtype and value, in creation order. Unpickling rebuilds the graph
through the public building methods, looking each op up by name in the receiving process's
registry, so that op functions (often lambdas) never need to be pickled and ops from installed
plugins are found through their ``mpgraph`` entry points there. An op that the receiving process
does not know raises :class:`~mpgraph.errors.UnknownOpError` naming the op, the node and the
plugin that defined it in the sending process.

A node handle pickles as its graph and its name: pickled together (``pickle.dumps((g, loss))``)
they share one copy of the graph, as the pickle memo does for any shared object.

Examples
--------
>>> import pickle, numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", shape=(None, 2))
>>> loss = mg.ops.sum(mg.ops.tanh(x @ g.param("w", [1.0, -2.0])))
>>> g2, loss2 = pickle.loads(pickle.dumps((g, loss)))
>>> loss2.graph is g2, loss2.name
(True, 'sum_1')
>>> feed = {"x": np.array([[0.5, 0.25]])}
>>> bool(np.array_equal(g.grad(loss, feed=feed)[0], g2.grad(loss2, feed=feed)[0]))
True
"""

from __future__ import annotations

import copyreg
import pickle
from collections.abc import Sequence
from typing import Any

from ..errors import GraphError, UnknownOpError
from ..hooks.manager import ops as op_table
from .graph import Graph

__all__ = ["dumps_subgraph", "graph_from_state", "graph_state"]

STATE_VERSION = 1


def graph_state(graph: Graph, outputs: Sequence[Any] | None = None) -> tuple:
    """The picklable structure of ``graph``: ``(version, nodes)``, one tuple per node in
    creation order, ``(name, kind, op_name, plugin, attrs, arg_names, shape, dtype, value)``;
    only the ``outputs`` and their ancestors when ``outputs`` (nodes or names) are given."""
    keep = None
    if outputs is not None:
        keep, todo = set(), [graph[o] for o in outputs]
        while todo:
            node = todo.pop()
            if node.name not in keep:
                keep.add(node.name)
                todo.extend(node.args)
    nodes = []
    for node in graph:
        if keep is not None and node.name not in keep:
            continue
        op = node.op
        nodes.append(
            (
                node.name,
                node.kind,
                None if op is None else op.name,
                None if op is None else op.plugin,
                dict(node.attrs) or None,
                tuple(p.name for p in node.args),
                node.shape,
                node.dtype,
                node.fixed,
            )
        )
    return STATE_VERSION, tuple(nodes)


def graph_from_state(state: tuple) -> Graph:
    """Rebuild a Graph from :func:`graph_state`'s structure, in this process's op registry.

    Raises
    ------
    GraphError
        The structure comes from another version of mpgraph.
    UnknownOpError
        An op of the graph is not registered here; the op, its node and the plugin that
        defined it where the graph was pickled are named.
    """
    version, nodes = state
    if version != STATE_VERSION:
        raise GraphError(
            f"mpgraph: a pickled graph of structure version {version!r}; this mpgraph "
            f"reads version {STATE_VERSION}"
        )
    g = Graph()
    table = op_table()
    for name, kind, op_name, plugin, attrs, args, shape, dtype, value in nodes:
        if kind == "input":
            g.input(name, shape, dtype)
        elif kind == "param":
            g.param(name, value)
        elif kind == "const":
            g.constant(value, name=name)
        else:
            if op_name not in table:
                raise UnknownOpError(
                    f"mpgraph: op '{op_name}' at node '{name}': not registered in this process, "
                    f"where the graph was unpickled; it came from plugin '{plugin}' in the "
                    "process that pickled it. Install that plugin as a package with an 'mpgraph' "
                    "entry point, or register it here before unpickling (mpgraph.distributed "
                    "takes plugins=[...] for its workers)"
                )
            g.apply(table[op_name], [g[a] for a in args], attrs, name)
    return g


def dumps_subgraph(graph: Graph, outputs: Sequence[Any]) -> bytes:
    """The pickle of the part of ``graph`` that computes ``outputs``: ``pickle.loads`` gives a
    Graph with those nodes and their ancestors, under the same names. What a worker needs, and
    no op it does not.

    >>> import pickle, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x")
    >>> y, z = mg.ops.sin(x, name="y"), mg.ops.cos(x, name="z")
    >>> [n.name for n in pickle.loads(dumps_subgraph(g, [y]))]
    ['x', 'y']
    """
    return pickle.dumps(_State(graph_state(graph, outputs)))


class _State:
    """A graph's structure that unpickles as the Graph."""

    def __init__(self, state: tuple) -> None:
        self.state = state

    def __reduce__(self):
        return graph_from_state, (self.state,)


def reduce_graph(graph: Graph) -> tuple[Any, tuple]:
    """How a Graph pickles: rebuilt from its structure."""
    return graph_from_state, (graph_state(graph),)


# Registered here rather than as Graph.__reduce__, so that the graph module does not import the
# module that builds on it; mpgraph/__init__.py imports this module.
copyreg.pickle(Graph, reduce_graph)
