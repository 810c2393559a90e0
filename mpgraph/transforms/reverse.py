"""Reverse mode on functions: ``mg.grad`` and ``mg.value_and_grad`` over pytrees.

The engine (:mod:`mpgraph.engine.trace`) differentiates a function of arrays. Here the
arguments named by ``argnums`` may be pytrees (``{"layer1": {"w": ..., "b": ...}}``): they are
flattened to leaves, the function of the leaves is differentiated, and the gradients come back
in the arguments' structures, as in JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..engine import trace
from .arguments import FlatArgs

__all__ = ["grad", "value_and_grad"]


def value_and_grad(
    fn: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False
) -> Callable:
    """Return a function that computes ``(fn(*args), gradient)``.

    Parameters
    ----------
    fn : callable
        A function written with operators and ``mg.ops``, returning a scalar.
    argnums : int or tuple of int
        Which positional arguments to differentiate; with a tuple, the gradient is a tuple.
        Each may be a float array or number, or nested dicts, lists, tuples and namedtuples
        of them (a pytree); its gradient has the same structure.
    has_aux : bool
        ``fn`` returns ``(loss, aux)``; ``aux`` (anything) is passed through, as in JAX:
        the result is then ``((value, aux), gradient)``.

    Returns
    -------
    callable
        ``f(*args, **kwargs) -> (value, gradient)``; each gradient leaf has its argument
        leaf's shape and float dtype.

    Raises
    ------
    MpgraphError
        ``fn`` returns a non-scalar or something that is neither a number nor a graph node
        (a tuple, say: use ``has_aux``); a differentiated leaf is not a float array (named by
        its path, e.g. ``argument 0 leaf ['layer1']['w']``); an argnum is out of range.

    See also
    --------
    grad, mpgraph.jacrev, mpgraph.gradients

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> f = mg.value_and_grad(lambda x: mg.ops.sum(x ** 2))
    >>> value, dx = f(np.array([1.0, 2.0]))
    >>> float(value), dx
    (5.0, array([2., 4.]))
    >>> params = {"w": np.array([1.0, 2.0]), "b": 0.5}
    >>> loss = lambda p, x: mg.ops.sum((p["w"] * x + p["b"]) ** 2)
    >>> mg.grad(loss)(params, np.array([1.0, -1.0]))
    {'b': array(0.), 'w': array([3., 3.])}
    """

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any):
        flat = FlatArgs(fn, args, argnums)
        inner = trace.value_and_grad(
            flat.function(kwargs), flat.leaf_argnums, has_aux=has_aux, names=flat.leaf_names
        )
        value, grads = inner(*flat.flat)
        return value, flat.regroup(grads)

    return wrapped


def grad(fn: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False) -> Callable:
    """Return a function that computes the gradient of scalar ``fn`` (see
    :func:`value_and_grad`); with ``has_aux``, ``(gradient, aux)``.

    Parameters
    ----------
    fn : callable
        Returns a scalar (or ``(scalar, aux)`` with ``has_aux``).
    argnums : int or tuple of int
        The arguments (pytrees of float arrays) to differentiate.
    has_aux : bool
        ``fn`` returns ``(loss, aux)``.

    Returns
    -------
    callable
        ``f(*args, **kwargs) -> gradient``, in the structure of the argument(s).

    Raises
    ------
    MpgraphError
        As :func:`value_and_grad`.

    See also
    --------
    value_and_grad, mpgraph.hessian, mpgraph.jvp

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> dtanh = mg.grad(mg.ops.tanh)
    >>> round(float(dtanh(0.5)), 6)   # 1 - tanh(0.5)^2
    0.786448
    >>> round(float(mg.grad(mg.grad(mg.ops.tanh))(0.5)), 6)   # nesting: -2 tanh (1 - tanh^2)
    -0.726862
    """
    vg = value_and_grad(fn, argnums, has_aux=has_aux)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any):
        if has_aux:
            (_, aux), grads = vg(*args, **kwargs)
            return grads, aux
        return vg(*args, **kwargs)[1]

    return wrapped
