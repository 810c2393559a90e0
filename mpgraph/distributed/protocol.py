"""How :class:`~mpgraph.distributed.DataParallel` talks to a backend, and the two ways a worker
fails: it dies (:class:`WorkerDied`: replace it and compute its shard again) or it raises
(:class:`WorkerRaised`: report it, naming the worker and its shard).

A backend is built as ``Backend(graph_bytes, loss, shards, offsets, plugins, options)`` and
starts one :class:`~mpgraph.distributed.worker.ShardWorker` per shard. It has:

- ``put(params) -> handle``: parameters made ready to send to every worker once per step;
- ``submit(i, handle, rows)``: start worker ``i`` on its rows (local indices, ``None`` for all);
- ``collect(i, timeout) -> (loss, grads, count)``: wait for worker ``i``'s result, at most
  ``timeout`` seconds (``None``: no limit), after which the worker counts as dead;
- ``restart(i)``: stop worker ``i`` (dead, or hung) and start a new one holding the same graph
  and shard;
- ``handle(i)``: the worker's handle (a Ray actor, a ``multiprocessing`` process);
- ``close()``.
"""

from __future__ import annotations

__all__ = ["WorkerDied", "WorkerRaised"]


class WorkerDied(Exception):
    """The worker's process is gone (killed, crashed, its node lost) or did not answer in time."""


class WorkerRaised(Exception):
    """The worker raised; ``kind`` and ``message`` are those of its exception, ``cause`` the
    exception itself when it could be brought back to the driver."""

    def __init__(self, kind: str, message: str, cause: BaseException | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.cause = kind, message, cause
