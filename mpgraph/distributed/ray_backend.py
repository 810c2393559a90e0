"""The Ray backend: one Ray actor per worker, the graph, shards and parameters in Ray's object
store.

The graph and each shard are put in the object store once, when the workers start; a replaced
worker is built from the same objects, so nothing is sent from the driver again. Parameters go
out once per step: one ``ray.put``, whose reference every actor's call receives. Ray is imported
here only, when a Ray backend is made; it joins the cluster that ``ray.init`` started, or starts
a local one (``ray.init()``) when none is running.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import MpgraphError
from .protocol import WorkerDied, WorkerRaised
from .worker import ShardWorker

__all__ = ["RayBackend"]


def _ray():
    try:
        import ray
    except ImportError:
        raise MpgraphError(
            "mpgraph: backend 'ray' needs Ray: pip install 'mpgraph[distributed]' "
            "(or pip install ray), or use backend='local'"
        ) from None
    return ray


def _last_exception(text: str) -> tuple[str, str, None]:
    """``(kind, message, None)`` of the last exception in a Ray error's text (the remote
    traceback comes as text only when an actor's constructor raised)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for line in reversed(text.splitlines()):
        found = re.match(r"([A-Za-z_][\w.]*(?:Error|Exception)): (.*)", line)
        if found:
            return found[1].rsplit(".", 1)[-1], found[2], None
    return "RayActorError", text, None


class RayBackend:
    """Workers as Ray actors (see :mod:`mpgraph.distributed.protocol`).

    ``options`` are passed to ``ray.remote`` for the actor class (``num_cpus``, ``resources``,
    ``scheduling_strategy``, ...).
    """

    def __init__(
        self,
        graph_bytes: bytes,
        loss: str,
        shards: Sequence[dict],
        offsets: Sequence[int],
        plugins: Sequence[Any],
        options: dict,
    ) -> None:
        ray = self._ray = _ray()
        if not ray.is_initialized():
            ray.init()
        self._cls = ray.remote(**options)(ShardWorker) if options else ray.remote(ShardWorker)
        graph_ref = ray.put(graph_bytes)
        self._args = [
            (graph_ref, loss, ray.put(dict(s)), o, tuple(plugins)) for s, o in zip(shards, offsets)
        ]
        self._actors: list = [self._cls.remote(*a) for a in self._args]
        self._refs: list = [None] * len(shards)
        try:
            for i in range(len(shards)):
                self._ready(i)
        except BaseException:
            self.close()
            raise

    def _ready(self, i: int) -> None:
        ray = self._ray
        try:
            ray.get(self._actors[i].pid.remote())
        except ray.exceptions.RayActorError as e:  # its constructor raised: it cannot start
            raise WorkerRaised(*_last_exception(str(e))) from None

    def put(self, params: dict) -> Any:
        return self._ray.put(params)

    def submit(self, i: int, params: Any, rows: Any) -> None:
        self._refs[i] = self._actors[i].value_and_grad.remote(params, rows)

    def collect(self, i: int, timeout: float | None) -> Any:
        ray = self._ray
        ref, self._refs[i] = self._refs[i], None
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise WorkerDied(f"no answer within {timeout} s") from None
        except ray.exceptions.RayActorError as e:
            raise WorkerDied(str(e).splitlines()[0]) from None
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if isinstance(e.cause, BaseException) else None
            kind = type(cause).__name__ if cause is not None else e.function_name
            raise WorkerRaised(kind, str(cause) if cause is not None else str(e), cause) from None

    def restart(self, i: int) -> None:
        self._ray.kill(self._actors[i], no_restart=True)
        self._actors[i] = self._cls.remote(*self._args[i])
        self._ready(i)

    def handle(self, i: int) -> Any:
        return self._actors[i]

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
