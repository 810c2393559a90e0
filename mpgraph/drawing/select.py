"""Choosing what a picture draws: a focus, a depth, collapsed scopes and a node budget."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ..engine.snapshot import Snapshot
from ..errors import GraphError
from .notation import scope_of

__all__ = [
    "Item",
    "by_scope",
    "items_of",
    "limit",
    "named_node",
    "outputs",
    "scope_tree",
    "scope_names",
    "select",
]


@dataclass
class Item:
    """One drawn box: a node, or a collapsed scope standing for many nodes."""

    id: str
    names: list[str]
    scope: str  # the cluster it sits in
    box: str | None = None  # the collapsed scope, for a box
    stubs: dict[str, int] = field(default_factory=dict)


def named_node(g, error: BaseException) -> str:
    """The first node of ``g`` that an error message names (``... at node 'layer1/h': ...``,
    ``input 'x' has shape ...``)."""
    for name in re.findall(r"'([^']+)'", str(error)):
        if name in g:
            return name
    raise GraphError(f"mpgraph: render: focus: the error names no node of this graph ({error})")


def outputs(g, snap: Snapshot | None) -> list[str]:
    if snap is not None and snap.outputs:
        return list(snap.outputs)
    return [n for n in g.nx if g.nx.out_degree(n) == 0]


def select(g, snap, focus, radius: int, depth: int | None, notes: list[str]) -> list[str]:
    keep = [n.name for n in g]
    if focus is not None:
        centre = g[focus].name
        near = nx.single_source_shortest_path_length(
            g.nx.to_undirected(as_view=True), centre, cutoff=radius
        )
        keep = [n for n in keep if n in near]
        notes.append(f"focus on '{centre}', radius {radius}: {len(keep)} of {len(g)} nodes")
    if depth is not None:
        within = nx.multi_source_dijkstra_path_length(
            g.nx.reverse(copy=False), set(outputs(g, snap)), cutoff=depth
        )
        dropped = [n for n in keep if n not in within]
        keep = [n for n in keep if n in within]
        if dropped:
            notes.append(
                f"depth {depth}: {len(dropped)} nodes more than {depth} edges above "
                f"the outputs not drawn ({by_scope(dropped)})"
            )
    return keep


def by_scope(names: list[str]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for n in names:
        counts[n.split("/", 1)[0] + "/" if "/" in n else "top level"] += 1
    parts = [f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


def items_of(g, keep: list[str], collapse) -> dict[str, Item]:
    if collapse is True:
        scopes = sorted({n.split("/", 1)[0] for n in keep if "/" in n})
    else:
        scopes = [s.strip("/") for s in collapse]
        for s in scopes:
            if not any(n.startswith(s + "/") for n in g.nx):
                raise GraphError(
                    f"mpgraph: render: collapse names scope '{s}', which has no "
                    f"nodes (scopes: {', '.join(scope_names(g)) or 'none'})"
                )
    items: dict[str, Item] = {}
    for n in keep:
        box = next((s for s in sorted(scopes, key=len) if n.startswith(s + "/")), None)
        if box is None:
            items[n] = Item(f"n{g[n].index}", [n], scope_of(n))
        elif "scope:" + box in items:
            items["scope:" + box].names.append(n)
        else:
            items["scope:" + box] = Item(f"s{len(items)}", [n], scope_of(box), box=box)
    return items


def scope_names(g) -> list[str]:
    return sorted({scope_of(n) for n in g.nx if "/" in n})


def limit(g, items: dict[str, Item], max_nodes: int | None, snap, notes) -> dict[str, Item]:
    if max_nodes is None or len(items) <= max_nodes:
        return items
    owner = {n: key for key, it in items.items() for n in it.names}
    dist = nx.multi_source_dijkstra_path_length(
        g.nx.reverse(copy=False), {o for o in outputs(g, snap) if o in owner}
    )
    order = sorted(
        items,
        key=lambda k: (
            min(dist.get(n, np.inf) for n in items[k].names),
            -max(g[n].index for n in items[k].names),
        ),
    )
    kept = {k: items[k] for k in order[:max_nodes]}
    dropped = [n for k in order[max_nodes:] for n in items[k].names]
    notes.append(
        f"max_nodes {max_nodes}: {len(dropped)} nodes farthest from the outputs not drawn "
        f"({by_scope(dropped)}); collapse scopes or raise max_nodes to see them"
    )
    return kept


def scope_tree(scopes: Iterable[str]) -> dict[str, list[str]]:
    """Each scope's sub-scopes in the order they were first used (``unit2`` before
    ``unit10``), the ancestors of the given scopes included."""
    every: dict[str, None] = {}
    for s in scopes:
        chain = []
        while s:
            chain.append(s)
            s = scope_of(s)
        every.update(dict.fromkeys(reversed(chain)))
    tree: dict[str, list[str]] = defaultdict(list)
    for s in every:
        tree[scope_of(s)].append(s)
    return tree
