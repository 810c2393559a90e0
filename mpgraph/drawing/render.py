"""Pictures of a computation graph: what flowed forward and what flowed back, on one page.

``mg.render(graph, run)`` returns a ``graphviz.Digraph``. Each node shows its name, op, shape
and dtype; with a run, its value and its error signal in Grosse's bar notation (``z̄ = 0.25``).
Each edge shows the message that travelled on it in the backward pass (when the run kept them,
``run.backward(loss, keep_messages=True)``), and a node with several children shows its error
signal as the sum of their messages: the multivariate chain rule, read off the picture.

Views
-----
``forward``
    Arrows from arguments to the ops that use them: values flow from the inputs to the loss.
``backward``
    Lee's reverse network: the same nodes, arrows reversed, each edge labelled with the
    multiplier its op applies (the local derivative ``∂z/∂w``) and the message it carries.
``both``
    The forward arrows, with the backward messages as dashed arrows alongside.

Colours: the error-signal row of a node (and each message) is coloured by the magnitude of its
largest entry, on fixed decades (see ``MAGNITUDES``), so vanishing and exploding gradients stand
out; NaN and Inf values, signals and messages are magenta.

Large graphs: scopes (``g.scope("layer1")``) are drawn as clusters, ``collapse=["layer1"]``
draws a scope as one box, ``expand=["softplus_1"]`` draws what a custom-derivative node holds, ``focus=node, radius=k`` draws a neighbourhood, and ``depth`` and
``max_nodes`` bound what is drawn; the title says what was left out.

Examples
--------
>>> import mpgraph as mg
>>> g = mg.Graph()
>>> x, w = g.input("x"), g.param("w", 2.0)
>>> z = mg.ops.multiply(w, x, name="z")
>>> run = g.forward(z, {"x": 3.0}).backward(keep_messages=True)
>>> dot = mg.render(g, run)
>>> "w̄ = 3" in dot.source and "z̄ = 1" in dot.source
True
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import graphviz
import numpy as np

from ..engine.snapshot import graph_and_snapshot
from ..errors import GraphError
from .edges import Edges
from .inside import draw_expanded, expanded_nodes
from .labels import GREY, KINDS, Labels, Shown
from .notation import MAGNITUDES, NONFINITE, ZERO, short_name, summary
from .select import Item, items_of, limit, named_node, scope_tree, select

__all__ = ["VIEWS", "Shown", "render"]

VIEWS = ("forward", "backward", "both")
FONT = "Helvetica"
CAPTION_WIDTH = 720  # points
# How to read a backward edge's label: which number is the local derivative, which the message.
READING = (
    "on a backward edge, ×0.2055 is the local derivative ∂child/∂parent; the number in "
    "the coloured chip is the message, the child's error signal times that derivative"
)
FULL_DETAIL_UP_TO = 40  # drawn nodes; above this, "auto" detail drops the op/shape/dtype line


def render(
    graph: Any,
    run: Any = None,
    view: str = "forward",
    *,
    rankdir: str = "LR",
    focus: Any = None,
    radius: int = 2,
    depth: int | None = None,
    max_nodes: int | None = 400,
    collapse: Iterable[str] | bool = (),
    expand: Iterable[str] | bool = (),
    detail: str = "auto",
    legend: bool = True,
    title: str | None = None,
    shown: Shown | None = None,
) -> graphviz.Digraph:
    """Draw ``graph``, annotated with what ``run`` computed, as a ``graphviz.Digraph``.

    Parameters
    ----------
    graph : Graph or Run
        A Run stands for its graph and itself.
    run : Run or Snapshot, optional
        Adds values, error signals (after ``run.backward``) and edge messages (after
        ``run.backward(..., keep_messages=True)``).
    view : {"forward", "backward", "both"}
    rankdir : {"LR", "TB", "RL", "BT"}
        Left to right (default) or top to bottom.
    focus : node, name or exception, optional
        Draw only the nodes within ``radius`` edges of this one (either direction); an mpgraph
        error stands for the first node it names.
    radius : int
    depth : int, optional
        Draw only the nodes at most ``depth`` edges above an output (a node without children,
        or the run's outputs).
    max_nodes : int or None
        Draw at most this many boxes, keeping those nearest the outputs.
    collapse : iterable of str, or True
        Scopes to draw as one box each; True collapses every top-level scope.
    expand : iterable of str, or True
        ``custom_vjp``, ``custom_jvp`` and ``checkpoint`` nodes (by name) to draw with the
        function traced inside them, beside their box; True expands every one. Collapsed (by
        default), such a node is one box that says whose derivative it runs.
    detail : {"auto", "full", "compact"}
        ``compact`` leaves out the op, shape and dtype line; ``auto`` does so above 40 boxes.
    legend : bool
        Add the colour legend (when there is something coloured).
    title : str, optional
        Replaces the default title (view, node count, the loss).
    shown : Shown, optional
        Which parts of the backward pass to ink in (used by the stepper).

    Returns
    -------
    graphviz.Digraph
        ``.source`` is the DOT text; ``.pipe(format="svg")`` or :func:`mpgraph.drawing.dot.pipe`
        draws it.

    Raises
    ------
    GraphError
        An unknown view, detail or rankdir; a focus node not in the graph; a collapse scope
        with no nodes; an expand name that is not a custom node.

    Examples
    --------
    >>> import mpgraph as mg
    >>> g = mg.Graph()
    >>> with g.scope("layer1"):
    ...     h = mg.ops.tanh(g.input("x") * g.param("W", 0.5), name="h")
    >>> "cluster_layer1" in mg.render(g).source
    True
    """
    g, snap = graph_and_snapshot(graph, run)
    if isinstance(focus, BaseException):
        focus = named_node(g, focus)
    if view not in VIEWS:
        raise GraphError(f"mpgraph: render: view must be one of {', '.join(VIEWS)}, got {view!r}")
    if detail not in ("auto", "full", "compact"):
        raise GraphError(
            f"mpgraph: render: detail must be 'auto', 'full' or 'compact', got {detail!r}"
        )
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise GraphError(f"mpgraph: render: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    shown = shown or Shown()
    notes: list[str] = []
    if snap is not None and view != "forward":  # say why the backward part is bare
        if snap.signals is None:
            notes.append("no error signals: call run.backward(loss) before rendering")
        elif snap.messages is None:
            notes.append(
                "no messages on the edges: run.backward(loss, keep_messages=True) keeps them"
            )
    expanded = frozenset(expanded_nodes(g, expand))
    keep = select(g, snap, focus, radius, depth, notes)
    items = items_of(g, keep, collapse)
    items = limit(g, items, max_nodes, snap, notes)
    full = detail == "full" or (detail == "auto" and len(items) <= FULL_DETAIL_UP_TO)
    pic = Labels(
        g,
        snap,
        view,
        shown,
        full,
        focus=None if focus is None else g[focus].name,
        one_row=not full and rankdir in ("LR", "RL"),
        expanded=expanded,
    )

    dot = graphviz.Digraph(
        name="mpgraph",
        graph_attr={
            "rankdir": rankdir,
            "fontname": FONT,
            "newrank": "true",
            "nodesep": "0.25",
            # compact pictures label their edges with xlabels, which need room between the ranks
            "ranksep": "0.45" if full else "0.9",
            "labelloc": "t",
            "labeljust": "l",
            "pad": "0.2",
        },
        node_attr={"fontname": FONT, "shape": "plain"},
        edge_attr={"fontname": FONT, "arrowsize": "0.7"},
    )
    by_scope: dict[str, list[Item]] = defaultdict(list)
    for item in items.values():
        by_scope[item.scope].append(item)
    owner = {n: it for it in items.values() for n in it.names}
    for tail, head, attrs in _emit_scope(dot, "", by_scope, scope_tree(by_scope), pic, owner):
        dot.edge(tail, head, **attrs)
    edges = Edges(pic)
    edges.draw(dot, owner)
    for item in items.values():
        edges.stubs(dot, item)
    key = legend and (pic.coloured or snap is not None and snap.signals is not None)
    # Set last: the clusters above must not inherit the picture's title as their label.
    dot.attr(label=_title(g, snap, view, items, notes, title, shown, key))
    return dot


def _emit_scope(
    dot,
    scope: str,
    by_scope: dict[str, list[Item]],
    tree: dict[str, list[str]],
    pic: Labels,
    owner: dict[str, Item],
) -> list:
    """Draw the scope's boxes and sub-scopes; return the edges between an expanded node's
    inside and the boxes outside it (see :func:`~mpgraph.drawing.inside.draw_expanded`)."""
    across = []
    for item in by_scope.get(scope, []):
        if item.box is None and item.names[0] in pic.expanded:
            across += draw_expanded(dot, item, pic, owner)
        else:
            pic.item(dot, item)
    for child in tree.get(scope, []):
        with dot.subgraph(name=f"cluster_{child}") as sub:
            sub.attr(
                label=short_name(child),
                tooltip=f"scope {child}",
                style="rounded,filled",
                fillcolor="#fafafa",
                color="#bbbbbb",
                fontcolor="#555555",
                fontsize="12",
                labeljust="l",
            )
            across += _emit_scope(sub, child, by_scope, tree, pic, owner)
    return across


def _title(g, snap, view, items, notes, title, shown, legend: bool) -> str:
    if title is None:
        drawn = sum(len(it.names) for it in items.values())
        title = (
            f"{view} view · {drawn} of {len(g)} nodes"
            if drawn != len(g)
            else f"{view} view · {len(g)} nodes"
        )
        if (
            snap is not None
            and len(snap.outputs) == 1
            and np.size(snap.values[snap.outputs[0]]) == 1
        ):
            out = snap.outputs[0]
            title += f" · {short_name(out)} = {summary(snap.values[out])}"
        if snap is not None and snap.where:  # values copied from a device to be drawn
            title += f" · values {snap.where}"
    rows = [f'<TR><TD ALIGN="LEFT"><B>{html.escape(title)}</B></TD></TR>']
    if shown.caption:  # a fixed size, so that captions of any length keep the layout still
        rows.append(
            f'<TR><TD ALIGN="LEFT" FIXEDSIZE="TRUE" WIDTH="{CAPTION_WIDTH}" HEIGHT="20">'
            f"{html.escape(shown.caption)}</TD></TR>"
        )
    for note in notes:
        rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="#b45f06">{html.escape(note)}'
            f"</FONT></TD></TR>"
        )
    if legend:
        rows.append(f'<TR><TD ALIGN="LEFT">{_legend()}</TD></TR>')
        if view != "forward" and snap is not None and snap.messages is not None:
            rows.append(
                f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">{html.escape(READING)}</FONT></TD></TR>'
            )
    return f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(rows)}</TABLE>>'


def _legend() -> str:
    cells = [(text, fill, font) for _, text, fill, font in MAGNITUDES] + [ZERO, NONFINITE]
    swatches = "".join(
        f'<TD BGCOLOR="{fill}"><FONT POINT-SIZE="9" COLOR="{font}">{html.escape(text)}</FONT></TD>'
        for text, fill, font in cells
    )
    kinds = "".join(
        f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1"><FONT POINT-SIZE="9">{k}</FONT></TD>'
        for k, (fill, border, _) in KINDS.items()
    )
    return (
        f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2"><TR>'
        f'<TD><FONT POINT-SIZE="9">error signal, message: largest |entry|</FONT></TD>{swatches}'
        f'<TD>  </TD><TD><FONT POINT-SIZE="9">nodes:</FONT></TD>{kinds}'
        f'<TD><FONT POINT-SIZE="9" COLOR="{GREY}">grey text: constant</FONT></TD></TR></TABLE>'
    )
