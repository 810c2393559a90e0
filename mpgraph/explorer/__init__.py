"""The explorer: an interactive page for graphs of any size (see :func:`explore`).

``mg.explore`` is this package's :func:`~mpgraph.explorer.page.explore`, imported on first use.
"""

from .page import Page, explore

__all__ = ["Page", "explore"]
