"""The ``mpgraph`` command line (also ``python -m mpgraph``)."""

from .main import main

__all__ = ["main"]
