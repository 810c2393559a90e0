"""What one worker runs, whatever carries it (a Ray actor or a local process): it holds the
graph and one shard of the data, and turns parameters into its shard's loss and gradients.

>>> import pickle, numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", shape=(None,))
>>> loss = mg.ops.mean(g.param("w", 2.0) * x)
>>> w = ShardWorker(pickle.dumps(g), loss.name, {"x": np.array([1.0, 2.0, 3.0])}, 0)
>>> value, grads, count = w.value_and_grad({"w": np.array(3.0)}, None)
>>> float(value), float(grads["w"]), count
(6.0, 2.0, 3)
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..hooks import manager

__all__ = ["ShardWorker"]


class ShardWorker:
    """The graph and one shard, in a worker process.

    Parameters
    ----------
    graph_bytes : bytes
        The pickled graph (see :mod:`mpgraph.engine.pickling`); unpickled after ``plugins`` are
        registered, so that the graph's ops from those plugins are found.
    loss : str
        The name of the scalar loss node.
    shard : mapping from input name to array
        This worker's rows of the data, aligned along axis 0.
    offset : int
        The index of the shard's first row in the whole data.
    plugins : sequence
        Plugin objects to register in this process (ops not installed as packages here).
    """

    def __init__(
        self,
        graph_bytes: bytes,
        loss: str,
        shard: Mapping[str, np.ndarray],
        offset: int,
        plugins: Sequence[Any] = (),
    ) -> None:
        known = {id(p) for _, p in manager.plugin_manager().list_name_plugin()}
        for plugin in plugins:
            if id(plugin) not in known:  # a local worker may share the driver's registry
                manager.register(plugin)
        self.graph = pickle.loads(graph_bytes)
        self.loss = self.graph[loss]
        self.params = self.graph.params()
        self.shard = dict(shard)
        self.offset = offset

    def value_and_grad(
        self, params: Mapping[str, np.ndarray] | None, rows: np.ndarray | None
    ) -> tuple[float, dict[str, np.ndarray], int]:
        """The loss on this shard's ``rows`` (local indices; all rows when ``None``) and its
        gradients with respect to every parameter, at ``params`` (by name; the graph's current
        values for those not given). Returns ``(loss, grads by name, number of rows)``."""
        for name, value in (params or {}).items():
            self.graph.set_param(name, value)
        feed = self.shard if rows is None else {k: v[rows] for k, v in self.shard.items()}
        run, grads = self.graph.gradient_run(self.loss, self.params, feed, strict=False)
        count = len(next(iter(feed.values())))
        return float(run.value(self.loss)), dict(zip((p.name for p in self.params), grads)), count

    def pid(self) -> int:
        """The worker's process id (for tests and logs)."""
        return os.getpid()
