"""The tracer under ``mg.grad``: differentiate a Python function of arrays.

:mod:`mpgraph.transforms.reverse` (``mg.grad``, ``mg.value_and_grad``) adds pytrees of
arguments on top of :func:`value_and_grad` here. The function is traced into a fresh Graph (its differentiated arguments become inputs, so the
function sees node handles), run forward, and backpropagated, as in HIPS autograd and JAX.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..backend import as_array
from ..errors import MpgraphError
from .graph import Graph, zero_gradient
from .node import Node, first_node, holds_nodes
from .symbolic import gradients

__all__ = ["current_trace", "tracing", "value_and_grad"]


# The graph being traced by an enclosing mg.grad in this thread (or task), if any.
_tracing: contextvars.ContextVar = contextvars.ContextVar("mpgraph_tracing", default=None)


@contextlib.contextmanager
def tracing(graph: Graph):
    """Within the block, ``graph`` is the graph being traced: an ``mg.grad`` called inside
    builds its gradient as nodes of it (how the transformations in ``mpgraph.transforms``
    trace a function)."""
    token = _tracing.set(graph)
    try:
        yield graph
    finally:
        _tracing.reset(token)


def current_trace() -> Graph | None:
    """The graph an enclosing transformation is tracing in this thread or task, if any."""
    return _tracing.get()


def value_and_grad(
    fn: Callable,
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    names: Sequence[str] | None = None,
) -> Callable:
    """Return a function that computes ``(fn(*args), gradient)``.

    Parameters
    ----------
    fn : callable
        A function of arrays written with operators and ``mg.ops``, returning a scalar.
    argnums : int or tuple of int
        Which positional arguments to differentiate; with a tuple, the gradient is a tuple.
    has_aux : bool
        ``fn`` returns ``(loss, aux)``; ``aux`` (anything) is passed through, as in JAX:
        the result is then ``((value, aux), gradient)``.
    names : sequence of str, optional
        The input nodes' names, one per argnum (``arg0``, ``arg1``, ... by default); errors and
        pictures name the arguments by them (``mg.grad`` passes a pytree leaf's path).

    Returns
    -------
    callable
        ``f(*args, **kwargs) -> (value, gradient)``; gradients have their argument's shape and
        float dtype.

    Raises
    ------
    MpgraphError
        ``fn`` returns a non-scalar, something that is neither a number nor a graph node (a
        tuple, say: use ``has_aux``), or a differentiated argument is not a float array.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> f = mg.value_and_grad(lambda x: mg.ops.sum(x ** 2))
    >>> value, dx = f(np.array([1.0, 2.0]))
    >>> float(value), dx
    (5.0, array([2., 4.]))
    """
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any):
        for k in nums:
            if not -len(args) <= k < len(args):
                raise MpgraphError(
                    f"mpgraph: argnums {argnums} asks for argument {k}, but "
                    f"{_name(fn)} got {len(args)}"
                )
        outer = next((a.graph for a in args if type(a) is Node), None) or _tracing.get()
        if outer is not None:  # inside another trace: build the gradient as nodes of its graph
            args = list(args)
            with outer.scope("grad"):
                for k in nums:  # a fresh variable per argument, so that an outer node the
                    # function also closes over is not differentiated as if it were the argument
                    args[k] = outer.apply(
                        "add", [args[k] if type(args[k]) is Node else outer.constant(args[k]), 0.0]
                    )
            nodes = [args[k] for k in nums]
            out, aux = _loss(fn, fn(*args, **kwargs), has_aux)
            value, grads = (
                out,
                gradients(out, nodes)
                if type(out) is Node
                else [nodes[0].graph.constant(zero_gradient(n)) for n in nodes],
            )
        else:
            value, grads, aux = _numeric(fn, args, kwargs, nums, has_aux, names)
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, aux), grads) if has_aux else (value, grads)

    return wrapped


def _numeric(
    fn: Callable,
    args: tuple,
    kwargs: dict,
    nums: tuple[int, ...],
    has_aux: bool,
    names: Sequence[str] | None,
):
    """Trace ``fn`` into a new graph, run it and backpropagate: values and NumPy gradients."""
    g = Graph(throwaway=True)
    traced = list(args)
    inputs = []
    for j, k in enumerate(nums):
        if isinstance(args[k], (dict, list, tuple)):
            raise MpgraphError(
                f"mpgraph: argument {k} of {_name(fn)} is a {type(args[k]).__name__}; mg.grad "
                "differentiates float arrays: pass the arrays as separate arguments with "
                "argnums=(0, 1, ...), or flatten a pytree of them with mg.tree.tree_flatten"
            )
        try:
            # an array of another library (CuPy, Dask) stays there: the run follows it
            arr = as_array(args[k])
        except ValueError as e:
            raise MpgraphError(
                f"mpgraph: argument {k} of {_name(fn)} is not an array: {e}"
            ) from None
        if arr.dtype.kind == "c":
            raise MpgraphError(
                f"mpgraph: argument {k} is complex; mpgraph differentiates real functions only"
            )
        if arr.dtype.kind not in "fc":
            raise MpgraphError(
                f"mpgraph: argument {k} has dtype {arr.dtype}: only float "
                "arguments can be differentiated (pass e.g. 1.0, not 1)"
            )
        name = names[j] if names is not None else f"arg{k % len(args)}"
        traced[k] = g.input(name, shape=tuple(arr.shape), dtype=arr.dtype)
        inputs.append((traced[k], arr))
    token = _tracing.set(g)  # an mg.grad inside fn builds on this graph, closures included
    try:
        out, aux = _loss(fn, fn(*traced, **kwargs), has_aux)
    finally:
        _tracing.reset(token)
    if type(out) is not Node:  # the output does not depend on the arguments
        return out, [np.zeros_like(arr) for _, arr in inputs], _evaluate(aux, None)
    aux_nodes = [a for a in _leaves(aux) if type(a) is Node]
    run, grads = g.gradient_run(
        out,
        [node for node, _ in inputs],
        {node: arr for node, arr in inputs},
        strict=False,
        keep=aux_nodes,
    )
    return run[out], grads, _evaluate(aux, run)


def _leaves(tree: Any) -> list:
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    if isinstance(tree, dict):
        return [leaf for item in tree.values() for leaf in _leaves(item)]
    return [tree]


def _evaluate(tree: Any, run) -> Any:
    """``aux`` with its graph nodes replaced by their values in ``run``."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(_evaluate(item, run) for item in tree)
    if isinstance(tree, dict):
        return {key: _evaluate(item, run) for key, item in tree.items()}
    return run[tree] if type(tree) is Node and run is not None else tree


def _loss(fn: Callable, out: Any, has_aux: bool) -> tuple[Any, Any]:
    """Split off ``aux`` and check that what is left is a scalar loss."""
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise MpgraphError(
                f"mpgraph: with has_aux=True, {_name(fn)} must return "
                f"(loss, aux); it returned {type(out).__name__}"
            )
        out, aux = out
    if isinstance(out, np.ndarray) and holds_nodes(out):  # np.array([x, y]): an array node
        out = first_node(out).graph.array(out)
    if type(out) is Node:
        if out.shape not in ((), None):
            raise MpgraphError(
                f"mpgraph: {_name(fn)} must return a scalar to be "
                f"differentiated; it returned shape {out.shape}"
            )
    elif not _is_number(out):
        raise MpgraphError(
            f"mpgraph: {_name(fn)} must return a scalar loss to be "
            f"differentiated; it returned {type(out).__name__}"
            + (
                " (to return more, use has_aux=True and return (loss, aux))"
                if isinstance(out, (tuple, list, dict))
                else ""
            )
        )
    return out, aux


def _is_number(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return x.ndim == 0 and x.dtype.kind in "biufc"
    return isinstance(x, (int, float, complex, np.number, np.bool_))


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", "the function")
