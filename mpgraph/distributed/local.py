"""The local backend: one Python process per worker (``multiprocessing``), no Ray.

For a laptop and for tests: the same interface and the same results as the Ray backend. Each
worker is a process serving requests on a pipe; parameters are pickled to each worker at
every step (there is no shared object store). A worker whose pipe breaks has died.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Sequence
from typing import Any

from .protocol import WorkerDied, WorkerRaised
from .worker import ShardWorker

__all__ = ["LocalBackend", "serve"]

_BROKEN = (EOFError, BrokenPipeError, ConnectionResetError, OSError)


def serve(conn: Any) -> None:
    """A worker process's loop: ``("init", args)`` builds the :class:`ShardWorker`,
    ``("step", (params, rows))`` computes, ``("close", None)`` ends. Each request is answered
    with ``("ok", result)`` or ``("error", (kind, message, cause or None))``."""
    worker = None
    while True:
        try:
            kind, payload = conn.recv()
        except _BROKEN:
            return
        if kind == "close":
            return
        try:
            if kind == "init":
                worker = ShardWorker(*payload)
                answer: tuple = ("ok", worker.pid())
            else:
                answer = ("ok", worker.value_and_grad(*payload))
        except Exception as e:  # noqa: BLE001 (reported to the driver, which names the worker and shard)
            answer = ("error", (type(e).__name__, f"{e}\n{traceback.format_exc()}", e))
        try:
            conn.send(answer)
        except Exception:  # noqa: BLE001 (the exception itself does not pickle: send its text)
            conn.send(("error", answer[1][:2] + (None,)))


def _context(method: str | None) -> Any:
    """Forked from a server process that has imported mpgraph once (where there is one: not on
    Windows), so that starting or replacing a worker costs a fork, not an import of NumPy and
    mpgraph; never forked from the driver, whose threads (Ray's, a GUI's) a fork would break."""
    if method is None:
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["mpgraph.distributed.local"])
    return ctx


class LocalBackend:
    """Workers as spawned Python processes (see :mod:`mpgraph.distributed.protocol`)."""

    def __init__(
        self,
        graph_bytes: bytes,
        loss: str,
        shards: Sequence[dict],
        offsets: Sequence[int],
        plugins: Sequence[Any],
        options: dict,
    ) -> None:
        self._ctx = _context(options.get("start_method"))
        self._args = [(graph_bytes, loss, s, o, tuple(plugins)) for s, o in zip(shards, offsets)]
        self._procs: list = [None] * len(shards)
        self._conns: list = [None] * len(shards)
        self._dead = [False] * len(shards)
        try:
            for i in range(len(shards)):  # all start at once, then each is waited for
                self._spawn(i)
            for i in range(len(shards)):
                self.collect(i, None)
        except BaseException:
            self.close()
            raise

    def _spawn(self, i: int) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=serve, args=(child,), daemon=True, name=f"mpgraph-worker-{i}"
        )
        proc.start()
        child.close()  # so that the worker's death closes the pipe for the driver
        self._procs[i], self._conns[i], self._dead[i] = proc, parent, False
        parent.send(("init", self._args[i]))

    def put(self, params: dict) -> dict:
        return params

    def submit(self, i: int, params: dict, rows: Any) -> None:
        try:
            self._conns[i].send(("step", (params, rows)))
        except _BROKEN:
            self._dead[i] = True

    def collect(self, i: int, timeout: float | None) -> Any:
        if self._dead[i]:
            raise WorkerDied(f"worker {i} is gone")
        if timeout is not None and not self._conns[i].poll(timeout):
            raise WorkerDied(f"no answer within {timeout} s")
        try:
            status, payload = self._conns[i].recv()
        except _BROKEN:
            self._dead[i] = True
            raise WorkerDied(f"worker {i} (pid {self._procs[i].pid}) is gone") from None
        if status == "error":
            raise WorkerRaised(*payload)
        return payload

    def restart(self, i: int) -> None:
        self._stop(i, wait=0)  # dead or hung: no use waiting for it
        self._spawn(i)
        self.collect(i, None)

    def handle(self, i: int) -> Any:
        return self._procs[i]

    def _stop(self, i: int, wait: float = 2) -> None:
        proc, conn = self._procs[i], self._conns[i]
        if conn is not None:
            try:
                conn.send(("close", None))
            except _BROKEN:
                pass
            conn.close()
        if proc is not None:
            proc.join(timeout=wait)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._procs[i] = self._conns[i] = None

    def close(self) -> None:
        for i in range(len(self._procs)):
            self._stop(i)
