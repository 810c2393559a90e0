"""Custom derivatives for Python functions: ``mg.custom_vjp`` and ``mg.custom_jvp``.

A decorated function becomes one op node in the graph (named after the function) whose
derivative is the one the user wrote, as JAX's ``jax.custom_vjp`` / ``jax.custom_jvp`` and
PyTorch's ``autograd.Function``. Called on arrays it simply runs.

- ``custom_vjp``: ``f.defvjp(fwd, bwd)`` with ``fwd(*args) -> (out, res)`` and
  ``bwd(res, g) -> one cotangent per argument``. The residuals live in the run, as every op's
  (``Op.fwd``). Forward mode through it transposes ``bwd`` (which JAX refuses).
- ``custom_jvp``: ``f.defjvp(rule)`` with ``rule(primals, tangents) -> (out, tangent_out)``;
  reverse mode transposes the rule, as JAX does.

A rule written with operators and ``mg.ops`` can itself be differentiated (higher orders).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..contract.op import Op
from ..engine.graph import Graph
from ..engine.node import Node
from ..engine.symbolic import gradients
from ..errors import MpgraphError

__all__ = ["custom_jvp", "custom_vjp"]


class _Saved:
    """The residuals of one run of a custom_vjp node, and ``bwd``'s cotangents for the last
    error signal it was given: every argument's vjp of the node reads them, ``bwd`` runs once."""

    __slots__ = ("res", "g", "cotangents")

    def __init__(self, res: Any) -> None:
        self.res = res
        self.g = self.cotangents = None


class _Custom:
    """What custom_vjp and custom_jvp share: the wrapped function, and one Op per arity."""

    def __init__(self, fun: Callable) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._ops: dict[int, Op] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise MpgraphError(
                f"mpgraph: {self.__name__} (a {type(self).__name__} function) "
                "takes its arguments by position only; bind keywords with "
                "functools.partial first"
            )
        graph = next((a.graph for a in args if type(a) is Node), None)
        if graph is None:
            return self.fun(*args)
        op = self._ops.get(len(args))
        if op is None:
            op = self._ops[len(args)] = self._op(len(args))
        return graph.apply(op, args)

    def _op(self, nargs: int) -> Op:
        raise NotImplementedError

    def _check(self, what: str, out: Any, nargs: int) -> tuple:
        if not isinstance(out, (tuple, list)) or len(out) != nargs:
            got = (
                f"a {type(out).__name__} of {len(out)}"
                if isinstance(out, (tuple, list))
                else type(out).__name__
            )
            raise MpgraphError(
                f"mpgraph: {what} of {self.__name__} must return a tuple with one "
                f"entry per argument ({nargs}); it returned {got}"
            )
        return tuple(out)


class custom_vjp(_Custom):
    """Give a Python function its own vector-Jacobian product, as ``jax.custom_vjp``.

    Parameters
    ----------
    fun : callable
        ``fun(*arrays) -> array``, the primal function.

    Examples
    --------
    The gradient of ``log(1 + e^x)`` written stably by hand:

    >>> import numpy as np, mpgraph as mg
    >>> @mg.custom_vjp
    ... def softplus(x):
    ...     return mg.ops.log1p(mg.ops.exp(x))
    >>> def fwd(x):
    ...     return softplus(x), x                      # the residual: x itself
    >>> def bwd(x, g):
    ...     return (g * mg.ops.sigmoid(x),)             # one cotangent per argument
    >>> softplus.defvjp(fwd, bwd)
    >>> float(mg.grad(softplus)(0.0))
    0.5
    >>> round(float(mg.grad(mg.grad(softplus))(0.0)), 6)   # bwd is differentiable: sigmoid'(0)
    0.25

    See also
    --------
    custom_jvp, mpgraph.ops.stop_gradient
    """

    def __init__(self, fun: Callable) -> None:
        super().__init__(fun)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set the rule: ``fwd(*args) -> (out, res)``, ``bwd(res, g) -> tuple`` of one
        cotangent per argument (``None`` for none).

        Parameters
        ----------
        fwd : callable
            The primal output and the residuals ``bwd`` reads.
        bwd : callable
            The cotangents, given the residuals and the output's error signal ``g``.

        Returns
        -------
        None
        """
        self.fwd, self.bwd = fwd, bwd
        self._ops.clear()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.bwd is None:
            raise MpgraphError(
                f"mpgraph: custom_vjp function {self.__name__} has no rule: call "
                f"{self.__name__}.defvjp(fwd, bwd) first"
            )
        return super().__call__(*args, **kwargs)

    def _op(self, nargs: int) -> Op:
        fun, fwd, bwd = self.fun, self.fwd, self.bwd

        def forward(*arrays):
            return fun(*arrays)

        def save(*arrays):
            out, res = fwd(*arrays)
            return out, _Saved(res)

        def cotangent(k: int) -> Callable:
            def vjp(g, ans, *arrays, res=None):
                if res is None:  # built as graph nodes: run fwd on them for the residuals
                    return self._check("bwd", bwd(fwd(*arrays)[1], g), nargs)[k]
                if res.g is not g:
                    res.cotangents, res.g = self._check("bwd", bwd(res.res, g), nargs), g
                return res.cotangents[k]

            return vjp

        return Op(
            self.__name__,
            forward,
            tuple(cotangent(k) for k in range(nargs)),
            fwd=save,
            differentiable_vjp=True,
            doc=fun.__doc__ or f"custom_vjp {self.__name__}",
        )


class custom_jvp(_Custom):
    """Give a Python function its own Jacobian-vector product, as ``jax.custom_jvp``.

    Forward mode calls the rule; reverse mode transposes it (the rule is linear in the
    tangents), so the rule must be written with operators and ``mg.ops``.

    Parameters
    ----------
    fun : callable
        ``fun(*arrays) -> array``.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> @mg.custom_jvp
    ... def f(x):
    ...     return mg.ops.sin(x)
    >>> f.defjvp(lambda primals, tangents: (f(primals[0]), mg.ops.cos(primals[0]) * tangents[0]))
    >>> float(mg.jvp(f, (0.0,), (2.0,))[1])          # cos(0) * 2
    2.0
    >>> float(mg.grad(f)(0.0))                       # the rule, transposed
    1.0

    See also
    --------
    custom_vjp, mpgraph.jvp
    """

    def __init__(self, fun: Callable) -> None:
        super().__init__(fun)
        self.rule: Callable | None = None

    def defjvp(self, rule: Callable) -> None:
        """Set the rule ``rule(primals, tangents) -> (out, tangent_out)``, ``primals`` and
        ``tangents`` tuples with one entry per argument.

        Parameters
        ----------
        rule : callable
            The primal output and its tangent; linear in ``tangents``.

        Returns
        -------
        None
        """
        self.rule = rule
        self._ops.clear()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.rule is None:
            raise MpgraphError(
                f"mpgraph: custom_jvp function {self.__name__} has no rule: call "
                f"{self.__name__}.defjvp(rule) first"
            )
        return super().__call__(*args, **kwargs)

    def _op(self, nargs: int) -> Op:
        fun, rule = self.fun, self.rule

        def forward(*arrays):
            return fun(*arrays)

        def tangent(k: int) -> Callable:
            def jvp(t, ans, *arrays):
                tangents = [np.zeros_like(a, dtype=np.result_type(a, float)) for a in arrays]
                tangents[k] = t
                return rule(tuple(arrays), tuple(tangents))[1]

            return jvp

        def cotangent(k: int) -> Callable:
            def vjp(g, ans, *arrays):
                return _transpose_rule(rule, k, g, arrays, self.__name__)

            return vjp

        return Op(
            self.__name__,
            forward,
            tuple(cotangent(k) for k in range(nargs)),
            jvp=tuple(tangent(k) for k in range(nargs)),
            differentiable_vjp=True,
            doc=fun.__doc__ or f"custom_jvp {self.__name__}",
        )


def _transpose_rule(rule: Callable, k: int, g: Any, arrays: tuple, name: str) -> Any:
    """The message to argument ``k``: the transpose of the rule's linear map from tangent
    ``k`` to the output tangent, applied to ``g``: d<g, rule(.., t_k, ..)>/dt_k.

    On arrays the rule is built in a scratch graph and differentiated there; as graph nodes
    (a higher-order derivative) it is built into the enclosing graph, and so is its gradient."""
    graph = next((v.graph for v in (g, *arrays) if type(v) is Node), None)
    on_nodes = graph is not None
    graph = graph or Graph()
    with graph.scope(f"{name}_transpose"):
        primals = [a if type(a) is Node else graph.constant(a) for a in arrays]
        # The rule is linear in the tangents, so their values do not matter: zeros, the one
        # for argument k a node of its own to differentiate with respect to.
        tangents = [
            graph.constant(
                np.zeros(
                    p.shape, p.dtype if p.dtype is not None and p.dtype.kind in "fc" else np.float64
                )
            )
            for p in primals
        ]
        t = tangents[k] = graph.apply("add", [tangents[k], 0.0])
        out_t = rule(tuple(primals), tuple(tangents))[1]
        if type(out_t) is not Node:  # the output's tangent does not depend on argument k
            zero = np.zeros(t.shape, t.dtype or np.float64)
            return graph.constant(zero) if on_nodes else zero
        loss = graph.apply("sum", [graph.apply("multiply", [out_t, g])])
        return gradients(loss, [t])[0] if on_nodes else graph.grad(loss, wrt=t)
