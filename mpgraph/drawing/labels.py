"""The labels of a picture's nodes: name, formula, shape and dtype, value, and the error
signal in bar notation, written as the sum of the messages received at a fan-out."""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.snapshot import Snapshot
from ..transforms.custom import inside
from .notation import (
    NONFINITE,
    bar,
    dot_over,
    fmt,
    magnitude_colour,
    nonfinite,
    scope_of,
    short_name,
    summary,
)
from .select import Item

__all__ = [
    "CURRENT",
    "GREY",
    "KINDS",
    "MAX_TERMS_COMPACT",
    "RULES",
    "Labels",
    "Shown",
    "ink",
    "plain",
]

KINDS = {  # header fill, table border, corner style
    "input": ("#cfe2f3", "#3d6b99", ""),
    "param": ("#fce5cd", "#b45f06", ""),
    "op": ("#f3f3f3", "#555555", ' STYLE="ROUNDED"'),
}
INFIX = {"add": "+", "subtract": "-", "multiply": "×", "divide": "/", "power": "^", "matmul": "@"}
CURRENT = "#ffd92f"  # the node whose step of the backward pass is shown
GREY = "#666666"
TANGENT = "#2166ac"  # forward-mode tangents, apart from the error signals' reds
RULES = {  # what a custom-derivative node's box says of its derivative
    "custom_vjp": "vjp by hand",
    "custom_jvp": "jvp by hand, transposed for the vjp",
    "checkpoint": "recomputed for the vjp",
}
MAX_TERMS, MAX_TERMS_COMPACT = 6, 3  # messages written out in a fan-out's sum; beyond, a count


@dataclass
class Shown:
    """Which parts of the backward pass a picture shows (all of them, except in the frames of
    :func:`mpgraph.drawing.stepper.backward_steps`).

    Hidden parts are drawn in the colour of their background, so every frame of a stepped pass has the same
    layout and only the ink changes.
    """

    messages: set | None = None  # message keys shown; None: all
    signals: set | None = None  # complete error signals shown; None: all
    current: str | None = None  # the node computing its signal and sending messages
    caption: str = ""

    def message(self, key: tuple) -> bool:
        return self.messages is None or key in self.messages

    def signal(self, name: str) -> bool:
        return self.signals is None or name in self.signals


class Labels:
    """The labels of one picture's nodes, from the graph and the snapshot. ``coloured``
    records whether a label was coloured by magnitude (then the legend is drawn)."""

    def __init__(
        self,
        g,
        snap: Snapshot | None,
        view: str,
        shown: Shown,
        full: bool,
        focus: str | None,
        one_row: bool = False,
        expanded: frozenset = frozenset(),
    ) -> None:
        self.g, self.snap, self.view, self.shown, self.full, self.focus = (
            g,
            snap,
            view,
            shown,
            full,
            focus,
        )
        self.expanded = expanded  # custom nodes drawn with their inside
        self.one_row = one_row  # compact boxes laid out left to right: one row of cells each
        # In a large picture, edge labels as layout objects push the nodes apart; xlabels are
        # placed after the layout, beside their edges.
        self.label_attr = "label" if full else "xlabel"
        self.coloured = False
        self.received: dict[str, list[tuple]] = defaultdict(list)
        shorts: dict[str, int] = defaultdict(int)
        for node in g:
            shorts[short_name(node.name)] += 1
        self.ambiguous = {s for s, n in shorts.items() if n > 1}  # short names of several nodes
        if snap is not None and snap.messages is not None:
            for key in snap.messages:
                self.received[key[0]].append(key)

    # values, signals, messages ------------------------------------------------------------

    def value(self, name: str) -> Any:
        if self.snap is not None and name in self.snap.values:
            return self.snap.values[name]
        node = self.g[name]
        return node.fixed if node.kind in ("param", "const") else None

    def signal(self, name: str) -> Any:
        if self.snap is None or self.snap.signals is None:
            return None
        return self.snap.signals.get(name)

    def message(self, key: tuple) -> Any:
        if self.snap is None or self.snap.messages is None:
            return None
        return self.snap.messages.get(key)

    def tangent(self, name: str) -> Any:
        if self.snap is None or self.snap.tangents is None:
            return None
        return self.snap.tangents.get(name)

    def tangent_message(self, key: tuple) -> Any:
        if self.snap is None or self.snap.tangent_messages is None:
            return None
        return self.snap.tangent_messages.get(key)

    def local_derivative(self, parent: str, child: str, argnum: int) -> str | None:
        """``∂child/∂parent`` as a number, when both are scalars and the run has their values."""
        node = self.g[child]
        ans = self.value(child)
        args = [self.value(p.name) for p in node.args]
        if (
            ans is None
            or any(a is None for a in args)
            or np.size(ans) != 1
            or np.size(args[argnum]) != 1
        ):
            return None
        seed = np.ones_like(np.asarray(ans, dtype=np.result_type(ans, float)))
        vjp = node.op.vjp
        try:
            with np.errstate(all="ignore"):
                d = (
                    vjp(argnum, seed, ans, *args, **node.attrs)
                    if node.op.variadic
                    else vjp[argnum](seed, ans, *args, **node.attrs)
                    if vjp[argnum]
                    else None
                )
        except Exception:  # a picture never fails for an op's sake: the message is still shown
            return None
        return None if d is None else fmt(np.asarray(d).reshape(()))

    # nodes --------------------------------------------------------------------------------

    def item(self, dot, item: Item) -> None:
        if item.box is not None:
            dot.node(item.id, self._box_label(item), tooltip=f"scope {item.box} (collapsed)")
            return
        name = item.names[0]
        node = self.g[name]
        if node.kind == "const":
            dot.node(
                item.id, self._const_label(node), tooltip=f"{name}: constant {summary(node.fixed)}"
            )
            return
        dot.node(item.id, self._node_label(node), tooltip=self._tooltip(node))

    def _node_label(self, node) -> str:
        fill, border, style = KINDS[node.kind]
        head = f"<B>{html.escape(short_name(node.name))}</B>"
        if self.full and node.kind == "op":
            head += f' <FONT COLOR="{GREY}">= {html.escape(self._formula(node))}</FONT>'
        elif node.kind == "op" and not short_name(node.name).startswith(
            node.op.name.replace(".", "_")
        ):
            head += f' <FONT COLOR="{GREY}" POINT-SIZE="10">{html.escape(node.op.name)}</FONT>'
        # The node of the current step is marked by colour alone: every frame of a stepped
        # backward pass must keep the same layout.
        current = node.name == self.shown.current
        cells = [f'<TD BGCOLOR="{CURRENT if current else fill}">{head}</TD>']
        if self.full:
            what = node.op.name if node.kind == "op" else node.kind
            meta = " · ".join([what, *self._shape_dtype(node)])
            cells.append(f'<TD><FONT POINT-SIZE="9" COLOR="{GREY}">{html.escape(meta)}</FONT></TD>')
        if node.kind == "op":
            custom = self._custom_cell(node)
            if custom is not None:
                cells.append(custom)
        value = self.value(node.name)
        if value is not None:
            bad = nonfinite(value)
            self.coloured |= bad
            ink = NONFINITE[2] if bad else ("#333333" if self.view != "backward" else GREY)
            cell = f' BGCOLOR="{NONFINITE[1]}"' if bad else ""
            cells.append(
                f'<TD{cell}><FONT COLOR="{ink}">= {html.escape(summary(value))}</FONT></TD>'
            )
        tangent = self.tangent(node.name)
        if tangent is not None:
            cells.append(
                f'<TD><FONT COLOR="{TANGENT}">{dot_over(short_name(node.name))} = '
                f"{html.escape(summary(tangent))}</FONT></TD>"
            )
        cells += self._signal_cells(node.name)
        pen, colour = (3 if node.name == self.focus else 1), ("#000000" if current else border)
        if any(nonfinite(x) for x in (value, self.signal(node.name)) if x is not None):
            colour, pen = NONFINITE[1], 3
        rows = (
            "<TR>" + "".join(cells) + "</TR>"
            if self.one_row
            else "".join(f"<TR>{c}</TR>" for c in cells)
        )
        return (
            f'<<TABLE BORDER="{pen}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
            f'COLOR="{colour}" BGCOLOR="white"{style}>{rows}</TABLE>>'
        )

    def _custom_cell(self, node) -> str | None:
        """A custom-derivative node's kind, whose derivative it runs, and how many nodes are
        inside it (``render(..., expand=[name])`` draws them); ``None`` for any other node."""
        ins = inside(node)
        if ins is None:
            return None
        text = f"{ins.kind} · {RULES[ins.kind]}"
        if ins.graph is not None and node.name not in self.expanded:
            text += f" · {sum(1 for n in ins.graph if n.kind == 'op')} nodes inside"
        return (
            f'<TD BGCOLOR="#efe6f7"><FONT POINT-SIZE="9" COLOR="#5b3a7a">'
            f"{html.escape(text)}</FONT></TD>"
        )

    def _signal_cells(self, name: str) -> list[str]:
        signal = self.signal(name)
        if signal is None:
            return []
        text, fill, font = magnitude_colour(signal)
        self.coloured = True
        complete = self.shown.signal(name)
        keys = self.received.get(name, [])
        total = f'<TD BGCOLOR="{fill if complete else "white"}">'
        if len(keys) > 1:
            terms = []
            for i, key in enumerate(keys):
                m = self.message(key)
                t = summary(m)
                if np.size(m) == 1 and i and not nonfinite(m) and np.real(np.asarray(m)).item() < 0:
                    t = "- " + t[1:]
                elif i:
                    t = "+ " + t
                terms.append(ink(t, self.shown.message(key), font, fill))
            listed = all(np.size(self.message(k)) == 1 for k in keys) and len(keys) <= (
                MAX_TERMS if self.full else MAX_TERMS_COMPACT
            )
            sums = " ".join(terms) if listed else ink(f"Σ of {len(keys)} messages", True, font)
            return [
                f'<TD BGCOLOR="{fill}">{ink(bar(short_name(name)) + " =", True, font)} {sums}</TD>',
                total + ink("= " + html.escape(summary(signal)), complete, font) + "</TD>",
            ]
        return [
            total
            + ink(f"{bar(short_name(name))} = {html.escape(summary(signal))}", complete, font)
            + "</TD>"
        ]

    def _const_label(self, node) -> str:
        text = html.escape(summary(node.fixed))
        if np.ndim(node.fixed):
            text += f'<BR/><FONT POINT-SIZE="8">const {html.escape(str(node.shape))}</FONT>'
        return f'<<FONT POINT-SIZE="10" COLOR="{GREY}">{text}</FONT>>'

    def _formula(self, node) -> str:
        """What an op node computes from its arguments: ``w × x``, ``sigmoid(z)``,
        ``sum(h, axis=0)``; scalar constants by value, attributes other than defaults."""
        args = [
            summary(p.fixed)
            if p.kind == "const" and np.size(p.fixed) == 1
            else self._operand(p, node)
            for p in node.args
        ]
        name = node.op.name
        if name in INFIX and len(args) == 2:
            return f"{args[0]} {INFIX[name]} {args[1]}"
        if name == "negative":
            return f"-{args[0]}"
        if len(args) > 3:
            args = [args[0], "...", args[-1], f"{len(node.args)} args"]
        defaults = node.op.attr_defaults
        args += [
            f"{k}={v!r}"
            for k, v in node.attrs.items()
            if k not in defaults or not _same(v, defaults[k])
        ]
        return f"{name}({', '.join(args)})"

    def _operand(self, arg, node) -> str:
        """An argument's name in a formula: its short name, unless other nodes have that short
        name and the argument is from another scope (``layer1/h``, not ``h``, in ``layer2``)."""
        short = short_name(arg.name)
        if short in self.ambiguous and scope_of(arg.name) != scope_of(node.name):
            return arg.name
        return short

    def _shape_dtype(self, node) -> list[str]:
        """The static shape and dtype, or those of the run's value where they are unknown."""
        value = self.value(node.name)
        shape, dtype = node.shape, node.dtype
        if (shape is None or None in shape) and value is not None:
            shape = np.shape(value)
        if dtype is None and value is not None and not isinstance(value, (int, float, complex)):
            dtype = np.result_type(value)
        return ["?" if shape is None else str(shape).replace("None", "?")] + (
            [str(dtype)] if dtype is not None else []
        )

    def _box_label(self, item: Item) -> str:
        kinds: dict[str, int] = defaultdict(int)
        for n in item.names:
            kinds[self.g[n].kind] += 1
        parts = ", ".join(f"{v} {k}{'s' if v > 1 else ''}" for k, v in kinds.items())
        rows = [
            f'<TR><TD BGCOLOR="#e6e6e6"><B>{html.escape(item.box)}/</B></TD></TR>',
            f'<TR><TD><FONT POINT-SIZE="9" COLOR="{GREY}">collapsed: {len(item.names)} nodes '
            f"({parts})</FONT></TD></TR>",
        ]
        signals = [(n, self.signal(n)) for n in item.names if self.signal(n) is not None]
        if signals:
            bad = [n for n, s in signals if nonfinite(s)]
            worst, s = max(
                signals,
                key=lambda ns: (
                    nonfinite(ns[1]),
                    float(np.nanmax(np.abs(ns[1])))
                    if np.size(ns[1]) and not nonfinite(ns[1])
                    else 0.0,
                ),
            )
            text, fill, font = magnitude_colour(s)
            self.coloured = True
            label = (
                f"{len(bad)} NaN/Inf signals, e.g. {short_name(bad[0])}"
                if bad
                else f"largest signal: {short_name(worst)}, max |·| {fmt(np.max(np.abs(s)))}"
            )
            rows.append(f'<TR><TD BGCOLOR="{fill}">{ink(html.escape(label), True, font)}</TD></TR>')
        return (
            f'<<TABLE BORDER="2" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
            f'COLOR="#777777" BGCOLOR="white">{"".join(rows)}</TABLE>>'
        )

    def _tooltip(self, node) -> str:
        parts = [node.name, node.op.name if node.op else node.kind, *self._shape_dtype(node)]
        value, signal = self.value(node.name), self.signal(node.name)
        if value is not None:
            parts.append(f"value {summary(value)}")
        if signal is not None:
            parts.append(f"{bar(short_name(node.name), False)} = {summary(signal)}")
        return "; ".join(parts)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays: never the default
        return False


def ink(text: str, visible: bool, colour: str, background: str = "white") -> str:
    """``text`` in ``colour``, or in the background colour while it is hidden."""
    # Hidden text is inked in its background colour rather than "transparent", which older
    # Graphviz writes to SVG as opaque near-white.
    return f'<FONT COLOR="{colour if visible else background}">{text}</FONT>'


def plain(text: str) -> str:
    """Small grey text as an HTML-like label."""
    return f'<<FONT POINT-SIZE="9" COLOR="#555555">{html.escape(text)}</FONT>>'
