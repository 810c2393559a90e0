"""The annotated graph as data: a NetworkX graph, and GraphML or JSON through NetworkX's writers.

:func:`to_networkx` copies ``g.nx`` with every node's ``kind``, ``op``, ``attrs``, ``shape``,
``dtype`` and ``index``, and, from a run, its ``value`` and ``signal`` (the error signal) as
arrays and each edge's ``message``. The node attributes are the ones
:meth:`Graph.from_networkx <mpgraph.Graph.from_networkx>` reads, so the copy builds the graph
again. :func:`write_graphml` and :func:`write_json` flatten the arrays first (GraphML holds only
scalars and strings; JSON has no arrays and no NaN).

Examples
--------
>>> import mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x")
>>> y = mg.ops.multiply(x, x, name="y")
>>> G = to_networkx(g.forward(y, {"x": 3.0}).backward(keep_messages=True))
>>> float(G.nodes["x"]["signal"]), float(G.edges["x", "y", 1]["message"])
(6.0, 3.0)
>>> mg.Graph.from_networkx(G)["y"].op.name
'multiply'
"""

from __future__ import annotations

import json
import os
from typing import Any

import networkx as nx
import numpy as np

from ..backend import to_numpy
from ..drawing.notation import summary
from ..engine.snapshot import graph_and_snapshot

__all__ = ["flat", "to_networkx", "write_graphml", "write_json"]


def to_networkx(graph: Any, run: Any = None) -> nx.MultiDiGraph:
    """A NetworkX copy of ``graph`` annotated with what ``run`` computed.

    Parameters
    ----------
    graph : Graph or Run
    run : Run or Snapshot, optional

    Returns
    -------
    networkx.MultiDiGraph
        Keyed by node name; edges keyed by ``argnum``. Node attributes: ``kind``, ``op`` (name
        or None), ``attrs``, ``shape``, ``dtype``, ``index``, and where known ``value`` and
        ``signal``; edge attributes: ``argnum`` and, where kept, ``message``.
    """
    g, snap = graph_and_snapshot(graph, run)
    G = nx.MultiDiGraph()
    for node in g:
        data: dict[str, Any] = {
            "kind": node.kind,
            "op": node.op.name if node.op else None,
            "attrs": dict(node.attrs),
            "shape": node.shape,
            "dtype": node.dtype,
            "index": node.index,
        }
        if snap is not None and node.name in snap.values:
            data["value"] = snap.values[node.name]
        elif node.kind in ("param", "const"):
            data["value"] = to_numpy(node.fixed)  # a device array is copied to the host
        if snap is not None and snap.signals and node.name in snap.signals:
            data["signal"] = snap.signals[node.name]
        G.add_node(node.name, **data)
    for p, c, k in g.nx.edges(keys=True):
        data = {"argnum": k}
        if snap is not None and snap.messages and (p, c, k) in snap.messages:
            data["message"] = snap.messages[(p, c, k)]
        G.add_edge(p, c, key=k, **data)
    return G


def flat(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy of an annotated graph with only strings, numbers and booleans as attributes.

    A real scalar value, signal or message becomes a float; any other array becomes JSON text
    of its entries (NaN and Inf as the strings ``"nan"``, ``"inf"``); each gets a
    ``*_summary`` beside it. ``attrs`` becomes its ``repr``; ``shape``, ``dtype`` and ``op``
    become strings (empty when unknown).
    """
    H = nx.MultiDiGraph()
    for n, data in G.nodes(data=True):
        H.add_node(n, **_flat_attrs(data))
    for p, c, k, data in G.edges(keys=True, data=True):
        H.add_edge(p, c, key=k, **_flat_attrs(data))
    return H


def _flat_attrs(data: dict) -> dict:
    out = {}
    for key, v in data.items():
        if key in ("value", "signal", "message"):
            a = np.asarray(v)
            out[f"{key}_summary"] = summary(a)
            if a.size == 1 and a.dtype.kind in "biuf":
                out[key] = float(a.reshape(()))
            else:
                out[key] = json.dumps(_listed(a))
        elif key == "attrs":
            out[key] = repr(v)
        elif key in ("shape", "dtype"):
            out[key] = "" if v is None else str(v)
        elif key == "op":
            out[key] = v or ""
        else:
            out[key] = v
    return out


def _listed(a: np.ndarray) -> Any:
    """Nested lists of the entries, with NaN and Inf as strings (JSON has neither)."""
    return _finite(a.tolist() if a.dtype.kind != "c" else [a.real.tolist(), a.imag.tolist()])


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    return x


def write_graphml(graph: Any, path: str | os.PathLike, run: Any = None) -> None:
    """Write the annotated graph as GraphML with ``networkx.write_graphml``."""
    nx.write_graphml(flat(to_networkx(graph, run)), path)


def write_json(graph: Any, path: str | os.PathLike, run: Any = None) -> None:
    """Write the annotated graph as node-link JSON (``networkx.node_link_data``)."""
    data = nx.node_link_data(flat(to_networkx(graph, run)), edges="edges")
    with open(path, "w") as f:
        json.dump(_finite(data), f, indent=1, ensure_ascii=False, allow_nan=False)
        f.write("\n")
