"""Transformations of Python functions: reverse mode (``grad``), forward mode (``jvp``),
Jacobians and Hessians, custom derivatives and checkpointing.

This layer sits above the engine: it traces a function into a Graph and runs the engine's
passes over it. Arguments may be pytrees (:mod:`mpgraph.tree`). See ``docs/transformations.md``.
"""

from .checkpoint import checkpoint
from .custom import custom_jvp, custom_vjp
from .forward import hessian, hvp, jacfwd, jacrev, jvp, linearize
from .reverse import grad, value_and_grad

__all__ = [
    "checkpoint",
    "custom_jvp",
    "custom_vjp",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "value_and_grad",
]
