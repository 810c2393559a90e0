"""Custom-derivative nodes in pictures: one box whose derivative the user wrote, and, when
expanded, the function traced inside it.

A ``custom_vjp``, ``custom_jvp`` or ``checkpoint`` node is one op node of the graph: the
backward pass sends its messages through the rule the user wrote, not through the function's
own ops. Its box says so (``custom_vjp · vjp by hand``). ``render(..., expand=[name])`` draws
the function's inside beside it, in a dashed cluster with the box: the function traced on
inputs like the node's arguments (:func:`mpgraph.transforms.custom.inside`), dotted edges from
the node's arguments to those inputs and from the traced outputs to the box. The inside is
drawn without values: a run computes the node by calling the function, not its trace.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from ..engine.node import Node
from ..errors import GraphError
from ..transforms.custom import Inside, inside
from .labels import GREY, KINDS, RULES
from .notation import summary
from .select import Item

__all__ = ["draw_expanded", "expanded_nodes"]

INSIDE_EDGE = "#9a9a9a"
DOTTED = {"style": "dotted", "color": INSIDE_EDGE}


def expanded_nodes(g, expand: Iterable[str] | bool) -> set[str]:
    """The names of the custom nodes to draw expanded; ``True``: every one.

    Raises
    ------
    GraphError
        A name that is not a node of ``g``, or a node that is not a custom one.
    """
    customs = [n.name for n in g if n.kind == "op" and inside(n) is not None]
    if expand is True:
        return set(customs)
    if expand is False:
        return set()
    names = set()
    for name in expand:
        name = g[name].name if name in g else name
        if name not in customs:
            raise GraphError(
                f"mpgraph: render: expand names '{name}', which is not a custom_vjp, "
                f"custom_jvp or checkpoint node of this graph (those are: "
                f"{', '.join(customs) or 'none'})"
            )
        names.add(name)
    return names


def draw_expanded(dot, item: Item, pic, owner: dict[str, Item]) -> list:
    """The custom node's box and its inside, in one dashed cluster ``dot``'s subgraph.

    Returns
    -------
    list of (tail, head, attrs)
        The dotted edges between the inside and the boxes outside it, for the caller to
        draw at the top level: an edge declared in a cluster pulls both its ends into it.
    """
    across: list = []
    node = pic.g[item.names[0]]
    ins = inside(node)
    with dot.subgraph(name=f"cluster_inside_{item.id}") as sub:
        sub.attr(
            label=f"{node.name}: inside ({ins.kind}; its derivative is {RULES[ins.kind]})",
            tooltip=f"{node.name}: the function traced; a run calls the function instead",
            style="rounded,dashed",
            color="#8e6bb0",
            fontcolor="#5b3a7a",
            fontsize="11",
            labeljust="l",
        )
        pic.item(sub, item)
        if ins.graph is None:
            sub.node(
                f"{item.id}_untraced",
                f'<<FONT POINT-SIZE="9" COLOR="{GREY}">not traceable on graph nodes: '
                "its function computes with NumPy directly</FONT>>",
            )
            return across
        ids = {n.name: f"{item.id}_i{n.index}" for n in ins.graph}

        def ends(tail: str, head: str) -> tuple[str, str]:
            # the picture reads from the loss back: so does the inside
            return (head, tail) if pic.view == "backward" else (tail, head)

        for n in ins.graph:
            sub.node(ids[n.name], _label(n), tooltip=_tooltip(n))
            for p in n.args:
                sub.edge(*ends(ids[p.name], ids[n.name]), color=INSIDE_EDGE, arrowsize="0.6")
        for arg, inner in zip(node.args, ins.inputs):
            if arg.name in owner:
                across.append((*ends(owner[arg.name].id, ids[inner.name]), DOTTED))
        for out in ins.outputs:
            if type(out) is Node and out.graph is ins.graph:
                across.append((*ends(ids[out.name], item.id), DOTTED))
    return across


def _count(ins: Inside) -> int:
    return sum(1 for n in ins.graph if n.kind == "op")


def _label(n) -> str:
    if n.kind == "const":
        return f'<<FONT POINT-SIZE="9" COLOR="{GREY}">{html.escape(summary(n.fixed))}</FONT>>'
    fill, border, style = KINDS[n.kind]
    what = n.op.name if n.kind == "op" else n.kind
    shape = "?" if n.shape is None else str(n.shape).replace("None", "?")
    return (
        f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2" COLOR="{border}" '
        f'BGCOLOR="white"{style}><TR><TD BGCOLOR="{fill}"><FONT POINT-SIZE="10">'
        f"{html.escape(n.name)}</FONT></TD></TR><TR><TD>"
        f'<FONT POINT-SIZE="8" COLOR="{GREY}">{html.escape(what)} · {html.escape(shape)}'
        f"</FONT></TD></TR></TABLE>>"
    )


def _tooltip(n) -> str:
    return f"inside: {n.name}; {n.op.name if n.op else n.kind}; shape {n.shape}"
