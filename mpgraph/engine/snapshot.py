"""A Snapshot: what a Run computed, by node name, detached from its schedule.

Pictures, exports and saved files read a run through this one shape (values, error signals and
messages keyed by node name), so that a run loaded from a file draws like a live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..backend import NUMPY, library_of, to_numpy
from ..errors import GraphError
from .graph import Graph

__all__ = ["Snapshot", "graph_and_snapshot"]


@dataclass(repr=False)
class Snapshot:
    """The values, error signals and edge messages of one run, keyed by node name.

    Attributes
    ----------
    values : dict
        Node name to forward value, for every node the run computed.
    signals : dict or None
        Node name to error signal (``x̄ = dL/dx``) for every node that got one; ``None`` when
        the run has not been backpropagated.
    messages : dict or None
        ``(parent, child, argnum)`` to the message sent on that edge; ``None`` when the run did
        not keep them (``run.backward(..., keep_messages=True)`` does).
    outputs : list of str
        The outputs the run was asked for.
    tangents : dict or None
        Node name to tangent (forward mode, ``run.jvp``) for every node that got one.
    tangent_messages : dict or None
        ``(parent, child, argnum)`` to the tangent message on that edge
        (``run.jvp(..., keep_messages=True)``).
    where : str
        Where the run's arrays lived when it ran on another library than NumPy (``"on
        cuda:0"``, ``"in dask"``); the snapshot holds NumPy copies of them. Empty for NumPy.

    Examples
    --------
    >>> import mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x")
    >>> y = mg.ops.multiply(x, x, name="y")
    >>> snap = Snapshot.of(g.forward(y, {"x": 3.0}).backward(keep_messages=True))
    >>> float(snap.values["y"]), float(snap.signals["x"])
    (9.0, 6.0)
    >>> sorted((k, float(m)) for k, m in snap.messages.items())
    [(('x', 'y', 0), 3.0), (('x', 'y', 1), 3.0)]
    """

    values: dict[str, Any]
    signals: dict[str, Any] | None = None
    messages: dict[tuple[str, str, int], Any] | None = None
    outputs: list[str] = field(default_factory=list)
    tangents: dict[str, Any] | None = None
    tangent_messages: dict[tuple[str, str, int], Any] | None = None
    where: str = ""

    @classmethod
    def of(cls, run: Any) -> Snapshot:
        """The snapshot of a :class:`~mpgraph.Run` (its arrays are shared, not copied; those of
        a run on another library than NumPy are copied to the host), or ``run`` itself when it
        is a Snapshot already."""
        if isinstance(run, Snapshot):
            return run
        try:
            nodes, values = run.schedule.nodes, run.values
        except AttributeError:
            raise GraphError(
                f"mpgraph: expected a Run or a Snapshot, got {type(run).__name__}"
            ) from None
        library = getattr(run, "library", NUMPY)
        host = _same if library is NUMPY else to_numpy
        signals = None
        if run.signals is not None:
            signals = {n.name: host(s) for n, s in zip(nodes, run.signals) if s is not None}
        tangents = None
        if run.tangents is not None:
            tangents = {n.name: host(t) for n, t in zip(nodes, run.tangents) if t is not None}
        where = ""
        if library is not NUMPY:
            where = library.describe(next((v for v in values if library_of(v) == library), None))
        return cls(
            values={n.name: host(v) for n, v in zip(nodes, values)},
            signals=signals,
            messages=_mapped(host, run.messages) if run.has_messages else None,
            outputs=[nodes[i].name for i in run.schedule.outputs],
            tangents=tangents,
            tangent_messages=None
            if run.tangent_messages is None
            else _mapped(host, run.tangent_messages),
            where=where,
        )

    def __repr__(self) -> str:
        """What the snapshot holds, in counts (its arrays would fill a screen)."""
        parts = [f"{len(self.values)} values"]
        for what, table in (
            ("error signals", self.signals),
            ("messages", self.messages),
            ("tangents", self.tangents),
        ):
            if table is not None:
                parts.append(f"{len(table)} {what}")
        where = f"; {self.where}" if self.where else ""
        return f"<Snapshot of {', '.join(self.outputs) or 'no outputs'}: {', '.join(parts)}{where}>"


def _same(value: Any) -> Any:
    return value


def _mapped(fn, table: dict) -> dict:
    return {key: fn(value) for key, value in table.items()}


def graph_and_snapshot(graph: Any, run: Any = None) -> tuple[Any, Snapshot | None]:
    """``(graph, snapshot)`` from a Graph and an optional Run or Snapshot, or from a Run alone.

    Raises
    ------
    GraphError
        Neither a Graph nor a Run; a Run of another graph; a snapshot naming nodes the graph
        does not have.
    """
    if not isinstance(graph, Graph):
        if run is not None:
            raise GraphError("mpgraph: pass a Graph and a Run, or a Run alone")
        run = graph
        try:
            graph = run.schedule.graph()
        except AttributeError:
            raise GraphError(
                f"mpgraph: expected a Graph or a Run, got {type(graph).__name__}"
            ) from None
    schedule = getattr(run, "schedule", None)
    if schedule is not None and schedule.graph() is not graph:
        raise GraphError("mpgraph: the run is of another graph")
    snap = None if run is None else Snapshot.of(run)
    if snap is not None:
        missing = [n for n in snap.values if n not in graph]
        if missing:
            raise GraphError(
                f"mpgraph: the run has values for nodes that are not in "
                f"this graph ({', '.join(missing[:3])}): a run of another graph?"
            )
    return graph, snap
