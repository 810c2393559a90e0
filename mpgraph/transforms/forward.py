"""Forward mode and Jacobians of functions, with JAX's signatures: ``jvp``, ``linearize``,
``jacfwd``, ``jacrev``, ``hessian`` and ``hvp``.

Each traces the function once into a Graph (:class:`~mpgraph.transforms.traced.Traced`) and
runs it forward; forward mode then pushes tangent messages along the edges (``run.jvp``),
reverse mode pulls error signals back (``run.backward``). Arguments and outputs may be pytrees.
``hessian`` and ``hvp`` are forward over reverse: the gradient is built as graph nodes (as a
nested ``mg.grad`` does) and tangents are pushed through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MpgraphError
from .nested import NestedTrace, enclosing_graph
from .reverse import grad
from .traced import Traced

__all__ = ["hessian", "hvp", "jacfwd", "jacrev", "jvp", "linearize"]


def _all(n: int) -> tuple[int, ...]:
    return tuple(range(n))


def jvp(
    fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], *, has_aux: bool = False
) -> tuple:
    """Forward mode: ``fun``'s output and its Jacobian-vector product at ``primals``.

    Parameters
    ----------
    fun : callable
        A function of arrays (pytrees of them) written with operators and ``mg.ops``.
    primals : tuple
        The arguments, each a float array or a pytree of them.
    tangents : tuple
        One tangent per primal, of the same structure and shapes.
    has_aux : bool
        ``fun`` returns ``(out, aux)``; then the result is ``(out, tangent_out, aux)``.

    Returns
    -------
    (out, tangent_out)
        ``tangent_out`` is ``J v`` in the structure of ``out``.

    Raises
    ------
    MpgraphError
        ``primals`` or ``tangents`` is not a tuple or list, their structures or shapes
        differ, or a leaf is not a float array; called on graph nodes.
    GraphError
        An op on the way has neither a jvp rule nor a differentiable vjp.

    See also
    --------
    linearize, jacfwd, mpgraph.Run.jvp

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> out, t = mg.jvp(lambda x: mg.ops.sin(x) * x, (np.array([0.0, 1.0]),), (np.ones(2),))
    >>> t                                   # (cos x) x + sin x
    array([0.        , 1.38177329])
    """
    for what, seq in (("primals", primals), ("tangents", tangents)):
        if not isinstance(seq, (tuple, list)):
            raise MpgraphError(
                f"mpgraph: jvp takes {what} as a tuple (one entry per argument), "
                f"got {type(seq).__name__}"
            )
    graph = enclosing_graph((*primals, *tangents))
    if graph is not None:  # inside a trace: the tangent built as nodes, to differentiate
        nt = NestedTrace(graph, fun, tuple(primals), {}, _all(len(primals)), has_aux, "jvp")
        out, t = nt.outputs(), nt.tangents(nt.input_tangents(tuple(tangents)))
        return (out, t, nt.aux) if has_aux else (out, t)
    tr = Traced(fun, tuple(primals), {}, _all(len(primals)), has_aux, "jvp")
    out, t = tr.outputs(), tr.output_tangents(tr.input_tangents(tuple(tangents)))
    return (out, t, tr.aux) if has_aux else (out, t)


def linearize(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``fun``'s output at ``primals`` and its linear map ``v -> J v``, traced and run once.

    Parameters
    ----------
    fun : callable
        A function of arrays (pytrees of them).
    *primals
        The arguments.
    has_aux : bool
        ``fun`` returns ``(out, aux)``; then the result is ``(out, f_jvp, aux)``.

    Returns
    -------
    (out, f_jvp)
        ``f_jvp(*tangents)``: one tangent per primal; each call is one tangent pass over the
        run, without tracing or running ``fun`` again.

    Raises
    ------
    MpgraphError
        As :func:`jvp`.

    See also
    --------
    jvp, jacfwd

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> y, f_jvp = mg.linearize(lambda x: x ** 3, 2.0)
    >>> float(y), float(f_jvp(1.0)), float(f_jvp(0.5))     # 3 x^2 v
    (8.0, 12.0, 6.0)
    """
    graph = enclosing_graph(primals)
    if graph is not None:  # inside a trace: each call builds the tangent as nodes
        nt = NestedTrace(graph, fun, primals, {}, _all(len(primals)), has_aux, "linearize")

        def f_jvp(*tangents: Any) -> Any:
            return nt.tangents(nt.input_tangents(tangents))

        out = nt.outputs()
        return (out, f_jvp, nt.aux) if has_aux else (out, f_jvp)
    tr = Traced(fun, primals, {}, _all(len(primals)), has_aux, "linearize")

    def f_jvp(*tangents: Any) -> Any:
        return tr.output_tangents(tr.input_tangents(tangents))

    out = tr.outputs()
    return (out, f_jvp, tr.aux) if has_aux else (out, f_jvp)


def _jacobian(fun: Callable, argnums, has_aux: bool, mode: str, name: str) -> Callable:
    @functools.wraps(fun)
    def jac(*args: Any, **kwargs: Any) -> Any:
        graph = enclosing_graph(args)
        tr = (
            Traced(fun, args, kwargs, argnums, has_aux, name)
            if graph is None
            else NestedTrace(graph, fun, args, kwargs, argnums, has_aux, name)
        )
        out = tr.jacobian(mode)
        return (out, tr.aux) if has_aux else out

    return jac


def jacfwd(fun: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False) -> Callable:
    """The Jacobian of ``fun`` by forward mode: one tangent pass per input element.

    Parameters
    ----------
    fun : callable
        A function of arrays (pytrees of them), returning a pytree of arrays.
    argnums : int or tuple of int
        The arguments to differentiate.
    has_aux : bool
        ``fun`` returns ``(out, aux)``; the result is then ``(jacobian, aux)``.

    Returns
    -------
    callable
        ``jac(*args, **kwargs)``: for each output leaf (in the output's structure), for each
        argument leaf (in the arguments' structure), an array of shape
        ``out_leaf.shape + arg_leaf.shape``, as JAX's.

    Raises
    ------
    MpgraphError
        As :func:`jvp`.

    See also
    --------
    jacrev, hessian

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> mg.jacfwd(lambda x: x[::-1] * x)(np.array([1.0, 2.0]))
    array([[2., 1.],
           [2., 1.]])
    """
    return _jacobian(fun, argnums, has_aux, "fwd", "jacfwd")


def jacrev(fun: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False) -> Callable:
    """The Jacobian of ``fun`` by reverse mode: one backward pass per output element.

    Parameters
    ----------
    fun : callable
        A function of arrays (pytrees of them), returning a pytree of arrays.
    argnums : int or tuple of int
        The arguments to differentiate.
    has_aux : bool
        ``fun`` returns ``(out, aux)``; the result is then ``(jacobian, aux)``.

    Returns
    -------
    callable
        As :func:`jacfwd`'s, with the same layout.

    Raises
    ------
    MpgraphError
        As :func:`jvp`.

    See also
    --------
    jacfwd, mpgraph.grad

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> mg.jacrev(lambda x: x[::-1] * x)(np.array([1.0, 2.0]))
    array([[2., 1.],
           [2., 1.]])
    """
    return _jacobian(fun, argnums, has_aux, "rev", "jacrev")


def hessian(
    fun: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False
) -> Callable:
    """The Hessian of scalar ``fun``: forward mode over reverse mode, ``jacfwd(grad(fun))``.

    The gradient is built as graph nodes (every op on the way needs a differentiable vjp);
    a tangent pass through them per argument element gives one column.

    Parameters
    ----------
    fun : callable
        Returns a scalar (with ``has_aux``, ``(scalar, aux)``).
    argnums : int or tuple of int
        The arguments to differentiate, pytrees of float arrays.
    has_aux : bool
        The result is then ``(hessian, aux)``.

    Returns
    -------
    callable
        ``h(*args)``: for each argument leaf, for each argument leaf, an array of shape
        ``leaf_i.shape + leaf_j.shape``.

    Raises
    ------
    MpgraphError
        ``fun`` does not return a scalar; as :func:`jvp`.
    GraphError
        An op on the way has no differentiable vjp.

    See also
    --------
    hvp, jacfwd, mpgraph.grad

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> mg.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))   # [[2 x1, 2 x0], [2 x0, 0]]
    array([[6., 2.],
           [2., 0.]])
    """
    return jacfwd(grad(fun, argnums, has_aux=has_aux), argnums, has_aux=has_aux)


def hvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """The Hessian-vector product of scalar ``fun``, ``jvp(grad(fun), primals, tangents)[1]``
    (JAX's cookbook): forward over reverse, one tangent pass, the Hessian never formed.

    Parameters
    ----------
    fun : callable
        Returns a scalar.
    primals, tangents : tuple
        As :func:`jvp`'s.

    Returns
    -------
    The derivative of ``grad(fun)`` (with respect to the first argument) along ``tangents``,
    in the structure of the first argument.

    Raises
    ------
    MpgraphError
        As :func:`jvp`.

    See also
    --------
    hessian, jvp

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> f = lambda x: mg.ops.sum(x ** 3)
    >>> mg.hvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 1.0]),))   # 6 x v
    array([ 6., 12.])
    """
    return jvp(grad(fun), primals, tangents)[1]
