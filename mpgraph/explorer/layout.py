"""Where the explorer draws each box: one Graphviz layout per scope.

A graph's scopes (``layer1/`` in ``layer1/W``) form a tree. Each scope is laid out on its own, with
its direct nodes and its child scopes as one box each, and the edges lifted to that level: an edge
from ``layer1/h`` to ``layer2/matmul_1`` is, in the top level's layout, an edge from the box
``layer1`` to the box ``layer2``. The page starts with every scope collapsed and, when one is
expanded, puts its own layout inside its box and moves the other boxes out of its way (and wraps a
rank of scopes expanded side by side into several columns), so that expanding a scope never lays
out the rest again.

All the layouts go to one ``dot -Tplain`` process (a file of many graphs). Without ``dot`` on the
PATH, or for a scope with more than :data:`DOT_LIMIT` boxes (dot's crossing minimisation grows
faster than linearly), a layered layout computed here is used: ranks by longest path from the
sources, order within a rank by the mean position of the predecessors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import LayoutError

__all__ = ["DOT_LIMIT", "Box", "ScopeLayout", "lay_out"]

DOT_LIMIT = 1500
RANKSEP, NODESEP = 40.0, 14.0  # pixels between ranks and between boxes of a rank


@dataclass
class Box:
    """A box to place: its key (``"n12"`` for node 12, ``"s3"`` for scope 3) and its size in pixels."""

    key: str
    width: float
    height: float


@dataclass
class ScopeLayout:
    """The layout of one scope: each box's centre, and the size of the whole drawing, in pixels
    with y pointing down."""

    width: float = 0.0
    height: float = 0.0
    centres: dict[str, tuple[float, float]] = field(default_factory=dict)
    engine: str = "dot"


def lay_out(
    scopes: Sequence[tuple[list[Box], list[tuple[str, str]]]],
    rankdir: str = "LR",
    engine: str = "auto",
) -> list[ScopeLayout]:
    """Lay out each ``(boxes, edges)`` pair, edges as pairs of box keys.

    Parameters
    ----------
    scopes : sequence of (boxes, edges)
    rankdir : {"LR", "TB"}
    engine : {"auto", "dot", "layered"}
        ``"auto"``: dot where it is on the PATH and the scope has at most :data:`DOT_LIMIT`
        boxes, else the layered layout.

    Returns
    -------
    list of ScopeLayout, in the order of ``scopes``.

    Raises
    ------
    LayoutError
        ``engine="dot"`` without dot on the PATH, or dot failed.

    Examples
    --------
    >>> out = lay_out([([Box("a", 40, 20), Box("b", 40, 20)], [("a", "b")])], engine="layered")
    >>> out[0].centres["a"][0] < out[0].centres["b"][0]      # left to right
    True
    """
    if engine not in ("auto", "dot", "layered"):
        raise LayoutError(
            f"mpgraph: explorer layout engine {engine!r}; expected 'auto', 'dot' or 'layered'"
        )
    dot = shutil.which("dot")
    if engine == "dot" and dot is None:
        raise LayoutError(
            "mpgraph: the explorer's layout engine 'dot' is not on the PATH; install "
            "Graphviz or pass engine='layered'"
        )
    use_dot = [
        dot is not None and engine != "layered" and len(b) <= DOT_LIMIT and len(b) > 1
        for b, _ in scopes
    ]
    out: list[ScopeLayout | None] = [None] * len(scopes)
    if any(use_dot):
        chosen = [i for i, u in enumerate(use_dot) if u]
        for i, layout in zip(chosen, _dot_layouts(dot, [scopes[i] for i in chosen], rankdir)):
            out[i] = layout
    for i, (boxes, edges) in enumerate(scopes):
        if out[i] is None:
            out[i] = _layered(boxes, edges, rankdir)
    return out


def _dot_layouts(dot: str, scopes, rankdir: str) -> list[ScopeLayout]:
    parts = []
    for k, (boxes, edges) in enumerate(scopes):
        lines = [
            f"digraph g{k} {{ rankdir={rankdir}; ranksep={RANKSEP / 72:.3f}; "
            f'nodesep={NODESEP / 72:.3f}; node [shape=box, fixedsize=true, label=""];'
        ]
        lines += [
            f'"{b.key}" [width={b.width / 72:.3f}, height={b.height / 72:.3f}];' for b in boxes
        ]
        lines += [f'"{u}" -> "{v}";' for u, v in edges]
        lines.append("}")
        parts.append("\n".join(lines))
    done = subprocess.run(
        [dot, "-Tplain"],
        input="\n".join(parts).encode(),
        capture_output=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if done.returncode != 0:
        raise LayoutError(
            f"mpgraph: dot failed ({done.returncode}) laying out the explorer's "
            f"scopes: {done.stderr.decode(errors='replace').strip()}"
        )
    layouts, current = [], None
    for line in done.stdout.decode().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "graph":  # graph scale width height, in inches, y up
            current = ScopeLayout(float(words[2]) * 72, float(words[3]) * 72)
        elif words[0] == "node":
            key = words[1].strip('"')
            x, y = float(words[2]) * 72, float(words[3]) * 72
            current.centres[key] = (round(x, 1), round(current.height - y, 1))
        elif words[0] == "stop":
            layouts.append(current)
    if len(layouts) != len(scopes):
        raise LayoutError(f"mpgraph: dot returned {len(layouts)} layouts for {len(scopes)} scopes")
    return layouts


def _layered(boxes: list[Box], edges: list[tuple[str, str]], rankdir: str) -> ScopeLayout:
    """Longest-path ranks, one barycentre pass for the order within each rank."""
    size = {b.key: (b.width, b.height) for b in boxes}
    keys = _topological([b.key for b in boxes], edges)
    preds: dict[str, list[str]] = defaultdict(list)
    for u, v in edges:
        preds[v].append(u)
    rank: dict[str, int] = {}
    for k in keys:  # an edge that closes a cycle (possible between lifted boxes) is ignored
        rank[k] = 1 + max((rank[p] for p in preds[k] if p in rank), default=-1)
    ranks: dict[int, list[str]] = defaultdict(list)
    for k in keys:
        ranks[rank[k]].append(k)
    along = 0 if rankdir == "LR" else 1  # the axis the ranks follow
    position: dict[str, float] = {}
    layout = ScopeLayout(engine="layered")
    offset = 0.0
    extent_across = 0.0
    placed: list[tuple[str, float, float]] = []
    for r in sorted(ranks):
        members = ranks[r]
        members.sort(
            key=lambda k: (
                sum(position[p] for p in preds[k] if p in position)
                / max(1, sum(1 for p in preds[k] if p in position))
                if any(p in position for p in preds[k])
                else float("inf")
            )
        )
        thickness = max(size[k][along] for k in members)
        across = 0.0
        for k in members:
            extent = size[k][1 - along]
            position[k] = across + extent / 2
            placed.append((k, offset + thickness / 2, across + extent / 2))
            across += extent + NODESEP
        extent_across = max(extent_across, across - NODESEP)
        offset += thickness + RANKSEP
    for k, a, c in placed:
        layout.centres[k] = (round(a, 1), round(c, 1)) if along == 0 else (round(c, 1), round(a, 1))
    span = max(0.0, offset - RANKSEP)
    layout.width, layout.height = (span, extent_across) if along == 0 else (extent_across, span)
    return layout


def _topological(keys: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """``keys`` in an order where every edge that is not part of a cycle runs forward.

    Scope boxes come before the nodes beside them, so the given order is not topological; and
    lifting edges to scope boxes can make cycles (a node outside a scope that reads from it and
    feeds it), which a depth-first search breaks at its back edges.
    """
    succs: dict[str, list[str]] = defaultdict(list)
    for u, v in edges:
        succs[u].append(v)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    post: list[str] = []
    for root in keys:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succs[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[node] = 2
                post.append(node)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succs[child])))
    return post[::-1]
