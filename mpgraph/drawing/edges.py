"""The edges of a picture: forward arrows, and the backward messages as chips coloured by
magnitude, with the local derivative (the multiplier of Lee's reverse network) beside them."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

from .labels import MAX_TERMS_COMPACT, TANGENT, Labels, ink, plain
from .notation import magnitude_colour, scope_of, short_name, summary
from .select import Item

__all__ = ["Edges"]

BUSY_BOX = 4  # edges in or out of a collapsed scope beyond which they go unlabelled
BESIDE = 2  # parameters and constants per scope that may share a rank with their one use


class Edges:
    """Draws the edges of one picture, reading what its :class:`Labels` read."""

    def __init__(self, lab: Labels) -> None:
        self.lab = lab
        self._lone: set[str] | None = None

    def draw(self, dot, owner: dict[str, Item]) -> None:
        """Every edge between drawn boxes; edges to boxes not drawn become stubs."""
        bundles: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for p, c, k in self.lab.g.nx.edges(keys=True):
            if p in owner and c in owner and owner[p] is not owner[c]:
                bundles[(owner[p].id, owner[c].id)].append((p, c, k))
            elif p in owner and c not in owner:
                owner[p].stubs["out"] = owner[p].stubs.get("out", 0) + 1
            elif c in owner and p not in owner:
                owner[c].stubs["in"] = owner[c].stubs.get("in", 0) + 1
        boxes = {it.id for it in owner.values() if it.box is not None}
        touching: dict[str, int] = defaultdict(int)
        for ends in bundles:
            for end in set(ends) & boxes:
                touching[end] += 1
        # A collapsed scope with many edges in or out draws them plain: a label on each would
        # pile up around the box.
        busy = {b for b, n in touching.items() if n > BUSY_BOX}
        for (tail, head), keys in bundles.items():
            if (tail in boxes or head in boxes) and (len(keys) > 1 or {tail, head} & busy):
                self._bundle(dot, tail, head, keys)
            else:
                for key in keys:
                    self._edge(dot, tail, head, key, several=len(keys) > 1)

    def _edge(self, dot, tail: str, head: str, key: tuple, several: bool) -> None:
        p, c, k = key
        msg = self.lab.message(key)
        tip = f"{p} → {c} (argument {k})" + ("" if msg is None else f"; message {summary(msg)}")
        arg = f"#{k} " if several else ""
        # In a compact picture, the edges of a wide fan-out run together: their chips would pile
        # up unreadably, so their messages go in the tooltips and the sum says how many there are.
        chips = self.lab.full or len(self.lab.received.get(p, ())) <= MAX_TERMS_COMPACT
        forward = {
            "color": "#8c8c8c" if self.lab.view == "both" else "#555555",
            "tooltip": tip,
            **self._beside(p, c),
        }
        if self.lab.view in ("forward", "both"):
            label = (
                self._chip(key, msg if chips else None, arg)
                if self.lab.view == "forward"
                else (arg and plain(arg))
            )
            tangent = self.lab.tangent_message(key)
            if tangent is not None:  # forward mode: the tangent message rides the forward edge
                label = self._chip(key, tangent, arg, TANGENT)
                forward["color"] = TANGENT
            dot.edge(tail, head, **{self.lab.label_attr: label or None}, **forward)
        if self.lab.view == "forward":
            return
        if msg is None and (
            self.lab.g[p].kind == "const"
            or self.lab.snap is not None
            and self.lab.snap.messages is not None
        ):
            if self.lab.view == "backward":
                dot.edge(
                    head,
                    tail,
                    style="dotted",
                    color="#bbbbbb",
                    arrowhead="none",
                    tooltip=f"no message: {p} carries no gradient here",
                    **self._beside(p, c),
                )
            return
        mult = self.lab.local_derivative(p, c, k)
        if mult is None and self.lab.full and self.lab.snap is None:
            mult = f"∂{short_name(c)}/∂{short_name(p)}"
        mult_txt = f"×{mult} " if mult else ""
        back = {
            "tooltip": f"message {c} → {p} (argument {k})"
            + ("" if msg is None else f": {summary(msg)}"),
            "penwidth": "2.4"
            if self.lab.shown.current in (c, p) and self.lab.shown.message(key)
            else "1.2",
            **self._beside(p, c),
        }
        colour = "#b2182b" if msg is not None and self.lab.shown.message(key) else "#999999"
        label = self._chip(key, msg, arg + mult_txt) if chips else None
        if self.lab.view == "both":  # drawn beside the forward edge, pointing back at the parent
            dot.edge(
                tail,
                head,
                **{self.lab.label_attr: label},
                color=colour,
                fontcolor=colour,
                dir="back",
                style="dashed",
                **back,
            )
        else:
            dot.edge(
                head, tail, **{self.lab.label_attr: label}, color=colour, fontcolor=colour, **back
            )

    def _beside(self, parent: str, child: str) -> dict[str, str]:
        """``minlen=0`` for a parameter or constant used once, by a node of its own scope, in a
        scope with at most :data:`BESIDE` of them: it may sit beside its use, in the same rank.
        Otherwise each layer of a scoped chain starts one rank before the previous layer ends,
        and their clusters, which cannot overlap, climb down the picture like a staircase. A
        scope with many (a unit's weights) keeps them in a rank of their own, which is shorter
        than one shared with their uses."""
        if self._lone is None:
            g, lone = self.lab.g, defaultdict(list)
            for node in g:
                scope = scope_of(node.name)
                if (
                    node.kind not in ("param", "const")
                    or not scope
                    or g.nx.out_degree(node.name) != 1
                ):
                    continue
                (use,) = g.nx.successors(node.name)
                if scope_of(use) == scope:
                    lone[scope].append(node.name)
            self._lone = {n for names in lone.values() if len(names) <= BESIDE for n in names}
        return {"minlen": "0"} if parent in self._lone else {}

    def _chip(self, key: tuple, msg: Any, prefix: str, colour: str | None = None) -> str | None:
        if msg is None:
            return plain(prefix) if prefix else None
        text, fill, font = magnitude_colour(msg)
        if colour is not None:
            fill, font = "white", colour
        self.lab.coloured = True
        visible = self.lab.shown.message(key)
        pre = ink(html.escape(prefix), True, "#555555") if prefix else ""
        cell = fill if visible else "white"
        return (
            f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1"><TR>'
            f'{"<TD>" + pre + "</TD>" if pre else ""}<TD BGCOLOR="{cell}">'
            f'<FONT POINT-SIZE="9">{ink(html.escape(summary(msg)), visible, font)}</FONT>'
            f"</TD></TR></TABLE>>"
        )

    def _bundle(self, dot, tail: str, head: str, keys: list[tuple]) -> None:
        label = plain(f"{len(keys)} edges") if len(keys) > 1 else None
        if self.lab.view in ("forward", "both"):
            dot.edge(tail, head, label=label, color="#555555", penwidth="1.5" if label else "1")
        if self.lab.view == "backward":
            dot.edge(head, tail, label=label, color="#b2182b", penwidth="1.5" if label else "1")
        elif self.lab.view == "both":
            dot.edge(tail, head, color="#b2182b", penwidth="1.5", dir="back", style="dashed")

    def stubs(self, dot, item: Item) -> None:
        """The '... k arguments not drawn' stubs of ``item``."""
        for side, count in item.stubs.items():
            sid = f"{item.id}_{side}"
            what = "argument" if side == "in" else "use"
            dot.node(
                sid,
                f'<<FONT POINT-SIZE="9" COLOR="#999999">... {count} {what}'
                f"{'s' if count > 1 else ''} not drawn</FONT>>",
                shape="plain",
            )
            ends = (sid, item.id) if side == "in" else (item.id, sid)
            backward = self.lab.view == "backward"
            dot.edge(
                *(ends[::-1] if backward else ends),
                style="dotted",
                color="#bbbbbb",
                arrowhead="none",
            )
