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
from ..tree import tree_flatten, tree_unflatten
from .custom import custom_vjp

__all__ = ["checkpoint"]


def checkpoint(fun: Callable) -> Callable:
    """``fun`` as one graph node whose inner values are recomputed in the backward pass.

    Parameters
    ----------
    fun : callable
        ``fun(*args) -> output``, written with operators and ``mg.ops``; the arguments and
        the output are arrays or pytrees of them (nested dicts, lists, tuples, namedtuples).

    Returns
    -------
    callable
        The same function: on arrays it runs; on graph nodes (inside ``mg.grad`` or on a
        built Graph) it adds one node named after ``fun``, whose inside
        (:func:`mpgraph.transforms.custom.inside`) pictures draw when it is expanded.

    Raises
    ------
    MpgraphError
        An argument or output leaf that is not a real array; as ``fun``'s own errors when it
        is traced again (see :func:`mpgraph.grad`).

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

    A layer's parameters as a dict:

    >>> layer = mg.checkpoint(lambda p, x: mg.ops.tanh(x @ p["w"] + p["b"]))
    >>> p = {"w": np.eye(2), "b": np.zeros(2)}
    >>> sorted(mg.grad(lambda p: mg.ops.sum(layer(p, x)))(p))
    ['b', 'w']
    """
    remat = custom_vjp(fun)
    remat.kind = "checkpoint"  # named so in messages and pictures

    def fwd(*args: Any) -> tuple:
        return remat(*args), args  # the residuals: the segment's inputs, nothing inside it

    def bwd(args: tuple, g: Any) -> tuple:
        leaves, in_def = tree_flatten(args)
        nums = tuple(i for i, a in enumerate(leaves) if _differentiable(a))
        per_leaf: list = [None] * len(leaves)
        if nums:
            # traced afresh and run for its gradients only: each value is freed after its
            # last use
            segment = lambda *flat: _weighted_sum(fun(*tree_unflatten(in_def, flat)), g)  # noqa: E731
            _, grads = trace.value_and_grad(segment, nums)(*leaves)
            for i, d in zip(nums, grads):
                per_leaf[i] = d
        return tree_unflatten(in_def, per_leaf)

    remat.defvjp(fwd, bwd)
    return remat


def _differentiable(a: Any) -> bool:
    if type(a) is Node:
        return a.dtype is None or a.dtype.kind in "fc"
    return np.asarray(a).dtype.kind in "fc"


def _weighted_sum(out: Any, g: Any) -> Any:
    """<out, g> over the output's leaves: the scalar whose gradient is the segment's vjp of
    ``g``."""
    total: Any = 0.0
    for o, gi in zip(tree_flatten(out)[0], tree_flatten(g)[0]):
        if type(o) is Node:
            total = total + ops.sum(ops.multiply(o, gi))
    return total
