"""How a Graph or a Run shows itself in Jupyter: its picture as SVG."""

from __future__ import annotations

from typing import Any

from .dot import LayoutError, pipe
from .render import render

__all__ = ["repr_mimebundle"]


def repr_mimebundle(obj: Any, **options: Any) -> dict[str, str]:
    """What Jupyter shows for a Graph or a Run: its picture as SVG, or text saying what to
    install when no layout program is on the PATH."""
    dot = render(obj, **options)
    try:
        return {"image/svg+xml": pipe(dot, "svg").decode(), "text/plain": repr(obj)}
    except LayoutError as e:
        return {"text/plain": f"{obj!r}\n{e}"}
