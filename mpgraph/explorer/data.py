"""What the explorer page shows, as plain JSON-ready data: the graph, its scopes and their
layouts, and from a run every node's value and error signal and every edge's message, each
summarised by numbers (statistics, a histogram, the entries of a small array), plus the order
of the backward pass's steps.

The page draws this data; nothing in it is a picture, so a step of the backward pass costs a few
numbers, not a frame.

Examples
--------
>>> import mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x")
>>> with g.scope("layer1"):
...     y = mg.ops.multiply(x, x, name="y")
>>> run = g.forward(y, {"x": 3.0}).backward(keep_messages=True)
>>> data = explorer_data(g, run, engine="layered")
>>> [n["name"] for n in data["nodes"]], [s["name"] for s in data["scopes"]]
(['x', 'layer1/y'], ['', 'layer1'])
>>> data["nodes"][0]["signal"]["full"], [data["messages"][m]["full"] for m in (0, 1)]
(6.0, [3.0, 3.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..drawing.notation import MAGNITUDES, NONFINITE, ZERO, fmt, scope_of, short_name
from ..engine.snapshot import Snapshot, graph_and_snapshot
from ..errors import GraphError
from .layout import Box, lay_out

__all__ = ["FULL_LIMIT", "HIST_BINS", "explorer_data", "summarise"]

FULL_LIMIT = 64  # arrays with at most this many entries are shipped whole
HIST_BINS = 12
CHAR, LINE, PAD = 6.6, 14.0, 12.0  # pixels per character and per text line of a box, padding


def _num(x: float) -> float | str:
    """A float as JSON holds it: 4 significant digits; NaN and infinities as strings."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return float(f"{x:.4g}")


def summarise(x: Any) -> dict[str, Any] | None:
    """A value, error signal or message as numbers the page can show.

    Returns
    -------
    dict or None
        ``text`` (a few characters), ``shape``, ``dtype``, ``absmax`` (the largest finite
        ``|entry|``, for colouring), and for arrays ``mean``, ``std``, ``min``, ``max``, the counts
        ``nan`` and ``inf``, a histogram ``hist`` over ``range``; ``full``, the entries themselves,
        when there are at most :data:`FULL_LIMIT`. ``None`` for ``None``.

    Examples
    --------
    >>> s = summarise(np.array([1, 2, 3, 4, 5, 6]))
    >>> s["text"], s["mean"], s["full"]
    ('μ 3.5 [1, 6]', 3.5, [1, 2, 3, 4, 5, 6])
    >>> summarise(np.array([-1.0, 1.0, 1e-30, -1e-30, 0.5]))["mean"]  # not 1e-31: rounding noise
    0.1
    >>> summarise(np.array([-1.0, 1.0]))["text"]
    '[-1, 1]'
    """
    if x is None:
        return None
    a = np.asarray(x)
    out: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype)}
    kind = a.dtype.kind
    if kind == "c":
        a = np.abs(a)
        out["note"] = "complex: moduli shown"
        kind = "f"
    if kind not in "biuf" or a.size == 0:
        out.update(text=f"empty {a.shape}" if a.size == 0 else str(a.dtype), absmax=0.0)
        return out
    integer = kind in "biu"
    if a.size == 1:
        v = a.reshape(())[()]
        out.update(
            text=fmt(v),
            full=(int(v) if integer else _num(float(v))),
            absmax=_num(abs(float(v))) if math.isfinite(float(v)) else 0.0,
        )
        if not integer and not math.isfinite(float(v)):
            out["nan" if math.isnan(float(v)) else "inf"] = 1
        return out
    f = a.astype(np.float64)
    finite = f[np.isfinite(f)]
    nan, inf = int(np.isnan(f).sum()), int(np.isinf(f).sum())
    if nan:
        out["nan"] = nan
    if inf:
        out["inf"] = inf
    if a.size <= FULL_LIMIT:
        out["full"] = a.tolist() if integer else [_num(v) for v in f.ravel()]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        scale = max(abs(lo), abs(hi))
        mean = float(finite.mean())
        if abs(mean) <= 1e-12 * scale:  # cancellation leaves noise of size eps * scale: say 0
            mean = 0.0
        counts, _ = np.histogram(finite, bins=HIST_BINS)
        out.update(
            mean=_num(mean),
            std=_num(float(finite.std())),
            min=int(lo) if integer else _num(lo),
            max=int(hi) if integer else _num(hi),
            absmax=_num(scale),
            hist=counts.tolist(),
            range=[_num(lo), _num(hi)],
        )
        if integer:
            out["sum"] = int(a.sum())
    else:
        out["absmax"] = 0.0
    notes = [f"{nan} NaN"] * bool(nan) + [f"{inf} Inf"] * bool(inf)
    if a.ndim == 1 and a.size <= 4 and not nan and not inf:
        text = "[" + ", ".join(fmt(v) for v in a) + "]"
    elif kind == "b":
        text = f"{int(a.sum())} of {a.size} True"
    elif finite.size:
        text = " ".join(notes + [f"μ {fmt(out['mean'])} [{fmt(out['min'])}, {fmt(out['max'])}]"])
    else:
        text = " ".join(notes)
    out["text"] = text
    return out


def explorer_data(
    graph: Any,
    run: Any = None,
    *,
    compare: Any = None,
    metrics: Mapping[str, Mapping[Any, float]] | None = None,
    title: str | None = None,
    rankdir: str = "LR",
    engine: str = "auto",
) -> dict[str, Any]:
    """The data of an explorer page (see :func:`mpgraph.explorer.explore`).

    Parameters
    ----------
    graph : Graph or Run
    run : Run or Snapshot, optional
    compare : Run or Snapshot, optional
        A second run of the same graph: each node gets the difference of its values
        (``run`` minus ``compare``) as ``value_diff`` and, when both runs were backpropagated, of
        its error signals as ``diff``; ``message_diffs`` (beside ``messages``) holds the
        difference of each kept message. Where the two arrays' shapes differ (another batch
        size) the difference says so instead of numbers.
    metrics : mapping, optional
        ``{metric name: {node or node name: number}}``: numbers to colour nodes by.
    title : str, optional
    rankdir : {"LR", "TB"}
    engine : {"auto", "dot", "layered"}
        See :func:`mpgraph.explorer.layout.lay_out`.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (``[parent, child, argnum, message index or -1]``), ``messages``,
        ``scopes`` (each with its ``layout``), ``forward`` (the op nodes in the order the forward
        pass computed them), ``steps`` and ``seeds`` of the backward pass,
        ``metrics`` (names), ``magnitudes`` (the colour scale), ``title``, ``rankdir``.

    Raises
    ------
    GraphError
        A run of another graph; a ``compare`` without ``run``, or without error signals where
        ``run`` has them; a metric naming a node that is not in the graph, or a value that is
        not a number.
    """
    if rankdir not in ("LR", "TB"):
        raise GraphError(f"mpgraph: explore: rankdir {rankdir!r}; expected 'LR' or 'TB'")
    g, snap = graph_and_snapshot(graph, run)
    other = None
    if compare is not None:
        _, other = graph_and_snapshot(g, compare)
        if snap is None:
            raise GraphError("mpgraph: explore: compare needs a run to compare it with")
        if snap.signals is not None and other.signals is None:
            raise GraphError(
                "mpgraph: explore: compare needs two runs with error signals "
                "(call run.backward(loss) on both)"
            )
    order = list(g)
    index = {n.name: i for i, n in enumerate(order)}
    metric_values = _metrics(metrics, g, index)

    # the scope tree: index 0 is the top level
    scope_index: dict[str, int] = {"": 0}
    scopes: list[dict[str, Any]] = [{"name": "", "short": "", "parent": -1, "depth": 0}]

    def scope_id(name: str) -> int:
        found = scope_index.get(name)
        if found is None:
            parent = scope_id(scope_of(name))
            found = scope_index[name] = len(scopes)
            scopes.append(
                {
                    "name": name,
                    "short": short_name(name),
                    "parent": parent,
                    "depth": scopes[parent]["depth"] + 1,
                }
            )
        return found

    nodes = []
    for i, node in enumerate(order):
        entry = {
            "name": node.name,
            "short": short_name(node.name),
            "kind": node.kind,
            "op": node.op.name if node.op is not None else None,
            "shape": None if node.shape is None else [d for d in node.shape],
            "dtype": None if node.dtype is None else str(node.dtype),
            "scope": scope_id(scope_of(node.name)),
            "args": [index[p.name] for p in node.args],
        }
        value = None
        if snap is not None and node.name in snap.values:
            value = snap.values[node.name]
        elif node.kind in ("param", "const"):
            value = node.fixed
        entry["value"] = summarise(value)
        if snap is not None and snap.signals is not None:
            entry["signal"] = summarise(snap.signals.get(node.name))
        if other is not None:
            if node.name in snap.values and node.name in other.values:
                entry["value_diff"] = _difference(snap.values[node.name], other.values[node.name])
            if snap.signals is not None:
                a, b = snap.signals.get(node.name), other.signals.get(node.name)
                if a is not None or b is not None:  # no signal is a zero signal
                    entry["diff"] = _difference(a, b)
        for name, values in metric_values.items():
            if i in values:
                entry.setdefault("metrics", {})[name] = values[i]
        nodes.append(entry)

    edges, messages, message_of, message_diffs = [], [], {}, []
    kept = snap.messages if snap is not None and snap.messages is not None else {}
    kept_other = other.messages if other is not None and other.messages is not None else {}
    for j, node in enumerate(order):
        for argnum, parent in enumerate(node.args):
            key = (parent.name, node.name, argnum)
            m = -1
            if key in kept:
                m = message_of[key] = len(messages)
                messages.append(summarise(kept[key]))
                if other is not None:
                    theirs = kept_other.get(key)
                    message_diffs.append(None if theirs is None else _difference(kept[key], theirs))
            edges.append([index[parent.name], j, argnum, m])
    edge_of = {(order[e[0]].name, order[e[1]].name, e[2]): k for k, e in enumerate(edges)}

    _lay_out_scopes(scopes, nodes, edges, rankdir, engine)
    steps, seeds = _steps(snap, index, edge_of)
    # a graph lists its nodes after their arguments: a topological order, also for a loaded run
    forward = [
        i
        for i, node in enumerate(order)
        if node.op is not None and snap is not None and node.name in snap.values
    ]
    return {
        "title": title or f"{len(nodes)} nodes, {len(scopes) - 1} scopes",
        "rankdir": rankdir,
        "nodes": nodes,
        "edges": edges,
        "messages": messages,
        "message_diffs": message_diffs,
        "scopes": scopes,
        "forward": forward,
        "steps": steps,
        "seeds": seeds,
        "has_run": snap is not None,
        "has_signals": snap is not None and snap.signals is not None,
        "has_diff": other is not None,
        "has_signal_diff": other is not None and snap.signals is not None,
        "has_message_diff": any(d is not None for d in message_diffs),
        "metrics": list(metric_values),
        "magnitudes": [
            [None if math.isinf(b) else b, text, fill, font] for b, text, fill, font in MAGNITUDES
        ],
        "zero": list(ZERO),
        "nonfinite": list(NONFINITE),
    }


def _difference(a: Any, b: Any) -> dict[str, Any]:
    """The summary of ``a - b`` (a missing side counts as zero), or of why there is none."""
    a, b = np.asarray(0.0 if a is None else a), np.asarray(0.0 if b is None else b)
    if a.shape != b.shape and a.size != 1 and b.size != 1:
        return {
            "text": f"shapes differ: {a.shape} and {b.shape}",
            "shape": None,
            "dtype": "",
            "absmax": 0.0,
        }
    if a.dtype.kind == "b" and b.dtype.kind == "b":  # NumPy has no boolean minus
        return summarise(a.astype(np.int64) - b.astype(np.int64))
    return summarise(np.subtract(a, b))


def _metrics(metrics, g, index: dict[str, int]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for name, values in (metrics or {}).items():
        if not isinstance(values, Mapping):
            raise GraphError(
                f"mpgraph: explore: metric {name!r} should map nodes to numbers, "
                f"got {type(values).__name__}"
            )
        column = out[str(name)] = {}
        for node, value in values.items():
            node_name = getattr(node, "name", node)
            if node_name not in index:
                raise GraphError(
                    f"mpgraph: explore: metric {name!r} names {node_name!r}, which "
                    "is not a node of this graph"
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise GraphError(
                    f"mpgraph: explore: metric {name!r} at node '{node_name}' is "
                    f"{value!r}; expected a number"
                ) from None
            column[index[node_name]] = _num(number)
    return out


def _box_width(*texts: str) -> float:
    return round(PAD + CHAR * max(len(t) for t in texts), 1)


def _lay_out_scopes(scopes, nodes, edges, rankdir: str, engine: str) -> None:
    """Give every scope ``layout``: its direct nodes and child scopes placed by one layout each."""
    counts = [0] * len(scopes)
    for n in nodes:
        s = n["scope"]
        while s != -1:
            counts[s] += 1
            s = scopes[s]["parent"]
    members: list[list[Box]] = [[] for _ in scopes]
    for k, s in enumerate(scopes):
        s["count"] = counts[k]
        if k:
            label = f"{s['short']}/ ({counts[k]})"
            s["width"], s["height"] = _box_width(label, "…" * 10), round(PAD + 2 * LINE, 1)
            members[s["parent"]].append(Box(f"s{k}", s["width"], s["height"]))
    for i, n in enumerate(nodes):
        texts = [n["short"]] + [
            n[key]["text"][:24] for key in ("value", "signal") if n.get(key) is not None
        ]
        n["width"], n["height"] = (
            _box_width(*texts) + 3 * CHAR,
            round(PAD + 3 * LINE, 1),
        )  # "= ", "∇ "
        members[n["scope"]].append(Box(f"n{i}", n["width"], n["height"]))
    # chain[i]: node i's scopes from the top level down
    chains = []
    for n in nodes:
        chain, s = [], n["scope"]
        while s != -1:
            chain.append(s)
            s = scopes[s]["parent"]
        chains.append(chain[::-1])
    lifted: list[dict[tuple[str, str], None]] = [{} for _ in scopes]
    for u, v, _, _ in edges:
        cu, cv = chains[u], chains[v]
        depth = 0
        while depth + 1 < min(len(cu), len(cv)) and cu[depth + 1] == cv[depth + 1]:
            depth += 1
        at = cu[depth]  # the deepest scope holding both ends
        a = f"n{u}" if len(cu) == depth + 1 else f"s{cu[depth + 1]}"
        b = f"n{v}" if len(cv) == depth + 1 else f"s{cv[depth + 1]}"
        if a != b:
            lifted[at][(a, b)] = None
    layouts = lay_out([(members[k], list(lifted[k])) for k in range(len(scopes))], rankdir, engine)
    for s, layout, boxes in zip(scopes, layouts, members):
        s["layout"] = {
            "width": round(layout.width, 1),
            "height": round(layout.height, 1),
            "engine": layout.engine,
            "items": [[b.key, *layout.centres[b.key]] for b in boxes],
        }


def _steps(snap: Snapshot | None, index, edge_of) -> tuple[list, list]:
    """The backward pass in the order it ran: per step the node that sent and the edges of its
    messages; the seeds are the nodes whose signal no message made."""
    if snap is None or snap.signals is None or snap.messages is None:
        return [], []
    sending: dict[str, list[int]] = {}
    arrived = set()
    for key in snap.messages:  # insertion order is the order the backward pass sent them
        sending.setdefault(key[1], []).append(edge_of[key])
        arrived.add(key[0])
    seeds = [index[n] for n in snap.signals if n not in arrived and n in index]
    return [{"node": index[n], "edges": e} for n, e in sending.items()], seeds
