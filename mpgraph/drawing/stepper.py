"""Watching backprop happen: one picture per step of the backward pass.

The backward pass visits the nodes in reverse topological order. At each step one node has
received every message from its children; their sum is its error signal, and its op turns that
signal into one message per parent. :func:`backward_steps` draws one frame per such step: the
node of the step in yellow, the messages that arrived at it and the ones it sends drawn bold, the
partial sums of the nodes still waiting for messages showing the terms that have arrived so far.
Every frame has the same layout (what is not known yet is inked in the colour of its background), so the
frames can be flipped through like a film: :func:`write_steps` writes them as SVG files. Its HTML
page is the explorer's (:func:`mpgraph.explorer.explore`), which steps through the same pass with
one layout and the steps as numbers.

Examples
--------
>>> import mpgraph as mg
>>> g = mg.Graph()
>>> x, w = g.input("x"), g.param("w", 2.0)
>>> L = mg.ops.multiply(w * x, w, name="L")        # w fans out: w̄ = 2 w x
>>> run = g.forward(L, {"x": 3.0}).backward(keep_messages=True)
>>> frames = list(backward_steps(run))
>>> len(frames), [caption(f) for f in frames][1]
(4, 'step 1 of 2: L sends 2 messages: to multiply_1, to w')
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphviz

from ..engine.snapshot import graph_and_snapshot
from ..errors import GraphError
from .dot import pipe
from .notation import bar, short_name, summary
from .render import Shown, render

__all__ = ["backward_steps", "caption", "write_steps"]


def backward_steps(
    graph: Any, run: Any = None, view: str = "backward", **options: Any
) -> Iterator[graphviz.Digraph]:
    """Yield one picture per step of the backward pass of ``run``.

    The first frame shows the forward values and the seed (``L̄ = 1``); then one frame per node
    that sends messages, in the order it sent them; the last frame shows every error signal.

    Parameters
    ----------
    graph : Graph or Run
    run : Run or Snapshot, optional
        Must have kept its messages: ``run.backward(loss, keep_messages=True)``.
    view : {"backward", "forward", "both"}
    **options
        Passed to :func:`mpgraph.drawing.render` (``rankdir``, ``collapse``, ``focus``, ...).

    Yields
    ------
    graphviz.Digraph
        Its caption (what happens at this step) is in ``frame.caption``.

    Raises
    ------
    GraphError
        The run has no error signals or did not keep its messages.
    """
    g, snap = graph_and_snapshot(graph, run)
    if snap is None or snap.signals is None or snap.messages is None:
        raise GraphError(
            "mpgraph: backward_steps needs the messages of a backward pass: call "
            "run.backward(loss, keep_messages=True) first"
        )
    arriving: dict[str, list[tuple]] = defaultdict(list)
    sending: dict[str, list[tuple]] = defaultdict(list)
    for key in snap.messages:
        arriving[key[0]].append(key)
        sending[key[1]].append(key)
    seeds = {n for n in snap.signals if n not in arriving}
    senders = list(sending)  # insertion order is the order the backward pass sent them
    sent: set[tuple] = set()

    def frame(current: str | None, text: str) -> graphviz.Digraph:
        complete = seeds | {n for n, keys in arriving.items() if all(k in sent for k in keys)}
        dot = render(g, snap, view, shown=Shown(set(sent), complete, current, text), **options)
        dot.caption = text
        return dot

    loss = ", ".join(
        f"{bar(short_name(n), False)} = {summary(snap.signals[n])}" for n in sorted(seeds)
    )
    yield frame(None, f"start: the forward values are known; the seed {loss}")
    for i, node in enumerate(senders, 1):
        got = arriving.get(node, [])
        summed = (
            f"sums the {len(got)} messages from "
            + ", ".join(short_name(k[1]) for k in got)
            + " into its signal; "
            if len(got) > 1
            else ""
        )
        sent.update(sending[node])
        to = ", ".join(f"to {short_name(k[0])}" for k in sending[node])
        n = len(sending[node])
        yield frame(
            node,
            f"step {i} of {len(senders)}: {short_name(node)} {summed}sends "
            f"{n} message{'s' if n > 1 else ''}: {to}",
        )
    yield frame(None, "done: every error signal is the sum of the messages its node received")


def caption(frame: graphviz.Digraph) -> str:
    """What happens in a frame of :func:`backward_steps`."""
    return getattr(frame, "caption", "")


# what write_steps passes on to the explorer's page; the other drawing options shape the SVG frames
_PAGE_OPTIONS = ("rankdir", "title", "engine", "metrics", "compare")


def write_steps(
    graph: Any,
    run: Any = None,
    path: str | os.PathLike = "backprop.html",
    view: str = "backward",
    **options: Any,
) -> Path | list[Path]:
    """Step through the backward pass: one interactive page, or one SVG file per step.

    A ``.html`` path gets the explorer's page (:func:`mpgraph.explorer.explore`) opened at the
    start of the backward pass: one layout, and per step the node that sends and the edges of
    its messages, as numbers; ``step →`` and the arrow keys walk through it. Its size grows with
    the graph, not with the graph times the number of steps. Any other path is a directory,
    filled with the frames of :func:`backward_steps` as SVG files (for slides and documents).

    Parameters
    ----------
    graph : Graph or Run
    run : Run or Snapshot, optional
        Must have kept its messages: ``run.backward(loss, keep_messages=True)``.
    path : str or path
        A ``.html`` file, or a directory for ``step_000.svg``, ``step_001.svg``, ...
    view : {"backward", "forward", "both"}
        The view the page opens in, or the frames' view.
    **options
        For the page: ``rankdir``, ``title``, ``engine``, ``metrics``, ``compare`` (see
        :func:`mpgraph.explorer.explore`). For the frames: those of
        :func:`mpgraph.drawing.render`.

    Returns
    -------
    pathlib.Path or list of pathlib.Path
        The page, or the SVG files in order.

    Raises
    ------
    GraphError
        The run did not keep its messages; a page asked for with an option it does not take.
    mpgraph.drawing.dot.LayoutError
        SVG frames without a layout program on the PATH (see :mod:`mpgraph.drawing.dot`).

    See also
    --------
    mpgraph.explorer.explore : the page, with every other option.

    Examples
    --------
    >>> import os, tempfile, mpgraph as mg
    >>> g = mg.Graph()
    >>> x, w = g.input("x"), g.param("w", 2.0)
    >>> L = mg.ops.multiply(w * x, w, name="L")
    >>> run = g.forward(L, {"x": 3.0}).backward(keep_messages=True)
    >>> page = write_steps(run, path=os.path.join(tempfile.mkdtemp(), "steps.html"))
    >>> page.read_text().split("<script")[0].count("<svg")    # the canvas: no picture per step
    1
    """
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        # The one import from the layer above (declared in pyproject.toml): the page that
        # steps through backprop is the explorer's, so that it holds one layout, not a frame a step.
        from ..explorer.page import explore

        unknown = sorted(set(options) - set(_PAGE_OPTIONS))
        if unknown:
            raise GraphError(
                f"mpgraph: write_steps: the page ({path.name}) takes "
                f"{', '.join(_PAGE_OPTIONS)}; got {', '.join(map(repr, unknown))} (the "
                "options of mpgraph.render apply to SVG frames, written to a directory)"
            )
        explore(graph, run, path, view=view, start="steps", **options)
        return path
    frames = [pipe(f, "svg").decode() for f in backward_steps(graph, run, view, **options)]
    path.mkdir(parents=True, exist_ok=True)
    out = []
    for i, svg in enumerate(frames):
        out.append(path / f"step_{i:03d}.svg")
        out[-1].write_text(svg, encoding="utf-8")
    return out
