"""Data-parallel gradients: the gradient of a loss over a data set is the sum, or the weighted
mean, of the gradients over its shards, computed by persistent workers that each hold the graph
and one shard.

>>> import numpy as np, mpgraph as mg
>>> from mpgraph.distributed import DataParallel
>>> g = mg.Graph()
>>> x, y = g.input("x", shape=(None,)), g.input("y", shape=(None,))
>>> w = g.param("w", 0.5)
>>> loss = mg.ops.mean((w * x - y) ** 2)
>>> X = np.linspace(-1.0, 1.0, 7)
>>> with DataParallel(g, loss, {"x": X, "y": 2 * X}, workers=2, backend="local") as dp:
...     value, grads = dp.value_and_grad()
>>> bool(np.isclose(grads["w"], g.grad(loss, feed={"x": X, "y": 2 * X})[0], rtol=1e-12))
True
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..engine.graph import zero_gradient
from ..engine.pickling import dumps_subgraph
from ..errors import FeedError, GraphError, MpgraphError, WorkerError
from .protocol import WorkerDied, WorkerRaised

__all__ = ["DataParallel", "shard_bounds"]

BACKENDS = ("local", "ray")
REDUCTIONS = ("mean", "sum")


def shard_bounds(n: int, workers: int) -> list[tuple[int, int]]:
    """The ``[start, stop)`` rows of each of ``workers`` shards of ``n`` rows, in order, sizes
    differing by at most one (as ``numpy.array_split``).

    >>> shard_bounds(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    size, extra = divmod(n, workers)
    starts = [i * size + min(i, extra) for i in range(workers + 1)]
    return list(itertools.pairwise(starts))


class DataParallel:
    """Workers that each hold ``graph`` and one shard of ``data``, for gradients over all of it.

    Each step sends the parameters once, each worker runs the graph forward and backward on its
    shard, and the driver reduces the results in shard order, so that a step's result does not
    depend on which worker finished first, or on a worker having been replaced.

    Parameters
    ----------
    graph : Graph
        The loss and its ancestors are pickled once and sent to every worker (see
        :mod:`mpgraph.engine.pickling`); later changes to the graph's structure do not reach
        the workers, changes to its parameters do.
    loss : node or name
        The scalar loss, a function of the graph's inputs that ``data`` feeds.
    data : mapping from input (node or name) to array
        Arrays aligned along axis 0, split into ``workers`` contiguous shards of sizes differing
        by at most one. Copied into the workers; the caller's arrays are not kept.
    workers : int
        The number of workers, at most the number of rows.
    backend : ``"local"`` or ``"ray"``
        Python processes on this machine, or Ray actors on the cluster that ``ray.init`` joined
        (a local one when none is running).
    reduce : ``"mean"`` or ``"sum"``
        ``"mean"`` weights each shard's loss and gradients by its share of the rows, which gives
        the full data's loss and gradients when the loss is a mean over rows (as data-parallel
        training averages); ``"sum"`` adds them, for a loss that is a sum over rows.
    plugins : sequence of plugin objects
        Registered in every worker before the graph is unpickled there: ops defined in this
        process only. Ops of installed plugin packages are found in the workers by their entry
        points and need not be given.
    max_restarts : int
        How many times one step may replace a worker that died before it gives up.
    timeout : float, optional
        Seconds a worker may take to answer, counted from when the driver starts waiting for
        it; one that takes longer is taken for hung and replaced, like one that died. No limit
        by default.
    options : dict, optional
        Backend options: for Ray, ``ray.remote``'s (``num_cpus``, ``resources``, ...); for the
        local backend, ``start_method`` (``"forkserver"`` where there is one, else ``"spawn"``).

    Raises
    ------
    GraphError
        ``loss`` is not a node of ``graph``, ``data`` names no input of it, or an unknown
        backend or reduction.
    FeedError
        The arrays of ``data`` are not aligned, do not feed every input the loss needs, or
        there are more workers than rows.
    WorkerError
        A worker could not start (its error, e.g. an op unknown there, is named).

    See also
    --------
    mpgraph.distributed.fit : ``mg.fit`` with its gradients from workers.

    Examples
    --------
    The same step on Ray (``pip install 'mpgraph[distributed]'``)::

        ray.init(address="auto")    # or ray.init() for a local cluster
        with DataParallel(g, loss, data, workers=8, backend="ray") as dp:
            value, grads = dp.value_and_grad()
    """

    def __init__(
        self,
        graph: Any,
        loss: Any,
        data: Mapping[Any, np.ndarray],
        *,
        workers: int = 2,
        backend: str = "local",
        reduce: str = "mean",
        plugins: Sequence[Any] = (),
        max_restarts: int = 3,
        timeout: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise GraphError(
                f"mpgraph: DataParallel: backend {backend!r} is not one of "
                f"{', '.join(map(repr, BACKENDS))}"
            )
        if reduce not in REDUCTIONS:
            raise GraphError(
                f"mpgraph: DataParallel: reduce {reduce!r} is not one of "
                f"{', '.join(map(repr, REDUCTIONS))}"
            )
        self.graph = graph
        self.loss = graph[loss]
        if self.loss.shape not in ((), None):
            raise GraphError(
                f"mpgraph: DataParallel: the loss '{self.loss.name}' must be a "
                f"scalar; it has shape {self.loss.shape}"
            )
        arrays = {}
        for key, value in data.items():
            node = graph[key]
            if node.kind != "input":
                raise GraphError(
                    f"mpgraph: DataParallel: data names '{node.name}', which is "
                    f"not an input of the graph"
                )
            arrays[node.name] = np.asarray(value)
        lengths = {name: len(a) for name, a in arrays.items()}
        if not arrays or len(set(lengths.values())) != 1:
            raise FeedError(
                f"mpgraph: DataParallel: data must be arrays aligned along axis 0; "
                f"got lengths {lengths}"
            )
        self.rows = next(iter(lengths.values()))
        if not 1 <= workers <= self.rows:
            raise FeedError(
                f"mpgraph: DataParallel: {workers} workers for {self.rows} rows; "
                f"need between 1 and {self.rows}"
            )
        self.backend, self.reduce, self.max_restarts = backend, reduce, max_restarts
        self.timeout = timeout
        self.shards = shard_bounds(self.rows, workers)
        self.restarts = 0  # workers replaced since the start, for logs and tests
        # the workers hold the loss and its ancestors only; other parameters get zeros, as in g.grad
        sent = graph.schedule(self.loss).slot
        self._used = {p.name for p in graph.params() if p.name in sent}
        missing = [n.name for n in graph.inputs() if n.name in sent and n.name not in arrays]
        if missing:
            raise FeedError(
                f"mpgraph: DataParallel: the loss '{self.loss.name}' needs the "
                f"input(s) {', '.join(missing)}, which data does not give"
            )
        shards = [{k: a[lo:hi] for k, a in arrays.items() if k in sent} for lo, hi in self.shards]
        if backend == "ray":
            from .ray_backend import RayBackend as Backend
        else:
            from .local import LocalBackend as Backend
        try:
            self._backend = Backend(
                dumps_subgraph(graph, [self.loss]),
                self.loss.name,
                shards,
                [lo for lo, _ in self.shards],
                plugins,
                dict(options or {}),
            )
        except WorkerRaised as e:
            raise WorkerError(
                f"mpgraph: DataParallel: a {backend} worker could not start: {e.kind}: {e.message}"
            ) from e.cause

    @property
    def workers(self) -> list[Any]:
        """The workers' handles, one per shard: Ray actors, or ``multiprocessing`` processes."""
        return [self._backend.handle(i) for i in range(len(self.shards))]

    def value_and_grad(
        self,
        params: Mapping[Any, Any] | None = None,
        rows: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and its gradients over all the data (or over ``rows`` of it), reduced over
        the shards.

        Parameters
        ----------
        params : mapping from parameter (node or name) to value, optional
            The point at which to differentiate; the graph's current values for parameters not
            given. The graph itself is not changed.
        rows : sequence of int, optional
            Indices into the data: a minibatch. Each worker computes on those of its shard;
            ``"mean"`` then weights the shards by their share of ``rows``.

        Returns
        -------
        (float, dict)
            The reduced loss, and the reduced gradients by parameter name in the order of
            ``graph.params()``.

        Raises
        ------
        WorkerError
            A worker raised (the worker, its shard and its exception are named; the other
            workers' results are discarded and the next step works as usual), or one worker died
            more than ``max_restarts`` times in this step.
        FeedError
            ``rows`` are not integer indices into the data.
        GraphError
            ``params`` names a node that is not a parameter, or gives a value of another shape.

        See also
        --------
        mpgraph.Graph.grad : the same gradients in one process.
        mpgraph.distributed.fit : training on these workers.

        Examples
        --------
        >>> import numpy as np, mpgraph as mg
        >>> g = mg.Graph()
        >>> x = g.input("x", shape=(None,))
        >>> loss = mg.ops.sum(g.param("w", 1.0) * x ** 2)
        >>> with DataParallel(g, loss, {"x": np.arange(4.0)}, reduce="sum") as dp:
        ...     dp.value_and_grad(params={"w": 2.0}, rows=[1, 3])   # 2 (1 + 9), d/dw = 1 + 9
        (20.0, {'w': array(10.)})
        """
        backend = self._live()
        plan = self._plan(rows)
        handle = backend.put(self._param_values(params))
        for i, local in plan:
            backend.submit(i, handle, local)
        results, failure = {}, None
        for (
            i,
            local,
        ) in plan:  # every worker's answer is read, so that none is left for the next step
            try:
                results[i] = self._collect(i, handle, local)
            except WorkerError as e:
                failure = failure or e
        if failure is not None:
            raise failure
        total = sum(count for _, _, count in results.values())
        value, grads = 0.0, None
        for i, _ in plan:  # in shard order: the same sums whichever worker answered first
            v, g, count = results[i]
            w = count / total if self.reduce == "mean" else 1.0
            value += w * v
            grads = (
                {k: w * a for k, a in g.items()}
                if grads is None
                else {k: grads[k] + w * a for k, a in g.items()}
            )
        return float(value), {
            p.name: np.asarray(grads[p.name])
            if p.name in grads  # 0-d: array
            else zero_gradient(p)
            for p in self.graph.params()
        }

    def _collect(self, i: int, handle: Any, local: Any) -> Any:
        died = 0
        while True:
            try:
                return self._backend.collect(i, self.timeout)
            except WorkerDied as e:
                if died == self.max_restarts:
                    raise WorkerError(
                        f"mpgraph: DataParallel: worker {i} ({self._where(i)}) died "
                        f"or hung {died + 1} times in one step (last: {e}); "
                        "giving up"
                    ) from None
                died += 1
                self.restarts += 1
                try:
                    self._backend.restart(i)
                except WorkerRaised as r:
                    raise WorkerError(
                        f"mpgraph: DataParallel: worker {i} ({self._where(i)}) died "
                        f"and its replacement could not start: {r.kind}: "
                        f"{r.message}"
                    ) from r.cause
                self._backend.submit(i, handle, local)
            except WorkerRaised as e:
                raise WorkerError(
                    f"mpgraph: DataParallel: worker {i} ({self._where(i)}) raised "
                    f"{e.kind}: {e.message}"
                ) from e.cause

    def _where(self, i: int) -> str:
        lo, hi = self.shards[i]
        return f"shard {i}: rows {lo} to {hi - 1} of {self.rows}"

    def _plan(self, rows: Any) -> list[tuple[int, np.ndarray | None]]:
        if rows is None:
            return [(i, None) for i in range(len(self.shards))]
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or len(rows) == 0:
            raise FeedError(
                f"mpgraph: DataParallel: rows must be a non-empty 1-d array of "
                f"integer indices; got shape {rows.shape} dtype {rows.dtype}"
            )
        if rows.min() < 0 or rows.max() >= self.rows:
            raise FeedError(
                f"mpgraph: DataParallel: rows must lie in 0..{self.rows - 1}; got "
                f"{rows.min()}..{rows.max()}"
            )
        plan = []
        for i, (lo, hi) in enumerate(self.shards):
            mine = rows[(rows >= lo) & (rows < hi)]
            if len(mine):  # a worker with none of the rows sits this step out
                plan.append((i, mine - lo))
        return plan

    def _param_values(self, params: Mapping[Any, Any] | None) -> dict[str, np.ndarray]:
        values = {p.name: p.value for p in self.graph.params() if p.name in self._used}
        for key, value in (params or {}).items():
            node = self.graph[key]
            if node.kind != "param":
                raise GraphError(
                    f"mpgraph: DataParallel: params names '{node.name}', which is "
                    "not a parameter of the graph"
                )
            value = np.asarray(value)
            if value.shape != node.shape:
                raise GraphError(
                    f"mpgraph: DataParallel: parameter '{node.name}' has shape "
                    f"{node.shape}; the value given has shape {value.shape}"
                )
            if node.name in self._used:
                values[node.name] = value
        return values

    def _live(self) -> Any:
        if self._backend is None:
            raise MpgraphError("mpgraph: DataParallel: this one is closed; make a new one")
        return self._backend

    def close(self) -> None:
        """Stop the workers. Closing twice does nothing."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._backend is None else f"{len(self.shards)} workers"
        return (
            f"<DataParallel {self.backend} {state}, {self.rows} rows, reduce={self.reduce!r}, "
            f"loss {self.loss.name!r}>"
        )
