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
draws a scope as one box, ``focus=node, radius=k`` draws a neighbourhood, and ``depth`` and
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
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import graphviz
import networkx as nx
import numpy as np

from .errors import GraphError
from .snapshot import Snapshot, graph_and_snapshot

VIEWS = ("forward", "backward", "both")

# Error-signal magnitudes (largest |entry|): upper bound, legend text, fill, font colour.
MAGNITUDES = [
    (1e-8, "< 1e-8 (vanishing)", "#4575b4", "white"),
    (1e-4, "1e-8 to 1e-4", "#91bfdb", "black"),
    (1e-2, "1e-4 to 0.01", "#e0f3f8", "black"),
    (1.0, "0.01 to 1", "#ffffbf", "black"),
    (1e2, "1 to 100", "#fee090", "black"),
    (1e4, "100 to 1e4", "#fc8d59", "black"),
    (np.inf, "> 1e4 (exploding)", "#d73027", "white"),
]
ZERO = ("exactly 0", "#ffffff", "#777777")
NONFINITE = ("NaN or Inf", "#e7298a", "white")
KINDS = {  # header fill, table border, corner style
    "input": ("#cfe2f3", "#3d6b99", ""),
    "param": ("#fce5cd", "#b45f06", ""),
    "op": ("#f3f3f3", "#555555", ' STYLE="ROUNDED"'),
}
INFIX = {"add": "+", "subtract": "-", "multiply": "×", "divide": "/", "power": "^", "matmul": "@"}
CURRENT = "#ffd92f"  # the node whose step of the backward pass is shown
FONT = "Helvetica"
CAPTION_WIDTH = 720  # points
MAX_TERMS, MAX_TERMS_COMPACT = 6, 3  # messages written out in a fan-out's sum; beyond, a count
BUSY_BOX = 4  # edges in or out of a collapsed scope beyond which they go unlabelled
GREY = "#666666"
FULL_DETAIL_UP_TO = 40  # drawn nodes; above this, "auto" detail drops the op/shape/dtype line


# -- numbers --------------------------------------------------------------------------------

def fmt(x: Any) -> str:
    """A number as the pictures print it: 4 significant digits.

    Examples
    --------
    >>> fmt(0.14369), fmt(2.0), fmt(-1e-9), fmt(True)
    ('0.1437', '2', '-1e-09', 'True')
    """
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, complex) or np.iscomplexobj(x):
        return f"{complex(x):.4g}"
    return f"{float(x):.4g}"


def summary(x: Any) -> str:
    """A value in a few characters: the number for a scalar, the entries of a short vector, the
    mean and range of a larger array, with a count of NaN and Inf entries.

    Examples
    --------
    >>> summary(0.25), summary([1.0, -2.0]), summary(np.arange(6.0).reshape(2, 3))
    ('0.25', '[1, -2]', 'μ 2.5 [0, 5]')
    >>> summary([1.0, np.nan, np.inf, 2.0, 3.0])
    '1 NaN 1 Inf μ 2 [1, 3]'
    """
    if x is None:
        return "?"
    a = np.asarray(x)
    if a.size == 1:
        return fmt(a.reshape(())[()])
    if a.size == 0:
        return f"empty {a.shape}"
    if a.ndim == 1 and a.size <= 4:
        return "[" + ", ".join(fmt(v) for v in a) + "]"
    if a.dtype.kind == "b":
        return f"{int(a.sum())} of {a.size} True"
    if a.dtype.kind not in "fc":
        return f"μ {fmt(a.mean())} [{fmt(a.min())}, {fmt(a.max())}]"
    finite = a[np.isfinite(a)]
    notes = []
    if np.isnan(a).any():
        notes.append(f"{int(np.isnan(a).sum())} NaN")
    if np.isinf(a).any():
        notes.append(f"{int(np.isinf(a).sum())} Inf")
    if finite.size and a.dtype.kind == "f":
        notes.append(f"μ {fmt(finite.mean())} [{fmt(finite.min())}, {fmt(finite.max())}]")
    elif finite.size:
        notes.append(f"|μ| {fmt(np.abs(finite).mean())}")
    return " ".join(notes)


def magnitude_colour(x: Any) -> tuple[str, str, str]:
    """``(legend text, fill, font colour)`` for the largest ``|entry|`` of an error signal.

    Examples
    --------
    >>> magnitude_colour(0.25)[0], magnitude_colour(1e-12)[0], magnitude_colour(np.nan)[0]
    ('0.01 to 1', '< 1e-8 (vanishing)', 'NaN or Inf')
    """
    a = np.asarray(x)
    if a.dtype.kind not in "fciu" or a.size == 0:
        return ZERO
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        return NONFINITE
    m = float(np.max(np.abs(a)))
    if m == 0:
        return ZERO
    return next(rest for bound, *rest in MAGNITUDES if m < bound)  # the last bound is inf


def _nonfinite(x: Any) -> bool:
    a = np.asarray(x)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()


def bar(name: str, html_label: bool = True) -> str:
    """Grosse's bar notation for the error signal of ``name``: ``z̄`` for a one-letter name, an
    overline over a longer one.

    Examples
    --------
    >>> bar("z"), bar("L_reg"), bar("L_reg", html_label=False)
    ('z̄', '<O>L_reg</O>', 'L̅_̅r̅e̅g̅')
    """
    if len(name) == 1:
        return html.escape(name) + "\u0304"
    if html_label:
        return f"<O>{html.escape(name)}</O>"
    return "".join(c + "\u0305" for c in name)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _scope_of(name: str) -> str:
    return name.rsplit("/", 1)[0] if "/" in name else ""


# -- what the picture shows -----------------------------------------------------------------

@dataclass
class Shown:
    """Which parts of the backward pass a picture shows (all of them, except in the frames of
    :func:`mpgraph.stepper.backward_steps`).

    Hidden parts are drawn in the colour of their background, so every frame of a stepped pass has the same
    layout and only the ink changes.
    """

    messages: set | None = None      # message keys shown; None: all
    signals: set | None = None       # complete error signals shown; None: all
    current: str | None = None       # the node computing its signal and sending messages
    caption: str = ""

    def message(self, key: tuple) -> bool:
        return self.messages is None or key in self.messages

    def signal(self, name: str) -> bool:
        return self.signals is None or name in self.signals


@dataclass
class _Item:
    """One drawn box: a node, or a collapsed scope standing for many nodes."""

    id: str
    names: list[str]
    scope: str  # the cluster it sits in
    box: str | None = None  # the collapsed scope, for a box
    stubs: dict[str, int] = field(default_factory=dict)


def render(graph: Any, run: Any = None, view: str = "forward", *, rankdir: str = "LR",
           focus: Any = None, radius: int = 2, depth: int | None = None,
           max_nodes: int | None = 400, collapse: Iterable[str] | bool = (),
           detail: str = "auto", legend: bool = True, title: str | None = None,
           shown: Shown | None = None) -> graphviz.Digraph:
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
        ``.source`` is the DOT text; ``.pipe(format="svg")`` or :func:`mpgraph.layout.pipe`
        draws it.

    Raises
    ------
    GraphError
        An unknown view, detail or rankdir; a focus node not in the graph; a collapse scope
        with no nodes.

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
        focus = _named_node(g, focus)
    if view not in VIEWS:
        raise GraphError(f"mpgraph: render: view must be one of {', '.join(VIEWS)}, got {view!r}")
    if detail not in ("auto", "full", "compact"):
        raise GraphError(f"mpgraph: render: detail must be 'auto', 'full' or 'compact', got {detail!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise GraphError(f"mpgraph: render: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    shown = shown or Shown()
    notes: list[str] = []
    if snap is not None and view != "forward":  # say why the backward part is bare
        if snap.signals is None:
            notes.append("no error signals: call run.backward(loss) before rendering")
        elif snap.messages is None:
            notes.append("no messages on the edges: run.backward(loss, keep_messages=True) keeps them")
    keep = _select(g, snap, focus, radius, depth, notes)
    items = _items(g, keep, collapse)
    items = _limit(g, items, max_nodes, snap, notes)
    full = detail == "full" or (detail == "auto" and len(items) <= FULL_DETAIL_UP_TO)
    pic = _Picture(g, snap, view, shown, full, focus=None if focus is None else g[focus].name,
                   one_row=not full and rankdir in ("LR", "RL"))

    dot = graphviz.Digraph(name="mpgraph", graph_attr={
        "rankdir": rankdir, "fontname": FONT, "newrank": "true", "nodesep": "0.25",
        # compact pictures label their edges with xlabels, which need room between the ranks
        "ranksep": "0.45" if full else "0.9", "labelloc": "t", "labeljust": "l", "pad": "0.2"},
        node_attr={"fontname": FONT, "shape": "plain"},
        edge_attr={"fontname": FONT, "arrowsize": "0.7"})
    by_scope: dict[str, list[_Item]] = defaultdict(list)
    for item in items.values():
        by_scope[item.scope].append(item)
    _emit_scope(dot, "", by_scope, _scope_tree(by_scope), pic)
    owner = {n: it for it in items.values() for n in it.names}
    pic.edges(dot, owner)
    for item in items.values():
        pic.stubs(dot, item)
    key = legend and (pic.coloured or snap is not None and snap.signals is not None)
    # Set last: the clusters above must not inherit the picture's title as their label.
    dot.attr(label=_title(g, snap, view, items, notes, title, shown, key))
    return dot


def _named_node(g, error: BaseException) -> str:
    """The first node of ``g`` that an error message names (``... at node 'layer1/h': ...``,
    ``input 'x' has shape ...``)."""
    for name in re.findall(r"'([^']+)'", str(error)):
        if name in g:
            return name
    raise GraphError(f"mpgraph: render: focus: the error names no node of this graph ({error})")


# -- choosing what to draw ------------------------------------------------------------------

def _outputs(g, snap: Snapshot | None) -> list[str]:
    if snap is not None and snap.outputs:
        return list(snap.outputs)
    return [n for n in g.nx if g.nx.out_degree(n) == 0]


def _select(g, snap, focus, radius: int, depth: int | None, notes: list[str]) -> list[str]:
    keep = [n.name for n in g]
    if focus is not None:
        centre = g[focus].name
        near = nx.single_source_shortest_path_length(g.nx.to_undirected(as_view=True), centre,
                                                     cutoff=radius)
        keep = [n for n in keep if n in near]
        notes.append(f"focus on '{centre}', radius {radius}: {len(keep)} of {len(g)} nodes")
    if depth is not None:
        within = nx.multi_source_dijkstra_path_length(g.nx.reverse(copy=False),
                                                      set(_outputs(g, snap)), cutoff=depth)
        dropped = [n for n in keep if n not in within]
        keep = [n for n in keep if n in within]
        if dropped:
            notes.append(f"depth {depth}: {len(dropped)} nodes more than {depth} edges above "
                         f"the outputs not drawn ({_by_scope(dropped)})")
    return keep


def _by_scope(names: list[str]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for n in names:
        counts[n.split("/", 1)[0] + "/" if "/" in n else "top level"] += 1
    parts = [f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


def _items(g, keep: list[str], collapse) -> dict[str, _Item]:
    if collapse is True:
        scopes = sorted({n.split("/", 1)[0] for n in keep if "/" in n})
    else:
        scopes = [s.strip("/") for s in collapse]
        for s in scopes:
            if not any(n.startswith(s + "/") for n in g.nx):
                raise GraphError(f"mpgraph: render: collapse names scope '{s}', which has no "
                                 f"nodes (scopes: {', '.join(_scopes(g)) or 'none'})")
    items: dict[str, _Item] = {}
    for n in keep:
        box = next((s for s in sorted(scopes, key=len) if n.startswith(s + "/")), None)
        if box is None:
            items[n] = _Item(f"n{g[n].index}", [n], _scope_of(n))
        elif "scope:" + box in items:
            items["scope:" + box].names.append(n)
        else:
            items["scope:" + box] = _Item(f"s{len(items)}", [n], _scope_of(box), box=box)
    return items


def _scopes(g) -> list[str]:
    return sorted({_scope_of(n) for n in g.nx if "/" in n})


def _limit(g, items: dict[str, _Item], max_nodes: int | None, snap, notes) -> dict[str, _Item]:
    if max_nodes is None or len(items) <= max_nodes:
        return items
    owner = {n: key for key, it in items.items() for n in it.names}
    dist = nx.multi_source_dijkstra_path_length(
        g.nx.reverse(copy=False), {o for o in _outputs(g, snap) if o in owner})
    order = sorted(items, key=lambda k: (min(dist.get(n, np.inf) for n in items[k].names),
                                         -max(g[n].index for n in items[k].names)))
    kept = {k: items[k] for k in order[:max_nodes]}
    dropped = [n for k in order[max_nodes:] for n in items[k].names]
    notes.append(f"max_nodes {max_nodes}: {len(dropped)} nodes farthest from the outputs not drawn "
                 f"({_by_scope(dropped)}); collapse scopes or raise max_nodes to see them")
    return kept


# -- drawing --------------------------------------------------------------------------------

def _emit_scope(dot, scope: str, by_scope: dict[str, list[_Item]], tree: dict[str, list[str]],
                pic: _Picture) -> None:
    for item in by_scope.get(scope, []):
        pic.item(dot, item)
    for child in tree.get(scope, []):
        with dot.subgraph(name=f"cluster_{child}") as sub:
            sub.attr(label=_short(child), tooltip=f"scope {child}", style="rounded,filled",
                     fillcolor="#fafafa", color="#bbbbbb", fontcolor="#555555", fontsize="12",
                     labeljust="l")
            _emit_scope(sub, child, by_scope, tree, pic)


def _scope_tree(scopes: Iterable[str]) -> dict[str, list[str]]:
    """Each scope's sub-scopes in the order they were first used (``unit2`` before
    ``unit10``), the ancestors of the given scopes included."""
    every: dict[str, None] = {}
    for s in scopes:
        chain = []
        while s:
            chain.append(s)
            s = _scope_of(s)
        every.update(dict.fromkeys(reversed(chain)))
    tree: dict[str, list[str]] = defaultdict(list)
    for s in every:
        tree[_scope_of(s)].append(s)
    return tree


class _Picture:
    """The labels of one picture: reads the graph and the snapshot, writes DOT."""

    def __init__(self, g, snap: Snapshot | None, view: str, shown: Shown, full: bool,
                 focus: str | None, one_row: bool = False) -> None:
        self.g, self.snap, self.view, self.shown, self.full, self.focus = g, snap, view, shown, full, focus
        self.one_row = one_row  # compact boxes laid out left to right: one row of cells each
        # In a large picture, edge labels as layout objects push the nodes apart; xlabels are
        # placed after the layout, beside their edges.
        self.label_attr = "label" if full else "xlabel"
        self.coloured = False
        self.received: dict[str, list[tuple]] = defaultdict(list)
        if snap is not None and snap.messages is not None:
            for key in snap.messages:
                self.received[key[0]].append(key)

    # values, signals, messages ------------------------------------------------------------

    def value(self, name: str) -> Any:
        if self.snap is not None and name in self.snap.values:
            return self.snap.values[name]
        node = self.g[name]
        return node._value if node.kind in ("param", "const") else None

    def signal(self, name: str) -> Any:
        if self.snap is None or self.snap.signals is None:
            return None
        return self.snap.signals.get(name)

    def message(self, key: tuple) -> Any:
        if self.snap is None or self.snap.messages is None:
            return None
        return self.snap.messages.get(key)

    def local_derivative(self, parent: str, child: str, argnum: int) -> str | None:
        """``∂child/∂parent`` as a number, when both are scalars and the run has their values."""
        node = self.g[child]
        ans = self.value(child)
        args = [self.value(p.name) for p in node.args]
        if ans is None or any(a is None for a in args) or np.size(ans) != 1 or np.size(args[argnum]) != 1:
            return None
        seed = np.ones_like(np.asarray(ans, dtype=np.result_type(ans, float)))
        vjp = node.op.vjp
        try:
            with np.errstate(all="ignore"):
                d = (vjp(argnum, seed, ans, *args, **node.attrs) if node.op.variadic
                     else vjp[argnum](seed, ans, *args, **node.attrs) if vjp[argnum] else None)
        except Exception:  # a picture never fails for an op's sake: the message is still shown
            return None
        return None if d is None else fmt(np.asarray(d).reshape(()))

    # nodes --------------------------------------------------------------------------------

    def item(self, dot, item: _Item) -> None:
        if item.box is not None:
            dot.node(item.id, self._box_label(item), tooltip=f"scope {item.box} (collapsed)")
            return
        name = item.names[0]
        node = self.g[name]
        if node.kind == "const":
            dot.node(item.id, self._const_label(node), tooltip=f"{name}: constant {summary(node._value)}")
            return
        dot.node(item.id, self._node_label(node), tooltip=self._tooltip(node))

    def _node_label(self, node) -> str:
        fill, border, style = KINDS[node.kind]
        head = f"<B>{html.escape(_short(node.name))}</B>"
        if self.full and node.kind == "op":
            head += f' <FONT COLOR="{GREY}">= {html.escape(self._formula(node))}</FONT>'
        elif node.kind == "op" and not _short(node.name).startswith(node.op.name.replace(".", "_")):
            head += f' <FONT COLOR="{GREY}" POINT-SIZE="10">{html.escape(node.op.name)}</FONT>'
        # The node of the current step is marked by colour alone: every frame of a stepped
        # backward pass must keep the same layout.
        current = node.name == self.shown.current
        cells = [f'<TD BGCOLOR="{CURRENT if current else fill}">{head}</TD>']
        if self.full:
            what = node.op.name if node.kind == "op" else node.kind
            meta = " · ".join([what, *self._shape_dtype(node)])
            cells.append(f'<TD><FONT POINT-SIZE="9" COLOR="{GREY}">{html.escape(meta)}</FONT></TD>')
        value = self.value(node.name)
        if value is not None:
            bad = _nonfinite(value)
            self.coloured |= bad
            ink = NONFINITE[2] if bad else ("#333333" if self.view != "backward" else GREY)
            cell = f' BGCOLOR="{NONFINITE[1]}"' if bad else ""
            cells.append(f'<TD{cell}><FONT COLOR="{ink}">= {html.escape(summary(value))}</FONT></TD>')
        cells += self._signal_cells(node.name)
        pen, colour = (3 if node.name == self.focus else 1), ("#000000" if current else border)
        if any(_nonfinite(x) for x in (value, self.signal(node.name)) if x is not None):
            colour, pen = NONFINITE[1], 3
        rows = ("<TR>" + "".join(cells) + "</TR>" if self.one_row
                else "".join(f"<TR>{c}</TR>" for c in cells))
        return (f'<<TABLE BORDER="{pen}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
                f'COLOR="{colour}" BGCOLOR="white"{style}>{rows}</TABLE>>')

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
                if np.size(m) == 1 and i and not _nonfinite(m) and np.real(np.asarray(m)).item() < 0:
                    t = "- " + t[1:]
                elif i:
                    t = "+ " + t
                terms.append(_ink(t, self.shown.message(key), font, fill))
            listed = all(np.size(self.message(k)) == 1 for k in keys) and len(keys) <= (
                MAX_TERMS if self.full else MAX_TERMS_COMPACT)
            sums = " ".join(terms) if listed else _ink(f"Σ of {len(keys)} messages", True, font)
            return [f'<TD BGCOLOR="{fill}">{_ink(bar(_short(name)) + " =", True, font)} {sums}</TD>',
                    total + _ink("= " + html.escape(summary(signal)), complete, font) + "</TD>"]
        return [total + _ink(f"{bar(_short(name))} = {html.escape(summary(signal))}", complete, font)
                + "</TD>"]

    def _const_label(self, node) -> str:
        text = html.escape(summary(node._value))
        if np.ndim(node._value):
            text += f'<BR/><FONT POINT-SIZE="8">const {html.escape(str(node.shape))}</FONT>'
        return f'<<FONT POINT-SIZE="10" COLOR="{GREY}">{text}</FONT>>'

    def _formula(self, node) -> str:
        """What an op node computes from its arguments: ``w × x``, ``sigmoid(z)``,
        ``sum(h, axis=0)``; scalar constants by value, attributes other than defaults."""
        args = [summary(p._value) if p.kind == "const" and np.size(p._value) == 1 else _short(p.name)
                for p in node.args]
        name = node.op.name
        if name in INFIX and len(args) == 2:
            return f"{args[0]} {INFIX[name]} {args[1]}"
        if name == "negative":
            return f"-{args[0]}"
        if len(args) > 3:
            args = [args[0], "...", args[-1], f"{len(node.args)} args"]
        defaults = node.op.attr_defaults
        args += [f"{k}={v!r}" for k, v in node.attrs.items()
                 if k not in defaults or not _same(v, defaults[k])]
        return f"{name}({', '.join(args)})"

    def _shape_dtype(self, node) -> list[str]:
        """The static shape and dtype, or those of the run's value where they are unknown."""
        value = self.value(node.name)
        shape, dtype = node.shape, node.dtype
        if (shape is None or None in shape) and value is not None:
            shape = np.shape(value)
        if dtype is None and value is not None and not isinstance(value, (int, float, complex)):
            dtype = np.result_type(value)
        return ["?" if shape is None else str(shape).replace("None", "?")] + (
            [str(dtype)] if dtype is not None else [])

    def _box_label(self, item: _Item) -> str:
        kinds: dict[str, int] = defaultdict(int)
        for n in item.names:
            kinds[self.g[n].kind] += 1
        parts = ", ".join(f"{v} {k}{'s' if v > 1 else ''}" for k, v in kinds.items())
        rows = [f'<TR><TD BGCOLOR="#e6e6e6"><B>{html.escape(item.box)}/</B></TD></TR>',
                f'<TR><TD><FONT POINT-SIZE="9" COLOR="{GREY}">collapsed: {len(item.names)} nodes '
                f'({parts})</FONT></TD></TR>']
        signals = [(n, self.signal(n)) for n in item.names if self.signal(n) is not None]
        if signals:
            bad = [n for n, s in signals if _nonfinite(s)]
            worst, s = max(signals, key=lambda ns: (_nonfinite(ns[1]), float(np.nanmax(np.abs(ns[1])))
                                                    if np.size(ns[1]) and not _nonfinite(ns[1]) else 0.0))
            text, fill, font = magnitude_colour(s)
            self.coloured = True
            label = (f"{len(bad)} NaN/Inf signals, e.g. {_short(bad[0])}" if bad
                     else f"largest signal: {_short(worst)}, max |·| {fmt(np.max(np.abs(s)))}")
            rows.append(f'<TR><TD BGCOLOR="{fill}">{_ink(html.escape(label), True, font)}</TD></TR>')
        return (f'<<TABLE BORDER="2" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
                f'COLOR="#777777" BGCOLOR="white">{"".join(rows)}</TABLE>>')

    def _tooltip(self, node) -> str:
        parts = [node.name, node.op.name if node.op else node.kind, *self._shape_dtype(node)]
        value, signal = self.value(node.name), self.signal(node.name)
        if value is not None:
            parts.append(f"value {summary(value)}")
        if signal is not None:
            parts.append(f"{bar(_short(node.name), False)} = {summary(signal)}")
        return "; ".join(parts)

    # edges --------------------------------------------------------------------------------

    def edges(self, dot, owner: dict[str, _Item]) -> None:
        bundles: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for p, c, k in self.g.nx.edges(keys=True):
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
        msg = self.message(key)
        tip = f"{p} → {c} (argument {k})" + ("" if msg is None else f"; message {summary(msg)}")
        arg = f"#{k} " if several else ""
        # In a compact picture, the edges of a wide fan-out run together: their chips would pile
        # up unreadably, so their messages go in the tooltips and the sum says how many there are.
        chips = self.full or len(self.received.get(p, ())) <= MAX_TERMS_COMPACT
        forward = {"color": "#8c8c8c" if self.view == "both" else "#555555", "tooltip": tip}
        if self.view in ("forward", "both"):
            label = (self._chip(key, msg if chips else None, arg) if self.view == "forward"
                     else (arg and _plain(arg)))
            dot.edge(tail, head, **{self.label_attr: label or None}, **forward)
        if self.view == "forward":
            return
        if msg is None and (self.g[p].kind == "const" or self.snap is not None
                            and self.snap.messages is not None):
            if self.view == "backward":
                dot.edge(head, tail, style="dotted", color="#bbbbbb", arrowhead="none",
                         tooltip=f"no message: {p} carries no gradient here")
            return
        mult = self.local_derivative(p, c, k)
        if mult is None and self.full and self.snap is None:
            mult = f"∂{_short(c)}/∂{_short(p)}"
        mult_txt = f"×{mult} " if mult else ""
        back = {"tooltip": f"message {c} → {p} (argument {k})"
                           + ("" if msg is None else f": {summary(msg)}"),
                "penwidth": "2.4" if self.shown.current in (c, p) and self.shown.message(key) else "1.2"}
        colour = "#b2182b" if msg is not None and self.shown.message(key) else "#999999"
        label = self._chip(key, msg, arg + mult_txt) if chips else None
        if self.view == "both":  # drawn beside the forward edge, pointing back at the parent
            dot.edge(tail, head, **{self.label_attr: label}, color=colour, fontcolor=colour, dir="back",
                     style="dashed", **back)
        else:
            dot.edge(head, tail, **{self.label_attr: label}, color=colour, fontcolor=colour, **back)

    def _chip(self, key: tuple, msg: Any, prefix: str) -> str | None:
        if msg is None:
            return _plain(prefix) if prefix else None
        text, fill, font = magnitude_colour(msg)
        self.coloured = True
        visible = self.shown.message(key)
        pre = _ink(html.escape(prefix), True, "#555555") if prefix else ""
        cell = fill if visible else "white"
        return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1"><TR>'
                f'{"<TD>" + pre + "</TD>" if pre else ""}<TD BGCOLOR="{cell}">'
                f'<FONT POINT-SIZE="9">{_ink(html.escape(summary(msg)), visible, font)}</FONT>'
                f'</TD></TR></TABLE>>')

    def _bundle(self, dot, tail: str, head: str, keys: list[tuple]) -> None:
        label = _plain(f"{len(keys)} edges") if len(keys) > 1 else None
        if self.view in ("forward", "both"):
            dot.edge(tail, head, label=label, color="#555555", penwidth="1.5" if label else "1")
        if self.view == "backward":
            dot.edge(head, tail, label=label, color="#b2182b", penwidth="1.5" if label else "1")
        elif self.view == "both":
            dot.edge(tail, head, color="#b2182b", penwidth="1.5", dir="back", style="dashed")

    def stubs(self, dot, item: _Item) -> None:
        for side, count in item.stubs.items():
            sid = f"{item.id}_{side}"
            what = "argument" if side == "in" else "use"
            dot.node(sid, f'<<FONT POINT-SIZE="9" COLOR="#999999">... {count} {what}'
                          f'{"s" if count > 1 else ""} not drawn</FONT>>', shape="plain")
            ends = (sid, item.id) if side == "in" else (item.id, sid)
            backward = self.view == "backward"
            dot.edge(*(ends[::-1] if backward else ends), style="dotted", color="#bbbbbb",
                     arrowhead="none")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays: never the default
        return False


def _ink(text: str, visible: bool, colour: str, background: str = "white") -> str:
    # Hidden text is inked in its background colour rather than "transparent", which older
    # Graphviz writes to SVG as opaque near-white.
    return f'<FONT COLOR="{colour if visible else background}">{text}</FONT>'


def _plain(text: str) -> str:
    return f'<<FONT POINT-SIZE="9" COLOR="#555555">{html.escape(text)}</FONT>>'


def _title(g, snap, view, items, notes, title, shown, legend: bool) -> str:
    if title is None:
        drawn = sum(len(it.names) for it in items.values())
        title = f"{view} view · {drawn} of {len(g)} nodes" if drawn != len(g) else f"{view} view · {len(g)} nodes"
        if snap is not None and len(snap.outputs) == 1 and np.size(snap.values[snap.outputs[0]]) == 1:
            out = snap.outputs[0]
            title += f" · {_short(out)} = {summary(snap.values[out])}"
    rows = [f'<TR><TD ALIGN="LEFT"><B>{html.escape(title)}</B></TD></TR>']
    if shown.caption:  # a fixed size, so that captions of any length keep the layout still
        rows.append(f'<TR><TD ALIGN="LEFT" FIXEDSIZE="TRUE" WIDTH="{CAPTION_WIDTH}" HEIGHT="20">'
                    f'{html.escape(shown.caption)}</TD></TR>')
    for note in notes:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="#b45f06">{html.escape(note)}'
                    f'</FONT></TD></TR>')
    if legend:
        rows.append(f'<TR><TD ALIGN="LEFT">{_legend()}</TD></TR>')
    return f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(rows)}</TABLE>>'


def _legend() -> str:
    cells = [(text, fill, font) for _, text, fill, font in MAGNITUDES] + [ZERO, NONFINITE]
    swatches = "".join(f'<TD BGCOLOR="{fill}"><FONT POINT-SIZE="9" COLOR="{font}">{html.escape(text)}'
                       f'</FONT></TD>' for text, fill, font in cells)
    kinds = "".join(f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1"><FONT POINT-SIZE="9">{k}</FONT></TD>'
                    for k, (fill, border, _) in KINDS.items())
    return (f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2"><TR>'
            f'<TD><FONT POINT-SIZE="9">error signal, message: largest |entry|</FONT></TD>{swatches}'
            f'<TD>  </TD><TD><FONT POINT-SIZE="9">nodes:</FONT></TD>{kinds}'
            f'<TD><FONT POINT-SIZE="9" COLOR="{GREY}">grey text: constant</FONT></TD></TR></TABLE>')


def repr_mimebundle(obj: Any, **options: Any) -> dict[str, str]:
    """What Jupyter shows for a Graph or a Run: its picture as SVG, or text saying what to
    install when no layout program is on the PATH."""
    from .layout import LayoutError, pipe
    dot = render(obj, **options)
    try:
        return {"image/svg+xml": pipe(dot, "svg").decode(), "text/plain": repr(obj)}
    except LayoutError as e:
        return {"text/plain": f"{obj!r}\n{e}"}
