"""Turning DOT source into an image: Graphviz's ``dot``, or ``graphviz-pure`` where there is no dot.

mpgraph builds pictures as DOT source (a ``graphviz.Digraph``), which needs nothing installed.
Laying the source out as SVG, PNG or PDF needs a layout program. mpgraph looks on the ``PATH``
for, in order:

1. ``dot``, from Graphviz (``apt-get install graphviz``, ``brew install graphviz``,
   ``conda install graphviz``): every format.
2. ``graphviz-pure``, a self-contained port of dot (``pip install graphviz-pure``, or
   ``pip install 'mpgraph[pure]'``): SVG and PNG, no PDF.

With neither, :func:`pipe` raises :class:`LayoutError` saying how to install one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import LayoutError

__all__ = ["FORMATS", "INSTALL", "PROGRAMS", "layout_program", "pipe", "write"]

PROGRAMS = ("dot", "graphviz-pure")
FORMATS = {"dot": ("svg", "png", "pdf"), "graphviz-pure": ("svg", "png")}

INSTALL = (
    "install Graphviz (apt-get install graphviz, brew install graphviz, "
    "conda install graphviz, or https://graphviz.org/download/), "
    "or pip install graphviz-pure for SVG and PNG"
)


def layout_program(format: str = "svg") -> tuple[str, str] | None:
    """The first program on the ``PATH`` that can lay out ``format``, as ``(name, path)``.

    Examples
    --------
    >>> layout_program("svg")[0] in PROGRAMS
    True
    """
    for name in PROGRAMS:
        path = shutil.which(name)
        if path and format in FORMATS[name]:
            return name, path
    return None


def pipe(source: Any, format: str = "svg") -> bytes:
    """Lay out DOT ``source`` (a string or a ``graphviz`` graph) as ``format`` and return the bytes.

    Raises
    ------
    LayoutError
        An unknown format, no layout program for it on the ``PATH``, or the program failed.

    Examples
    --------
    >>> pipe("digraph { a -> b }")[:5]
    b'<?xml'
    """
    if format not in FORMATS["dot"]:
        raise LayoutError(
            f"mpgraph: cannot draw format {format!r}; expected one of {', '.join(FORMATS['dot'])}"
        )
    found = layout_program(format)
    if found is None:
        others = [n for n in PROGRAMS if shutil.which(n)]
        why = (
            f"{others[0]} is on the PATH but cannot write {format}"
            if others
            else "no Graphviz 'dot' (nor graphviz-pure) is on the PATH"
        )
        raise LayoutError(
            f"mpgraph: cannot lay out the picture as {format}: {why}; {INSTALL}. "
            "The DOT source (.source) needs no layout program."
        )
    name, path = found
    text = source if isinstance(source, str) else source.source
    done = subprocess.run(
        [path, f"-T{format}"],
        input=text.encode(),
        capture_output=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    if done.returncode != 0:
        raise LayoutError(
            f"mpgraph: {name} failed ({done.returncode}) laying out the picture as "
            f"{format}: {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def write(source: Any, path: str | os.PathLike, format: str | None = None) -> Path:
    """Lay out ``source`` and write the image to ``path``; ``format`` defaults to its suffix.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    format = format or path.suffix.lstrip(".").lower() or "svg"
    path.write_bytes(pipe(source, format))
    return path
