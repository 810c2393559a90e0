"""A data-parallel step drawn as one graph: Grosse's fan-in across workers.

Each worker's copy of the model becomes a scope (``worker0/...``, ``worker1/...``) fed with its
shard; the parameters are shared, so in the backward pass each parameter receives one message
per worker and its error signal is their sum, the chain rule's fan-in, which is what the driver
computes when it reduces the workers' gradients. One more node, ``allreduce``, sums the
workers' (weighted) losses. ``mg.render(g, run, view="backward")`` draws it.

>>> import numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", shape=(None,))
>>> loss = mg.ops.mean(g.param("w", 3.0) * x)
>>> dg, total, feed = step_graph(g, loss, {"x": np.arange(5.0)}, workers=2)
>>> run = dg.forward(total, feed).backward(total, keep_messages=True)
>>> float(run.grad("w")), float(np.mean(np.arange(5.0)))     # the mean of x, from 2 messages
(2.0, 2.0)
>>> sorted(m for m in run.messages if m[0] == "w")
[('w', 'worker0/multiply_1', 0), ('w', 'worker1/multiply_1', 0)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..engine import functions as ops
from ..engine.graph import Graph
from ..errors import FeedError, GraphError
from .data_parallel import REDUCTIONS, shard_bounds

__all__ = ["step_graph"]


def step_graph(
    graph: Graph,
    loss: Any,
    data: Mapping[Any, np.ndarray],
    *,
    workers: int = 2,
    reduce: str = "mean",
) -> tuple[Graph, Any, dict[str, np.ndarray]]:
    """The data-parallel step of ``loss`` over ``data`` as one new graph, to run and draw.

    Parameters
    ----------
    graph, loss, data, workers, reduce
        As for :class:`DataParallel`: ``data`` is split into the same shards.

    Returns
    -------
    (Graph, Node, dict)
        The new graph (``graph`` is unchanged), its total loss ``allreduce``, and the feed of
        every worker's inputs (``worker0/x``, ...). Its gradients are ``DataParallel``'s.

    Raises
    ------
    GraphError, FeedError
        As :class:`DataParallel` does for the same arguments.

    See also
    --------
    mpgraph.render : ``mg.render(g, run, view="backward")`` draws the fan-in.
    """
    if reduce not in REDUCTIONS:
        raise GraphError(
            f"mpgraph: step_graph: reduce {reduce!r} is not one of "
            f"{', '.join(map(repr, REDUCTIONS))}"
        )
    loss = graph[loss]
    arrays = {graph[k].name: np.asarray(v) for k, v in data.items()}
    n = len(next(iter(arrays.values()))) if arrays else 0
    if not arrays or any(len(a) != n for a in arrays.values()) or not 1 <= workers <= n:
        raise FeedError(
            f"mpgraph: step_graph: data must be aligned arrays with at least "
            f"{workers} rows; got lengths {[len(a) for a in arrays.values()]}"
        )
    needed, stack_ = set(), [loss]
    while stack_:  # the loss and its ancestors
        node = stack_.pop()
        if node.name not in needed:
            needed.add(node.name)
            stack_.extend(node.args)
    nodes = [node for node in graph if node.name in needed]  # creation order: topological
    g = Graph()
    shared = {node.name: g.param(node.name, node.value) for node in nodes if node.kind == "param"}
    feed, losses = {}, []
    for i, (lo, hi) in enumerate(shard_bounds(n, workers)):
        made = dict(shared)
        with g.scope(f"worker{i}"):
            for node in nodes:
                if node.kind == "input":
                    made[node.name] = g.input(node.name, node.shape, node.dtype)
                elif node.kind == "const":
                    made[node.name] = g.constant(node.value, name=node.name)
                elif node.kind == "op":
                    made[node.name] = g.apply(
                        node.op, [made[a.name] for a in node.args], node.attrs, name=node.name
                    )
            weight = (hi - lo) / n if reduce == "mean" else 1.0
            losses.append(made[loss.name] * weight)
        feed.update({f"worker{i}/{k}": a[lo:hi] for k, a in arrays.items() if k in needed})
    total = ops.sum(ops.stack(losses), name="allreduce")
    return g, total, feed
