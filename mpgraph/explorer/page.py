"""The explorer page: one self-contained HTML file (the data as JSON, the JavaScript and the CSS
inline; nothing is fetched from the network), shown inline in Jupyter too.

Examples
--------
>>> import os, tempfile, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x")
>>> y = mg.ops.multiply(x, x, name="y")
>>> run = g.forward(y, {"x": 3.0}).backward(keep_messages=True)
>>> page = explore(g, run, path=os.path.join(tempfile.mkdtemp(), "y.html"))
>>> page.path.name, "<script" in page.html and "http://" not in page.html.replace(SVGNS, "")
('y.html', True)
"""

from __future__ import annotations

import html as html_lib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import GraphError
from .data import explorer_data

__all__ = ["SVGNS", "Page", "explore", "page_html"]

SVGNS = "http://www.w3.org/2000/svg"  # a name, not an address: the page loads nothing


class Page:
    """An explorer page: its HTML, and the file it was written to (if any).

    In Jupyter it shows itself inline (in an ``iframe``, so that its script and style stay
    its own).

    Attributes
    ----------
    html : str
    path : pathlib.Path or None
    data : dict
        What the page shows (see :func:`mpgraph.explorer.data.explorer_data`).
    """

    def __init__(self, html: str, data: dict[str, Any], path: Path | None = None) -> None:
        self.html, self.data, self.path = html, data, path

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html_lib.escape(self.html, quote=True)}" width="100%" '
            'height="640" style="border: 1px solid #ccc"></iframe>'
        )

    def __repr__(self) -> str:
        where = f" written to {self.path}" if self.path else ""
        return f"<explorer page of {len(self.data['nodes'])} nodes{where}>"


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def page_html(data: dict[str, Any]) -> str:
    """The page for ``data`` (from :func:`~mpgraph.explorer.data.explorer_data`), as one string.

    Examples
    --------
    >>> import mpgraph as mg
    >>> from mpgraph.explorer.data import explorer_data
    >>> g = mg.Graph()
    >>> y = mg.ops.exp(g.input("x"), name="y")
    >>> page_html(explorer_data(g, engine="layered")).startswith("<!DOCTYPE html>")
    True
    """
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    payload = payload.replace("</", "<\\/")  # a name holding "</script>" must not end the block
    title = html_lib.escape(data["title"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mpgraph explorer: {title}</title>
<style>{_asset("explorer.css")}</style></head>
<body><div id="app">
<header id="bar"><h1>{title}</h1>
<span id="search-box"><input id="search" type="search" placeholder="search a node by name" autocomplete="off"><ul id="results"></ul></span>
<label>view <select id="view"><option value="forward">forward</option><option value="backward">backward</option><option value="both">both</option></select></label>
<label>colour by <select id="colour"></select></label>
<label id="compare-box" hidden>compare <select id="compare"><option value="value">&Delta; values</option><option value="signal">&Delta; error signals</option><option value="message">&Delta; messages</option></select></label>
<span id="steps"><select id="step-pass" title="the pass to step through"><option value="forward">forward pass</option><option value="backward">backprop</option></select> <button id="step-start" title="the start of the pass">start</button><button id="step-prev" title="previous step (&larr;)">&larr; step</button><button id="step-next" title="next step (&rarr;)">step &rarr;</button><button id="step-end" title="stop stepping: show every value and signal">all</button>
<span id="step-count"></span> <span id="step-caption"></span></span>
<span><button id="expand-all">expand all</button><button id="collapse-all">collapse all</button><button id="zoom-in">+</button><button id="zoom-out">&minus;</button><button id="fit">fit</button></span>
</header>
<main><svg id="canvas" xmlns="{SVGNS}"><g id="viewport"></g></svg><aside id="panel"><p class="muted">Click a node to see its value, its error signal and its messages; click a scope to expand it.</p></aside></main>
<footer id="legend"></footer></div>
<script type="application/json" id="mpgraph-data">{payload}</script>
<script>{_asset("explorer.js")}</script>
</body></html>
"""


def explore(
    graph: Any,
    run: Any = None,
    path: str | os.PathLike | None = None,
    *,
    compare: Any = None,
    metrics: dict[str, dict[Any, float]] | None = None,
    title: str | None = None,
    rankdir: str = "LR",
    engine: str = "auto",
    view: str | None = None,
    start: str = "overview",
) -> Page:
    """An interactive page for exploring ``graph`` and what ``run`` computed, at any size.

    Each scope is laid out by Graphviz once (see :mod:`mpgraph.explorer.layout`) and starts
    collapsed to one box (graphs of at most 60 nodes start expanded); click a scope to expand
    it, a node to see its value and error signal (statistics, a histogram, the entries of a
    small array), the messages it received and how its signal is their sum, and the messages it
    sent. Search by name, switch the forward, backward and both views, colour by ``|signal|``,
    ``|value|``, a metric or the difference from another run, step through the forward pass
    one op at a time in topological order, and through the backward pass one
    reverse-topological step at a time.

    Parameters
    ----------
    graph : Graph or Run
    run : Run or Snapshot, optional
        For stepping through the backward pass it must keep its messages:
        ``run.backward(loss, keep_messages=True)``.
    path : str or path, optional
        Write the page there (one ``.html`` file that needs no network to open).
    compare : Run or Snapshot, optional
        Another run of the same graph: the page shows, per node, the difference of the values
        and (both runs backpropagated) of the error signals, and per edge of the messages
        (both kept); a switch chooses which one the colours and the edge labels show.
    metrics : dict, optional
        ``{name: {node or node name: number}}``, more numbers to colour nodes by.
    title : str, optional
    rankdir : {"LR", "TB"}
    engine : {"auto", "dot", "layered"}
        Graphviz's dot where it is on the PATH (``"auto"``), or the layered layout built in.
    view : {"forward", "backward", "both"}, optional
        The view the page opens in; default ``"both"`` when the run has error signals.
    start : {"overview", "steps", "forward"}
        ``"steps"`` opens the page at the start of the backward pass, ready to step through it
        (what ``mpgraph render --format html`` and ``write_steps`` write); ``"forward"`` at the
        start of the forward pass, whose steps compute the ops' values in topological order.

    Returns
    -------
    Page
        ``page.html``, ``page.path``; it shows itself inline in Jupyter.

    Raises
    ------
    GraphError
        A run of another graph, a bad metric, a ``compare`` run without error signals, an
        unknown ``view`` or ``start``, ``start="steps"`` without kept messages,
        ``start="forward"`` without a run.
    mpgraph.LayoutError
        ``engine="dot"`` without Graphviz.

    See also
    --------
    mpgraph.render : a static picture of a graph.
    mpgraph.drawing.stepper.write_steps : this page opened at the first step, or one SVG per step.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(3,))
    >>> with g.scope("layer1"):
    ...     h = mg.ops.tanh(g.param("W", np.eye(3)) @ x, name="h")
    >>> L = mg.ops.sum(h, name="L")
    >>> run = g.forward(L, {"x": np.ones(3)}).backward(keep_messages=True)
    >>> page = mg.explore(g, run, metrics={"depth": {"x": 0, "layer1/h": 1}})
    >>> page.data["nodes"][-1]["value"]["text"], len(page.data["steps"])
    ('2.285', 3)
    """
    if view not in (None, "forward", "backward", "both"):
        raise GraphError(
            f"mpgraph: explore: view {view!r}; expected 'forward', 'backward' or 'both'"
        )
    if start not in ("overview", "steps", "forward"):
        raise GraphError(
            f"mpgraph: explore: start {start!r}; expected 'overview', 'steps' or 'forward'"
        )
    data = explorer_data(
        graph, run, compare=compare, metrics=metrics, title=title, rankdir=rankdir, engine=engine
    )
    if start == "steps" and not data["steps"]:
        raise GraphError(
            "mpgraph: explore: stepping through the backward pass needs its "
            "messages: call run.backward(loss, keep_messages=True) first"
        )
    if start == "forward" and not data["forward"]:
        raise GraphError(
            "mpgraph: explore: stepping through the forward pass needs a run: "
            "mg.explore(graph, graph.forward(...), start='forward')"
        )
    data["view"], data["start"] = view, start
    text = page_html(data)
    written = None
    if path is not None:
        written = Path(path)
        written.write_text(text, encoding="utf-8")
    return Page(text, data, written)
