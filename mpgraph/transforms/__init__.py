"""Transformations of Python functions: reverse mode (``grad``), forward mode (``jvp``),
Jacobians and Hessians, custom derivatives, ``stop_gradient`` and checkpointing.

This layer sits above the engine: it traces a function into a Graph and runs the engine's
passes over it. Arguments may be pytrees (:mod:`mpgraph.tree`). See ``docs/transformations.md``.
"""
from .reverse import grad, value_and_grad

__all__ = ["grad", "value_and_grad"]
