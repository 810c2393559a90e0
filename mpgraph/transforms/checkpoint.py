"""``mg.checkpoint``: rematerialise a segment's values in the backward pass instead of keeping
them, as ``jax.checkpoint`` and ``torch.utils.checkpoint``.

A checkpointed function is one node of the graph (a :class:`~mpgraph.transforms.custom.custom_vjp`
whose residuals are its arguments): the forward pass keeps its output only, and its vjp traces
the function again and backpropagates through that copy, whose values are freed as soon as the
segment's messages are out. Peak memory then holds the segments' outputs plus one segment's
values, instead of every value of every segment, at the price of running each segment's
forward twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import functions as ops
from ..engine import trace
from ..engine.node import Node
from .custom import custom_vjp

__all__ = ["checkpoint"]


def checkpoint(fun: Callable) -> Callable:
    """``fun`` as one graph node whose inner values are recomputed in the backward pass.

    Parameters
    ----------
    fun : callable
        ``fun(*arrays) -> array``, written with operators and ``mg.ops``.

    Returns
    -------
    callable
        The same function: on arrays it runs; on graph nodes (inside ``mg.grad`` or on a
        built Graph) it adds one node named after ``fun``.

    Raises
    ------
    MpgraphError
        As ``fun``'s own errors when it is traced again (see :func:`mpgraph.grad`).

    See also
    --------
    mpgraph.custom_vjp

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> block = mg.checkpoint(lambda x, w: mg.ops.tanh(x @ w))
    >>> loss = lambda w, x: mg.ops.sum(block(block(x, w), w))
    >>> w, x = np.eye(2) * 0.5, np.ones((3, 2))
    >>> np.allclose(mg.grad(loss)(w, x), mg.grad(lambda w, x: mg.ops.sum(
    ...     mg.ops.tanh(mg.ops.tanh(x @ w) @ w)))(w, x))
    True
    """
    remat = custom_vjp(fun)

    def fwd(*args: Any) -> tuple:
        return remat(*args), args  # the residuals: the segment's inputs, nothing inside it

    def bwd(args: tuple, g: Any) -> tuple:
        nums = tuple(k for k, a in enumerate(args) if _differentiable(a))
        if not nums:
            return (None,) * len(args)
        # traced afresh and run for its gradients only: each value is freed after its last use
        _, grads = trace.value_and_grad(lambda *a: _weighted_sum(fun(*a), g), nums)(*args)
        out: list = [None] * len(args)
        for k, d in zip(nums, grads):
            out[k] = d
        return tuple(out)

    remat.defvjp(fwd, bwd)
    return remat


def _differentiable(a: Any) -> bool:
    if type(a) is Node:
        return a.dtype is None or a.dtype.kind in "fc"
    return np.asarray(a).dtype.kind in "fc"


def _weighted_sum(out: Any, g: Any) -> Any:
    """<out, g>: the scalar whose gradient is the segment's vjp of ``g``."""
    return ops.sum(ops.multiply(out, g))
