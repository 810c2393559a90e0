"""A Run: the forward values, error signals and messages of one evaluation of a Graph.

The backward pass is Grosse's message passing: nodes are visited in reverse topological order;
a node's error signal (``x̄ = dL/dx``) is the sum of the messages from its children, and its
op's vjp turns that signal into one message per parent. Everything a run computes lives here,
never on the Graph, so one Graph runs many times, from many threads at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import numpy as np

from ..backend import NUMPY, Library, library_of, not_dispatching, to_numpy
from ..errors import FeedError, GraphError, MpgraphError, OpError, ShapeError, a_kind, at
from ..hooks.manager import describe, observers
from .compiled import compile_plan
from .node import Node
from .schedule import Schedule
from .tangents import push_tangents

__all__ = ["Run"]


class Run:
    """The result of ``g.forward(outputs, feed)``.

    Examples
    --------
    >>> import mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x")
    >>> y = x * x + x            # x fans out to three edges: two into multiply, one into add
    >>> run = g.forward(y, feed={"x": 3.0})
    >>> float(run[y])
    12.0
    >>> float(run.backward(y).grad(x))   # x̄ = 2x + 1
    7.0
    """

    __slots__ = (
        "schedule",
        "values",
        "signals",
        "_messages",
        "_observers",
        "_freed",
        "residuals",
        "tangents",
        "tangent_messages",
        "values_freed",
        "library",
    )

    def __init__(self, schedule: Schedule, feed: Mapping[Any, Any] | None = None) -> None:
        self.schedule = schedule
        self.signals: list | None = None
        self._messages: dict[tuple[str, str, int], Any] | None = None
        self._freed: tuple | None = None  # (plan, kept slots) when signals were freed
        self.residuals: dict[int, Any] = {}  # by slot, for ops with Op.fwd
        self.tangents: list | None = None
        self.tangent_messages: dict[tuple[str, str, int], Any] | None = None
        self.values_freed = False  # whether values were freed early (for_gradients)
        self.library: Library = NUMPY  # the array library of the feeds (set by _forward)
        self._observers = observers()
        self.values = _forward(self, schedule, feed, schedule.steps)

    @classmethod
    def for_gradients(
        cls, schedule: Schedule, loss: Node, wrt: list[Node], feed: Mapping[Any, Any] | None = None
    ) -> Run:
        """Run forward, then backward from scalar ``loss``, keeping only what the gradients
        with respect to ``wrt`` need (what ``g.grad`` and ``mg.grad`` do).

        A value that no vjp reads is freed as soon as its last consumer has run, a value that
        some vjp reads once the last of them has run, and an error signal once its messages
        are sent. Only the values of the outputs and of ``wrt``, and the error signals of
        ``wrt``, stay in the returned Run.

        Examples
        --------
        >>> import numpy as np, mpgraph as mg
        >>> g = mg.Graph()
        >>> x = g.input("x", shape=(3,))
        >>> u = x * 2.0
        >>> y = mg.ops.sum(mg.ops.exp(u))       # exp's vjp reads its output, not its input
        >>> run = mg.Run.for_gradients(g.schedule(y), y, [x], {"x": np.zeros(3)})
        >>> float(run[y]), run.grad(x)            # sum(e^(2x)), 2 e^(2x)
        (3.0, array([2., 2., 2.]))
        >>> run[u].strides     # freed once exp had run: a stand-in of its shape and dtype
        (0,)
        """
        slot = _empty(cls, schedule)._slot
        return cls.for_gradient_slots(
            schedule, slot(loss), tuple(sorted({slot(w) for w in wrt})), feed
        )

    @classmethod
    def for_gradient_slots(
        cls,
        schedule: Schedule,
        loss: int,
        sources: tuple[int, ...],
        feed: Mapping[Any, Any] | None = None,
    ) -> Run:
        """:meth:`for_gradients` with the loss and the sources given by their slots in
        ``schedule`` (``sources`` sorted, without repeats): what ``g.grad`` calls, having
        found the slots already."""
        run = _empty(cls, schedule)
        plan = schedule.backward_plan(loss, sources)
        compiled = plan.compiled
        if compiled is None:
            plan.runs += 1
            if (
                plan.runs > COMPILE_AFTER
                and len(plan.forward_steps[0]) <= COMPILE_STEPS
                and run._observers == _NO_OBSERVERS
            ):
                compiled = plan.compiled = compile_plan(plan, loss, _helpers(schedule, loss))
        if compiled is not None and run._observers == _NO_OBSERVERS:
            vals = _start(run, schedule, feed)
            if run.library is NUMPY:
                if plan.wrt is not None:
                    run._check_sources(plan)
                signals = [None] * len(vals)
                try:
                    compiled(vals, signals)
                except Exception:  # again with the loops, whose errors name the node
                    run = _empty(cls, schedule)
                else:
                    run.signals = signals
                    run._freed = (plan, plan.kept)
                    return run
            else:
                run = _empty(cls, schedule)
        run.values = _forward(run, schedule, feed, plan.forward_steps)
        run._backpropagate(plan, loss, None, keep=False, keep_messages=False, free_values=True)
        return run

    # -- reading --------------------------------------------------------------------------------

    def _slot(self, node: Node | str) -> int:
        if type(node) is Node:
            i = node.index
            nodes = self.schedule.nodes
            if i < len(nodes) and nodes[i] is node:  # the slot is the creation index (inline)
                return i
            i = self.schedule.slot_of(node)
            if i is not None:
                return i
            name = node.name
            if not _of_graph(node, self.schedule.graph()):  # the same name in another graph
                raise GraphError(f"mpgraph: node '{name}' belongs to another graph than this run's")
        else:
            name = node
            try:
                return self.schedule.slot[name]
            except (KeyError, TypeError):
                if not isinstance(name, str):
                    raise GraphError(
                        f"mpgraph: a run is read by node or node name; got "
                        f"{type(name).__name__} {name!r:.60}"
                    ) from None
        raise GraphError(
            f"mpgraph: node '{name}' was not computed by this run "
            f"(outputs: {', '.join(self._output_names())})"
        )

    def _output_names(self) -> list[str]:
        return [self.schedule.nodes[i].name for i in self.schedule.outputs]

    def __getitem__(self, node: Node | str) -> Any:
        """The forward value of ``node``."""
        return self.values[self._slot(node)]

    def value(self, node: Node | str) -> Any:
        """The forward value of ``node``."""
        return self.values[self._slot(node)]

    def grad(self, node: Node | str) -> Any:
        """The error signal of ``node`` (``dL/dnode``), or ``None`` if no message reached it.

        Raises
        ------
        MpgraphError
            No backward pass yet, or the signal was freed (``keep=False``, or ``g.grad``).
        """
        if self.signals is None:
            raise MpgraphError(
                "mpgraph: this run has no error signals yet: call run.backward(loss)"
            )
        i = self._slot(node)
        s = self.signals[i]
        if s is None and self._freed is not None:
            plan, kept = self._freed
            if plan.active[i] and i not in kept:
                raise MpgraphError(
                    f"mpgraph: the error signal of node '{self.schedule.nodes[i].name}' was freed "
                    "once its messages were sent: this backward pass kept only the signals of "
                    f"its wrt nodes ({', '.join(self.schedule.nodes[j].name for j in sorted(kept))})"
                    "; call run.backward(loss, keep=True) to keep every signal"
                )
        return s

    @property
    def messages(self) -> dict[tuple[str, str, int], Any]:
        """The message on every edge, ``{(parent, child, argnum): message}``, kept by
        ``run.backward(loss, keep_messages=True)``.

        Raises
        ------
        MpgraphError
            The backward pass did not keep its messages (see :attr:`has_messages`).
        """
        if self._messages is None:
            raise MpgraphError(
                "mpgraph: this run kept no messages: call "
                "run.backward(loss, keep_messages=True) to keep them"
            )
        return self._messages

    @property
    def has_messages(self) -> bool:
        """Whether the backward pass kept its messages (``keep_messages=True``)."""
        return self._messages is not None

    def grads_of(self, nodes: Iterable[Node | str]) -> list[np.ndarray]:
        """Error signals as fresh arrays of each node's shape, zeros where none arrived."""
        return self.grads_at([self._slot(node) for node in nodes])

    def grads_at(self, slots: Iterable[int]) -> list[np.ndarray]:
        """:meth:`grads_of` for the nodes at ``slots`` of the run's schedule."""
        signals = self.signals if self.signals is not None else [None] * len(self.values)
        values, foreign = self.values, self.library is not NUMPY
        out, seen = [], set()
        for i in slots:
            s = signals[i]
            if foreign:  # always a copy: a feed handed back is the caller's
                s = np.zeros_like(values[i]) if s is None else s.copy()
            elif s is None:
                s = np.zeros(np.shape(values[i]), dtype=np.result_type(values[i]))
            elif type(s) is not np.ndarray or not s.flags.writeable or id(s) in seen:
                s = np.array(s)  # the caller may update it in place: give it its own array
            seen.add(id(s))
            out.append(s)
        return out

    def jvp(self, tangents: Mapping[Node | str, Any], *, keep_messages: bool = False) -> Run:
        """Forward mode: push ``tangents`` (node -> array of its shape) along the edges.

        Each op node's tangent is the sum of the tangent messages on its in-edges, each the
        op's Jacobian-vector product (``Op.jvp``, or the transpose of a differentiable vjp).
        With one tangent on an input ``w``, every node's tangent is ``d node / dw`` in that
        direction, the "forward pass" of Lee's lecture.

        Parameters
        ----------
        tangents : mapping from node (or name) to array
            The seeds, usually on inputs and parameters.
        keep_messages : bool
            Keep the tangent message on every edge, ``run.tangent_messages[(parent, child,
            argnum)]``.

        Returns
        -------
        Run
            ``self``: read ``run.tangent(node)``.

        Raises
        ------
        ShapeError
            A seed whose shape is not its node's.
        GraphError
            A seed names a node this run did not compute, or an integer node; an op on the way
            has neither a jvp rule nor a differentiable vjp; the run freed values (``g.grad``).
        OpError
            A jvp rule raised.

        See also
        --------
        backward, mpgraph.jvp

        Examples
        --------
        >>> import mpgraph as mg
        >>> g = mg.Graph()
        >>> w = g.input("w")
        >>> z = w * w + 3.0 * w
        >>> run = g.forward(z, {"w": 2.0}).jvp({w: 1.0}, keep_messages=True)
        >>> float(run.tangent(z))                        # dz/dw = 2w + 3
        7.0
        >>> float(run.tangent_messages[("w", "multiply_2", 1)])   # w's tangent times 3
        3.0
        """
        if self.values_freed:  # the stand-ins of freed values would give NaN tangents
            raise GraphError(
                "mpgraph: this run freed the values its gradients did not need "
                "(g.grad, Run.for_gradients), and forward mode needs them all: "
                "push tangents on a run from g.forward(outputs, feed)"
            )
        self.tangents, self.tangent_messages = push_tangents(self, tangents, keep_messages)
        return self

    def tangent(self, node: Node | str) -> Any:
        """The tangent of ``node`` from the last :meth:`jvp`, or ``None`` if none reached it."""
        if self.tangents is None:
            raise MpgraphError("mpgraph: this run has no tangents yet: call run.jvp(tangents)")
        return self.tangents[self._slot(node)]

    def tangents_of(self, nodes: Iterable[Node | str]) -> list[np.ndarray]:
        """Tangents as arrays of each node's shape, zeros where none arrived."""
        out = []
        for node in nodes:
            t = self.tangent(node)
            value = self.values[self._slot(node)]
            if t is None:
                t = np.zeros_like(value, dtype=np.promote_types(_shape_dtype(value)[1], np.float64))
            out.append(t.copy() if self.library is not NUMPY else np.array(t))
        return out

    @property
    def error_signals(self) -> dict[str, Any]:
        """Every error signal this run kept, by node name."""
        if self.signals is None:
            return {}
        return {n.name: s for n, s in zip(self.schedule.nodes, self.signals) if s is not None}

    def __repr__(self) -> str:
        """What the run computed: its outputs with their values' shapes and dtypes, how many
        values it holds, and what its backward pass kept."""
        sched = self.schedule
        outs = []
        for i in sched.outputs:
            shape, dtype = _shape_dtype(self.values[i])
            outs.append(f"{sched.nodes[i].name} {shape} {dtype}")
        text = f"<Run of {', '.join(outs)}: {len(sched.nodes)} values"
        if self.signals is None:
            return text + "; no backward pass yet>"
        kept = sum(s is not None for s in self.signals)
        text += f"; backward: {kept} error signal{'s' if kept != 1 else ''}"
        if self._freed is not None:
            text += " (the others freed)"
        if self._messages is not None:
            text += f", {len(self._messages)} message{'s' if len(self._messages) != 1 else ''}"
        return text + ">"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """The run's annotated picture in Jupyter (see :func:`mpgraph.drawing.render`)."""
        from ..drawing.jupyter import repr_mimebundle  # the one upward import: display only

        return repr_mimebundle(self)

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")

    # -- backward -------------------------------------------------------------------------------

    def backward(
        self,
        loss: Node | str | None = None,
        seed: Any = None,
        wrt: Iterable[Node | str] | None = None,
        *,
        keep: bool = True,
        keep_messages: bool = False,
    ) -> Run:
        """Backpropagate from ``loss`` by message passing.

        Parameters
        ----------
        loss : node or name, optional
            Defaults to the run's only output.
        seed : array, optional
            The loss's error signal; 1 for a scalar loss, required for any other shape.
        wrt : nodes, optional
            Where gradients are wanted. By default every input and parameter, so that every
            node that affects the loss gets an error signal; naming fewer skips work.
        keep : bool
            Keep every error signal (default). With False, a signal is freed once its messages
            are sent, and only those of the ``wrt`` nodes stay.
        keep_messages : bool
            Keep the message sent on every edge, as ``run.messages[(parent, child, argnum)]``.

        Returns
        -------
        Run
            ``self``, so that ``run.backward(L).grad(w)`` reads well.

        Raises
        ------
        GraphError
            ``loss`` was not computed, or a ``wrt`` node reaches the loss only through an
            argument its op declares non-differentiable.
        ShapeError
            No seed for a non-scalar loss, a seed of the wrong shape, or a vjp whose message
            does not have its parent's shape.
        OpError
            A vjp raised; the node and op are named and the exception chained.
        """
        sched = self.schedule
        if loss is None:
            if len(sched.outputs) != 1:
                raise GraphError(
                    "mpgraph: this run has several outputs "
                    f"({', '.join(self._output_names())}): name the loss"
                )
            li = sched.outputs[0]
        else:
            li = self._slot(loss)
        sources = None if wrt is None else tuple(sorted({self._slot(w) for w in wrt}))
        plan = sched.backward_plan(li, sources)
        return self._backpropagate(
            plan, li, seed, keep=keep, keep_messages=keep_messages, free_values=False
        )

    def _backpropagate(
        self, plan, li: int, seed: Any, *, keep: bool, keep_messages: bool, free_values: bool
    ) -> Run:
        if plan.wrt is not None:
            self._check_sources(plan)
        signals = [None] * len(self.schedule.nodes)
        signals[li] = _seed(self.schedule.nodes[li], self.values[li], seed)
        if self.library is not NUMPY:
            signals[li] = self.library.asarray(signals[li])
        messages = {} if keep_messages else None
        keep_mask = None if keep else plan.kept
        _backward(self, plan, signals, messages, keep_mask, free_values)
        self.signals = signals
        self._messages = messages
        self._freed = None if keep_mask is None else (plan, keep_mask)
        return self

    def _check_sources(self, plan) -> None:
        """Refuse a source that cannot have a gradient: integer-valued, or reaching the loss
        only through arguments that their ops declare non-differentiable."""
        nodes = self.schedule.nodes
        # a parameter's dtype and every source's reachability are the plan's: checked once
        for s in plan.wrt if plan.sources_checked is None else plan.sources_checked:
            dtype = _shape_dtype(self.values[s])[1]
            if dtype.kind not in "fc":
                raise GraphError(
                    f"mpgraph: node '{nodes[s].name}' has dtype {dtype}: only float "
                    "values carry gradients"
                )
            why = plan.unreachable(s)
            if why is not None:
                raise GraphError(why)
        if plan.sources_checked is None:
            plan.sources_checked = tuple(s for s in plan.wrt if nodes[s].kind != "param")


# A plan of at most COMPILE_STEPS forward steps is compiled (mpgraph.engine.compiled) once it
# has run COMPILE_AFTER times with the loops, as a training loop's does early on. Measured in
# docs/performance.md: compiled runs take 0.75-0.8x the loops' time up to about 300 op nodes,
# the same at 3,000; compiling costs 2 ms for 9 nodes, 50 ms for 300 and 1.3 s for 6,000.
COMPILE_AFTER = 100
COMPILE_STEPS = 200
_NO_OBSERVERS = (None, None, None)


def _helpers(schedule: Schedule, loss: int) -> dict:
    """What a compiled plan calls: as the loops free values, check messages and seed."""
    nodes = schedule.nodes

    def check(i, k, j, msg, parent_value):
        if msg is None:
            return None
        try:
            if msg.shape == parent_value.shape and msg.dtype is parent_value.dtype:
                return msg
        except AttributeError:  # a Python number, or a tuple by mistake
            pass
        return _check_message(nodes, i, k, j, msg, parent_value)

    def seed(value):
        return _seed(nodes[loss], value, None)

    return {"stand_ins": _stand_ins, "stand_in": _stand_in, "check": check, "seed": seed}


def _empty(cls: type[Run], schedule: Schedule) -> Run:
    """A run of ``schedule`` that frees values as it goes, before its passes have run."""
    run = cls.__new__(cls)
    run.schedule = schedule
    run.signals = run._messages = run._freed = None
    run.tangents = run.tangent_messages = None
    run.residuals = {}
    run.values_freed = True
    run.library = NUMPY
    run._observers = observers()
    return run


def _of_graph(node: Node, graph) -> bool:
    try:
        return node.graph is graph
    except GraphError:  # its graph no longer exists: so it is not this one
        return False


def _seed(node: Node, value: Any, seed: Any) -> Any:
    if seed is None and (type(value) is np.float64 or type(value) is np.float32):
        return np.array(1, dtype=value.dtype)  # a NumPy scalar loss (the common case), at once
    shape, dtype = _shape_dtype(value)
    if dtype.kind not in "biuf":
        what = "complex" if dtype.kind == "c" else f"of dtype {dtype}"
        raise GraphError(
            f"mpgraph: backward from node '{node.name}': its value is {what}; a "
            "loss is a real number (mpgraph differentiates real functions only)"
        )
    if seed is None:
        if shape != ():
            raise ShapeError(
                f"mpgraph: backward from node '{node.name}' needs a seed: its value has "
                f"shape {shape}, not a scalar (reduce it, e.g. with mg.ops.sum, "
                "or pass seed= to run.backward)"
            )
        return np.array(1, dtype=dtype)  # np.ones would add a Python call
    try:
        # a copy: the caller's array is never aliased
        seed = np.array(to_numpy(seed), dtype=dtype)
    except (TypeError, ValueError):
        raise FeedError(
            f"mpgraph: the seed for node '{node.name}' must be an array of numbers "
            f"of shape {shape}; got {type(seed).__name__} {seed!r:.60}"
        ) from None
    if seed.shape != shape:
        raise ShapeError(
            f"mpgraph: the seed for node '{node.name}' has shape {seed.shape}; "
            f"expected {shape}, the shape of its value"
        )
    return seed


def _feed_values(
    sched: Schedule, feed: Mapping[Any, Any] | None, vals: list, graph
) -> tuple[Library, str]:
    if type(feed) is not dict and feed is not None and not isinstance(feed, Mapping):
        raise FeedError(
            f"mpgraph: the feed must be a mapping from input (node or name) to "
            f"value, e.g. {{'x': array}}; got {type(feed).__name__}"
        )
    given = {}
    for key, value in (feed or {}).items():
        if type(key) is str:
            name = key
        elif type(key) is Node:
            if not _of_graph(key, graph):
                raise FeedError(f"mpgraph: the feed is keyed by node '{key.name}' of another graph")
            name = key.name
        elif isinstance(key, str):
            name = key
        else:
            raise FeedError(
                f"mpgraph: the feed's keys are inputs (nodes or names); got "
                f"{type(key).__name__} {key!r:.60}"
            )
        try:
            node = graph[name]
        except GraphError:
            node = None
        if node is None or node.kind != "input":
            what = "no node" if node is None else f"{a_kind(node.kind)}, not an input"
            hint = (
                "; set a parameter with g.set_param"
                if node is not None and node.kind == "param"
                else ""
            )
            inputs = ", ".join(n.name for n in graph.inputs()) or "none"
            raise FeedError(
                f"mpgraph: the feed names '{name}', which is {what}{hint} (inputs: {inputs})"
            )
        given[name] = value
    library, where = _feed_library(sched, given, graph.library)
    nodes = sched.nodes
    for i in sched.inputs:
        node = nodes[i]
        vals[i] = _convert_feed(node, given[node.name], library)
    return library, where


def _feed_library(sched: Schedule, given: dict, graph_library: Library) -> tuple[Library, str]:
    """The run's array library: the one library of the array feeds (Python numbers and lists
    go with any), else the graph's; and the input that chose it (for errors)."""
    library, where = None, ""
    for i in sched.inputs:
        node = sched.nodes[i]
        if node.name not in given:
            raise FeedError(
                f"mpgraph: input '{node.name}' is not fed; the outputs "
                f"{', '.join(repr(sched.nodes[o].name) for o in sched.outputs)} need it"
            )
        value = given[node.name]
        if isinstance(value, np.ndarray):
            lib = NUMPY
        else:
            lib = library_of(value)
            if lib is NUMPY:
                refused = not_dispatching(value, f"the feed for input '{node.name}'")
                if refused is not None:
                    raise FeedError(refused)
                continue  # a number or a list: it takes the run's library
        if library is None:
            library, where = lib, node.name
        elif lib is not library and lib != library:
            raise FeedError(
                f"mpgraph: the feeds mix array libraries: input '{where}' is a "
                f"{library.name} array and input '{node.name}' a {lib.name} array; "
                "feed every input from one library"
            )
    return (graph_library, "") if library is None else (library, where)


def _convert_feed(node: Node, value: Any, library: Library) -> Any:
    if library is not NUMPY:
        return _convert_foreign_feed(node, value, library)
    try:
        arr = np.asarray(value)
    except ValueError as e:  # a ragged list
        raise FeedError(f"mpgraph: the feed for input '{node.name}' is not an array: {e}") from None
    arr = _checked_feed(node, arr)
    if arr.flags.writeable:
        # A read-only view: a vjp that hands the feed back as a message makes a gradient
        # that g.grad then copies, so no gradient the caller updates in place is their feed.
        arr = arr.view()
        arr.flags.writeable = False
    return arr


def _convert_foreign_feed(node: Node, value: Any, library: Library) -> Any:
    if library_of(value) != library:  # a Python number or list: made in the run's library
        try:
            value = library.asarray(np.asarray(value))
        except ValueError as e:
            raise FeedError(
                f"mpgraph: the feed for input '{node.name}' is not an array: {e}"
            ) from None
    return _checked_feed(node, value)


def _checked_feed(node: Node, arr: Any) -> Any:
    if node.dtype is not None and arr.dtype != node.dtype:
        if not np.can_cast(arr.dtype, node.dtype, "same_kind"):
            raise FeedError(
                f"mpgraph: input '{node.name}' has dtype {node.dtype}; "
                f"the feed has dtype {arr.dtype}"
            )
        arr = arr.astype(node.dtype)
    if arr.dtype.kind not in "biuf":
        what = "complex" if arr.dtype.kind == "c" else f"dtype {arr.dtype}"
        raise FeedError(
            f"mpgraph: the feed for input '{node.name}' is {what}; feeds are real "
            "numbers (booleans, integers or floats)"
            + (": mpgraph differentiates real functions only" if arr.dtype.kind == "c" else "")
        )
    shape = node.shape
    fits = shape is None or shape == arr.shape
    if not fits and arr.ndim == len(shape):  # a dim left open (None): the others must match
        fits = True
        for d, n in zip(shape, arr.shape):
            if d is not None and d != n:
                fits = False
    if not fits:
        raise FeedError(
            f"mpgraph: input '{node.name}' has shape "
            f"{tuple('?' if d is None else d for d in node.shape)}; ".replace("'?'", "?")
            + f"the feed has shape {tuple(arr.shape)}"
        )
    return arr


def _start(run: Run, sched: Schedule, feed) -> list:
    """The run's list of values, with the feeds, parameters and constants in their slots
    (and the graph moved to the feeds' library on its first run there)."""
    vals: list = [None] * len(sched.nodes)
    run.values = vals  # observers may look at the values computed so far
    nodes = sched.nodes
    graph = sched.graph()
    library, where = _feed_values(sched, feed, vals, graph)
    run.library = library
    if library is not graph.library and library != graph.library:
        if graph.library is not NUMPY:
            raise FeedError(
                f"mpgraph: the graph's parameters and constants live in {graph.library.name} "
                f"(moved there when it first ran on {graph.library.name} arrays), and input "
                f"'{where}' is fed a {library.name} array: feed {graph.library.name} arrays, "
                f"or move the graph first with g.to('{library.name}')"
            )
        graph.to(library)  # the first run on a library: the model moves to the device
    for i in sched.consts:
        vals[i] = nodes[i].fixed
    for i in sched.params:
        vals[i] = nodes[i].fixed
    on_value = run._observers[0]
    if on_value is not None:
        for i in range(len(vals)):
            if nodes[i].kind != "op":
                on_value(run=run, node=nodes[i], value=vals[i])
    return vals


def _forward(run: Run, sched: Schedule, feed, steps: tuple) -> list:
    vals = _start(run, sched, feed)
    nodes = sched.nodes
    on_value = run._observers[0]
    residuals = run.residuals
    foreign = run.library is not NUMPY
    i = -1
    try:
        for i, fn, a, free, save in zip(*steps):
            n = len(a)
            if n == 1:
                v = fn(vals[a[0]])
            elif n == 2:
                v = fn(vals[a[0]], vals[a[1]])
            else:
                v = fn(*[vals[j] for j in a])
            if save:  # Op.fwd: (ans, residuals)
                v, res = v
                if save == 1:
                    residuals[i] = res
            vals[i] = v
            if on_value is not None:
                on_value(run=run, node=nodes[i], value=vals[i])
            if free:  # values no later step reads become stand-ins; a scalar is left as it is
                # (freeing it saves nothing). Inline, not a function: this runs per node.
                for j in free:
                    v = vals[j]
                    if type(v) is np.ndarray:
                        if v.size > 1:
                            freed = _stand_ins.get((v.shape, v.dtype))
                            vals[j] = freed if freed is not None else _stand_in(v)
                    elif foreign:
                        vals[j] = _foreign_stand_in(v)
    except MpgraphError:
        raise
    except Exception as e:
        node = nodes[i]
        _blame_non_array(nodes, vals, sched.args[i], node, e)
        raise OpError(
            f"{at(node.op.name, node.name)}: forward raised {type(e).__name__}: {e}"
            f"{_plugin_note(node)}"
        ) from e
    return vals


def _backward(
    run: Run, plan, signals: list, messages: dict | None, keep: set | None, free_values: bool
) -> None:
    vals = run.values
    nodes = run.schedule.nodes
    _, on_message, on_signal = run._observers
    owned = [False] * len(signals)  # whether the signal is a sum this pass allocated
    residuals = run.residuals
    foreign = run.library is not NUMPY
    i = k = -1
    try:
        for i, a, edges, free in zip(*plan.steps):
            g = signals[i]
            if g is None:
                continue
            if on_signal is not None:
                on_signal(run=run, node=nodes[i], signal=g)
            ans = vals[i]
            n = len(a)
            if n == 2:  # the arguments passed one by one: no tuple to build and unpack
                x0, x1 = vals[a[0]], vals[a[1]]
            elif n == 1:
                x0 = vals[a[0]]
            else:
                args = [vals[j] for j in a]
            if residuals and i in residuals:  # an op with Op.fwd: its vjps read them
                res = residuals.pop(i) if free_values else residuals[i]
                edges = [(k, partial(vjp, res=res)) for k, vjp in edges]
            for k, vjp in edges:
                j = a[k]
                msg = (
                    vjp(g, ans, x0, x1)
                    if n == 2
                    else vjp(g, ans, x0)
                    if n == 1
                    else vjp(g, ans, *args)
                )
                if msg is None:
                    continue
                try:
                    # the dtype too: a float32 parameter gets a float32 gradient, even from
                    # a vjp that NumPy's promotion took to float64
                    same = msg.shape == vals[j].shape and msg.dtype is vals[j].dtype
                except AttributeError:  # a Python number, or a tuple by mistake
                    same = False
                if not same:
                    msg = _check_message(nodes, i, k, j, msg, vals[j])
                if on_message is not None:
                    msg = _relay(on_message, run, nodes[j], nodes[i], k, msg)
                if messages is not None:
                    messages[(nodes[j].name, nodes[i].name, k)] = msg
                old = signals[j]
                if old is None:
                    signals[j] = msg
                elif owned[j]:
                    old += msg
                    signals[j] = old
                else:
                    signals[j] = old + msg
                    owned[j] = True
            if keep is not None and i not in keep:
                signals[i] = None
            if free_values and free:  # as in _forward
                for j in free:
                    v = vals[j]
                    if type(v) is np.ndarray:
                        if v.size > 1:
                            freed = _stand_ins.get((v.shape, v.dtype))
                            vals[j] = freed if freed is not None else _stand_in(v)
                    elif foreign:
                        vals[j] = _foreign_stand_in(v)
    except MpgraphError:
        raise
    except Exception as e:
        node = nodes[i]
        _blame_non_array(nodes, vals, (i, *run.schedule.args[i]), node, e)
        raise OpError(
            f"{at(node.op.name, node.name)}: vjp for argument {k} "
            f"('{node.args[k].name}') raised {type(e).__name__}: {e}{_plugin_note(node)}"
        ) from e
    if on_signal is not None:
        for j in plan.sources:
            if signals[j] is not None:
                on_signal(run=run, node=nodes[j], signal=signals[j])


def _blame_non_array(nodes, vals: list, slots, user: Node, error: Exception) -> None:
    """When an op's forward returned a list (or another non-array), the op that failed on it
    is not at fault: raise an OpError naming the op that returned it."""
    for j in slots:
        if nodes[j].kind == "op" and isinstance(vals[j], (list, tuple, dict, str)):
            raise OpError(
                f"{at(nodes[j].op.name, nodes[j].name)}: forward returned a "
                f"{type(vals[j]).__name__}, not an array (found when '{user.name}' "
                f"failed on it){_plugin_note(nodes[j])}"
            ) from error


def _shape_dtype(value: Any) -> tuple[tuple, np.dtype]:
    if type(value) is np.ndarray or isinstance(value, np.generic):
        return value.shape, value.dtype
    dtype = getattr(value, "dtype", None)
    if dtype is not None:  # an array of another library
        return tuple(value.shape), dtype
    return np.shape(value), np.result_type(value)


_stand_ins: dict[tuple, np.ndarray] = {}


def _stand_in(value: np.ndarray) -> np.ndarray:
    """What stays of a freed value: a read-only, zero-strided array of its shape and dtype (NaN
    for floats), shared by every freed value of that shape and dtype."""
    key = (value.shape, value.dtype)
    stand_in = _stand_ins.get(key)
    if stand_in is None:
        if len(_stand_ins) > 1024:  # shapes vary from run to run: do not grow without end
            _stand_ins.clear()
        # NaN where the dtype has one: a vjp that reads a value its op said it does not need
        # (a wrong Op.needs) then gives NaN gradients, not plausible zeros
        fill = np.nan if key[1].kind in "fc" else 0
        stand_in = _stand_ins[key] = np.broadcast_to(np.full((), fill, key[1]), key[0])
    return stand_in


def _foreign_stand_in(value: Any) -> Any:
    """A freed value of another library: a zero-strided array of its shape and dtype in that
    library (NaN for floats, as :func:`_stand_in`), so that device memory is given back."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or isinstance(value, np.generic) or value.size <= 1:
        return value
    fill = np.nan if dtype.kind in "fc" else 0
    return np.broadcast_to(np.full((), fill, dtype, like=value), value.shape)


def _check_message(nodes, i: int, k: int, j: int, msg: Any, parent_value: Any) -> Any:
    node = nodes[i]
    if isinstance(msg, (tuple, list)):  # a vjp written as one function for every argument
        raise ShapeError(
            f"{at(node.op.name, node.name)}: vjp for argument {k} ('{nodes[j].name}') "
            f"returned {len(msg)} messages in a {type(msg).__name__}; each vjp entry "
            f"returns the one message for its argument{_plugin_note(node)}"
        )
    got, want = _shape_dtype(msg)[0], _shape_dtype(parent_value)[0]
    if got != want:
        raise ShapeError(
            f"{at(node.op.name, node.name)}: vjp for argument {k} ('{nodes[j].name}') "
            f"returned a message of shape {got}; expected {want}, the shape of "
            f"'{nodes[j].name}'{_plugin_note(node)}"
        )
    dtype = _shape_dtype(parent_value)[1]
    if dtype.kind == "f" and _shape_dtype(msg)[1] != dtype:
        if _shape_dtype(msg)[1].kind == "c":
            raise OpError(
                f"{at(node.op.name, node.name)}: vjp for argument {k} "
                f"('{nodes[j].name}') returned a complex message; mpgraph "
                f"differentiates real functions only{_plugin_note(node)}"
            )
        msg = msg.astype(dtype) if hasattr(msg, "astype") else np.asarray(msg).astype(dtype)
    return msg


def _relay(hook, run: Run, parent: Node, child: Node, argnum: int, msg: Any) -> Any:
    """Pass ``msg`` through every ``mpgraph_message`` implementation in turn."""

    def check(impl, old, new) -> None:
        old_shape, new_shape = _shape_dtype(old)[0], _shape_dtype(new)[0]
        if new_shape != old_shape:
            raise ShapeError(
                f"mpgraph: plugin '{impl.plugin_name}' replaced the message from "
                f"'{child.name}' to '{parent.name}' (shape {old_shape}) by one "
                f"of shape {new_shape}"
            )

    return hook.relay(
        "message", check, run=run, parent=parent, child=child, argnum=argnum, message=msg
    )


def _plugin_note(node: Node) -> str:
    plugin = node.op.plugin
    if not plugin or plugin.startswith("mpgraph.builtin"):
        return ""
    return f" [op from {describe(plugin)}]"
