"""A graph's run plan, compiled once from NetworkX into flat lists.

The per-run loops in :mod:`mpgraph.run` touch only these lists (slots, bound op callables and
argument slots), never NetworkX or dictionaries keyed by nodes. A Schedule is cached per set
of outputs on its Graph; each backward plan is cached per (loss, sources) on its Schedule.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from .node import Node


class Schedule:
    """The nodes needed for some outputs, in topological order, as slots ``0..n-1``."""

    def __init__(self, order: list[Node], outputs: list[Node]) -> None:
        self.nodes = order
        self.slot = {n.name: i for i, n in enumerate(order)}
        self.outputs = [self.slot[o.name] for o in outputs]
        self.args = [tuple(self.slot[p.name] for p in n.args) for n in order]
        self.consts = [(i, n._value) for i, n in enumerate(order) if n.kind == "const"]
        self.params = [(i, n) for i, n in enumerate(order) if n.kind == "param"]
        self.inputs = [(i, n) for i, n in enumerate(order) if n.kind == "input"]
        self.steps = [(i, _bind(n.op.forward, n.attrs), self.args[i])
                      for i, n in enumerate(order) if n.kind == "op"]
        self._plans: dict[tuple, BackwardPlan] = {}

    def graph(self):
        return self.nodes[0].graph

    def backward_plan(self, loss: int, sources: tuple[int, ...] | None) -> BackwardPlan:
        key = (loss, sources)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = BackwardPlan(self, loss, sources)
        return plan


class BackwardPlan:
    """Which nodes send which messages when backpropagating from ``loss``.

    A node is *active* when it lies on a differentiable path from a source (an input or
    parameter, or the ``wrt`` nodes asked for) to the loss. Only active nodes get error
    signals, and only active parents get messages: a vjp is never called for a constant.
    """

    def __init__(self, sched: Schedule, loss: int, sources: tuple[int, ...] | None) -> None:
        nodes, args = sched.nodes, sched.args
        n = len(nodes)
        src = (set(sources) if sources is not None
               else {i for i, nd in enumerate(nodes) if nd.kind in ("input", "param")})
        reach = [i in src for i in range(n)]
        for i, nd in enumerate(nodes):
            if not reach[i] and nd.kind == "op":
                reach[i] = any(reach[j] and _differentiable(nd.op, k) for k, j in enumerate(args[i]))
        below = [False] * n
        below[loss] = True
        for i in range(loss, -1, -1):
            if below[i] and nodes[i].kind == "op":
                for k, j in enumerate(args[i]):
                    if _differentiable(nodes[i].op, k):
                        below[j] = True
        self.active = [r and b for r, b in zip(reach, below)]
        self.loss = loss
        self.sources = sorted(src)
        self.steps = []
        for i in range(loss, -1, -1):
            nd = nodes[i]
            if not self.active[i] or nd.kind != "op":
                continue
            edges = tuple((k, j, _bind_vjp(nd.op, k, nd.attrs))
                          for k, j in enumerate(args[i]) if self.active[j] and _differentiable(nd.op, k))
            if edges:
                self.steps.append((i, args[i], edges))


def _differentiable(op, argnum: int) -> bool:
    return op.variadic or op.vjp[argnum] is not None


def _bind(fn, attrs: dict[str, Any]):
    return partial(fn, **attrs) if attrs else fn


def _bind_vjp(op, argnum: int, attrs: dict[str, Any]):
    if op.variadic:
        return partial(op.vjp, argnum, **attrs)
    return _bind(op.vjp[argnum], attrs)
