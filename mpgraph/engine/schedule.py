"""A graph's run plan, compiled once into flat lists.

The per-run loops in :mod:`mpgraph.engine.run` touch only these lists (slots, bound op callables and
argument slots), never NetworkX or dictionaries keyed by nodes. A Schedule is cached per set
of outputs on its Graph; each backward plan is cached per (loss, sources) on its Schedule.

A backward plan also says when each value can be freed in a run that only wants gradients
(``g.grad``, ``mg.grad``): a value that no vjp reads (see ``Op.needs``) is freed as soon as
its last consumer in the forward pass has run, and a value that some vjp reads is freed once
the last of those vjps has run.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..errors import at
from .node import Node

__all__ = ["BackwardPlan", "Schedule"]


class Schedule:
    """The nodes needed for some outputs, in topological order, as slots ``0..n-1``."""

    def __init__(self, order: list[Node], outputs: list[Node]) -> None:
        self.nodes = order
        n = len(order)
        self._slot: dict[str, int] | None = None  # made when first read (see slot)
        # When the order is the graph's first nodes (mg.grad's graph, most schedules of a
        # loss), a node's slot is its creation index: no lookup by name per argument.
        by_index = order[-1].index == n - 1
        self.outputs = [self.slot_of(o) for o in outputs]
        ops = self.ops = [nd.op for nd in order]
        self.op_slots = op_slots = [i for i, op in enumerate(ops) if op is not None]
        args = self.args = [()] * n  # the argument slots of each node
        self._last_use: list[int] | None = None  # made when first read (see last_use)
        slot = None if by_index else self.slot
        for i in op_slots:
            parents = order[i].args
            if by_index:
                if len(parents) == 2:  # unrolled: this loop runs for every node of mg.grad
                    a = (parents[0].index, parents[1].index)
                elif len(parents) == 1:
                    a = (parents[0].index,)
                else:
                    a = tuple([p.index for p in parents])
            elif len(parents) == 1:
                a = (slot[parents[0].name],)
            elif len(parents) == 2:
                a = (slot[parents[0].name], slot[parents[1].name])
            else:
                a = tuple([slot[p.name] for p in parents])
            args[i] = a
        self.consts, self.params, self.inputs = [], [], []  # slots of the other kinds
        kinds = {"const": self.consts, "param": self.params, "input": self.inputs}
        if len(op_slots) < n:
            for i, op in enumerate(ops):
                if op is None:
                    kinds[order[i].kind].append(i)
        self._steps: tuple | None = None
        self.saving = False  # whether some op returns residuals (Op.fwd); set with steps
        self._plans: dict[tuple, BackwardPlan] = {}
        # Graph.gradient_run's slots, by (loss, strict, *targets): what g.grad finds once
        self.gradient_slots: dict[tuple, tuple] = {}

    @property
    def slot(self) -> dict[str, int]:
        """Each node's slot, by node name."""
        slot = self._slot
        if slot is None:
            slot = self._slot = {nd.name: i for i, nd in enumerate(self.nodes)}
        return slot

    @property
    def last_use(self) -> list[int]:
        """Per slot, the last forward step that reads it (-1 for none); made when first read:
        only a run that frees arrays needs it, and a trace of scalars frees none."""
        last_use = self._last_use
        if last_use is None:
            last_use = [-1] * len(self.nodes)
            args = self.args
            for k, i in enumerate(self.op_slots):
                for j in args[i]:
                    last_use[j] = k
            self._last_use = last_use
        return last_use

    def slot_of(self, node: Node) -> int | None:
        """The slot of ``node``, or ``None`` when the schedule does not compute it."""
        i = node.index
        nodes = self.nodes
        if i < len(nodes) and nodes[i] is node:  # the slot is the creation index
            return i
        i = self.slot.get(node.name)
        return i if i is not None and nodes[i] is node else None

    @property
    def steps(self) -> tuple[list, list, list, list, list]:
        """The forward steps as parallel lists, one entry per op node: slots, bound forward
        functions, argument slots, the slots to free after each (none here), and whether the
        step returns residuals (``Op.fwd``): 0 no, 1 keep them, 2 drop them. Parallel lists
        rather than a tuple per step: fewer objects for the garbage collector to track."""
        if self._steps is None:
            nodes = self.nodes
            fns, saves = [], []
            saving = False
            for i in self.op_slots:
                node = nodes[i]
                op = node.op
                attrs = node.attrs
                fwd = op.fwd
                if fwd is None:
                    fns.append(partial(op.forward, **attrs) if attrs else op.forward)
                    saves.append(0)
                else:
                    fns.append(partial(fwd, **attrs) if attrs else fwd)
                    saves.append(1)
                    saving = True
            self.saving = saving
            self._steps = (
                self.op_slots,
                fns,
                [self.args[i] for i in self.op_slots],
                [()] * len(fns),
                saves,
            )
        return self._steps

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

    Attributes
    ----------
    steps : tuple of lists
        Parallel lists, one entry per step in reverse topological order: the node's slot,
        its argument slots, its edges (``(argnum, vjp)`` pairs: the node sends a message to
        ``argument slots[argnum]`` through ``vjp``, bound to its attributes), and the values
        to free after it.
    forward_steps : tuple of lists
        The schedule's forward steps, with the values to free once each has run, and
        residuals kept only for the nodes that send messages.

    Plans are built at every ``mg.grad`` call, so they allocate few objects per node: the
    edges that many steps share are made once, and empty free lists are ``()``.
    """

    def __init__(self, sched: Schedule, loss: int, sources: tuple[int, ...] | None) -> None:
        nodes = sched.nodes
        src = (
            set(sources)
            if sources is not None
            else {i for i, nd in enumerate(nodes) if nd.kind in ("input", "param")}
        )
        reach = _reached_from(sched, src)
        below, last_read, self.steps = _steps_to(sched, loss, reach)
        self._reach_below = (reach, below)  # what active is made of, when first read
        self._active: list[bool] | None = None
        self.loss = loss
        self.sources = sorted(src)
        self.kept = frozenset(src)  # the error signals a run that frees the others keeps
        self.wrt = sources  # None: every input and parameter, not checked
        self.sources_checked: tuple[int, ...] | None = None  # what runs still check (Run)
        self._nodes, self._args = nodes, sched.args  # not the schedule: that would be a cycle
        self._unreachable: dict[int, str | None] = {}
        forward_frees, backward_frees = _free_lists(sched, loss, src, last_read, len(self.steps[0]))
        self.steps += (backward_frees,)
        _, fns, fargs, _, saves = sched.steps
        if sched.saving:  # residuals only for the nodes whose vjps run
            sends = set(self.steps[0])
            saves = [s and (1 if i in sends else 2) for i, s in zip(sched.op_slots, saves)]
        self.forward_steps = (sched.op_slots, fns, fargs, forward_frees, saves)
        self.runs = 0  # gradient runs with the loops, until compiled (Run.for_gradient_slots)
        self.compiled = None  # the plan as one function (mpgraph.engine.compiled)

    @property
    def active(self) -> list[bool]:
        """Per slot, whether the node lies on a differentiable path from a source to the
        loss (made when first read: ``mg.grad`` rarely reads it)."""
        active = self._active
        if active is None:  # two threads may both make it: the same list
            reach, below = self._reach_below
            active = self._active = [r and b for r, b in zip(reach, below)]
        return active

    def unreachable(self, source: int) -> str | None:
        """Why ``source`` cannot get a gradient from the loss, or ``None`` if it can: it
        reaches the loss only through arguments that their ops declare non-differentiable."""
        reach, below = self._reach_below  # active[source], without making the whole list
        if reach[source] and below[source]:
            return None
        if source not in self._unreachable:
            self._unreachable[source] = self._why_unreachable(source)
        return self._unreachable[source]

    def _why_unreachable(self, s: int) -> str | None:
        nodes, args, loss = self._nodes, self._args, self.loss
        below = {loss}
        for i in range(loss, -1, -1):
            if i in below:
                below.update(args[i])
        if s not in below:
            return None
        reach = {s}
        for i in range(s + 1, loss + 1):
            hits = [k for k, j in enumerate(args[i]) if j in reach]
            if not hits or i not in below:
                continue
            cut = [k for k in hits if not nodes[i].op.variadic and nodes[i].op.vjp[k] is None]
            if cut and len(cut) == len(hits):
                return (
                    f"{at(nodes[i].op.name, nodes[i].name)}: argument {cut[0]} "
                    f"('{nodes[args[i][cut[0]]].name}') is not differentiable, and "
                    f"'{nodes[s].name}' reaches the loss only through it"
                )
            reach.add(i)
        return None


def _reached_from(sched: Schedule, src: set[int]) -> list[bool]:
    """Which slots lie on a path from a source through differentiable arguments."""
    args, ops = sched.args, sched.ops
    reach = [False] * len(sched.nodes)
    for i in src:
        reach[i] = True
    for i in sched.op_slots:
        if not reach[i]:
            a = args[i]
            ks = ops[i].gradient_args
            for k in range(len(a)) if ks is None else ks:
                if reach[a[k]]:
                    reach[i] = True
                    break
    return reach


def _steps_to(sched: Schedule, loss: int, reach: list[bool]) -> tuple[list, list, tuple]:
    """The backward steps from ``loss``, in one pass in reverse topological order.

    Every consumer of a node comes before it, so whether the node is on a path to the loss
    (``below``) is final when it is reached. Returns ``below``, the position of the last step
    that reads each value (``last_read``, -1 for none), and the steps as parallel lists: slots,
    argument slots and edges (``(argnum, vjp)`` pairs, only to arguments reached from a source).
    """
    nodes, args, ops = sched.nodes, sched.args, sched.ops
    n = len(nodes)
    below = [False] * n
    below[loss] = True
    last_read = [-1] * n
    # per (op, mask): the edges and what their vjps read, (reads ans, argument positions),
    # made once for every node of that op whose arguments get the same messages
    shared: dict = {}
    slots, argss, edgess = [], [], []
    for i in reversed(sched.op_slots):
        if not below[i] or i > loss:
            continue
        op = ops[i]
        a = args[i]
        ks = op.gradient_args
        if ks is None:
            ks = range(len(a))
        mask = 0  # bit k: argument k gets a message
        if reach[i]:
            for k in ks:
                j = a[k]
                below[j] = True
                if reach[j]:
                    mask |= 1 << k
        else:
            for k in ks:
                below[a[k]] = True
        if not mask:
            continue
        key = (op, mask, len(a))
        made = shared.get(key)
        if made is None:
            made = shared[key] = _edges(op, mask, len(a))
        edges, reads_ans, positions, binds = made
        pos = len(slots)
        if reads_ans:
            last_read[i] = pos
        for p in positions:
            last_read[a[p]] = pos
        if binds and (op.variadic or nodes[i].attrs):  # vjps bound to this node's attributes
            attrs = nodes[i].attrs
            edges = tuple([(k, _bind_vjp(op, k, attrs)) for k, _ in edges])
        slots.append(i)
        argss.append(a)
        edgess.append(edges)
    return below, last_read, (slots, argss, edgess)


def _edges(op, mask: int, nargs: int) -> tuple[tuple, bool, tuple[int, ...], bool]:
    """The edges of a node of ``op`` whose arguments in ``mask`` get messages, whether their
    vjps read the node's value, the positions of the arguments whose values they read
    (``Op.needs``; everything if unsaid), and whether a node's vjps may need binding to its
    attributes (an op without attributes has none to bind)."""
    edges = tuple((k, None if op.variadic else op.vjp[k]) for k in range(nargs) if mask >> k & 1)
    binds = bool(op.variadic or op.attr_names)
    reads = op.reads
    if reads is None:
        return edges, True, tuple(range(nargs)), binds
    reads_ans, positions = False, set()
    for k, _ in edges:
        ans, ps = reads[k]
        reads_ans = reads_ans or ans
        positions.update(ps)
    return edges, reads_ans, tuple(sorted(positions)), binds


def _free_lists(
    sched: Schedule, loss: int, src: set[int], last_read: list[int], n_steps: int
) -> tuple[list, list]:
    """The values to free after each forward and each backward step.

    Only op nodes' values (the others belong to the graph or the caller), never what the
    caller reads after the run, nor scalars (not worth a stand-in). A value some vjp reads is
    freed after the last such step; any other after its last consumer in the forward pass.
    """
    kept = set(src)
    kept.update(sched.outputs)
    kept.add(loss)
    nodes, last_use = sched.nodes, None
    forward_frees = [()] * len(sched.op_slots)
    backward_frees = [()] * n_steps
    for j in sched.op_slots:
        if j in kept or nodes[j].shape == ():
            continue
        if last_read[j] >= 0:
            backward_frees[last_read[j]] += (j,)
        else:
            if last_use is None:
                last_use = sched.last_use
            if last_use[j] >= 0:
                forward_frees[last_use[j]] += (j,)
    return forward_frees, backward_frees


def _bind(fn, attrs: dict[str, Any]):
    return partial(fn, **attrs) if attrs else fn


def _bind_vjp(op, argnum: int, attrs: dict[str, Any]):
    if op.variadic:
        return partial(op.vjp, argnum, **attrs)
    return _bind(op.vjp[argnum], attrs)
