"""Forward mode: tangent messages along the edges of a run, in topological order.

Where the backward pass sends each parent ``dL/d(child) * d(child)/d(parent)``, the forward
pass of Lee's lecture sends each child ``d(parent)/dw * d(child)/d(parent)``: the tangent of
the parent times the local Jacobian (a Jacobian-vector product). A node's tangent is the sum
of the tangent messages on its in-edges, as a node's error signal is the sum of the messages on
its out-edges.

An op's jvp rule (``Op.jvp``) computes the tangent message. An op without one still has forward
mode: its vjp ``u -> J^T u`` is linear in ``u``, so ``J t`` is the gradient of ``<vjp(u), t>``
with respect to ``u``, computed by building the vjp as graph nodes (which needs
``differentiable_vjp=True``) and backpropagating through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..backend import NUMPY, library_of, shape_of, to_numpy
from ..errors import GraphError, MpgraphError, OpError, ShapeError, at
from .node import Node

__all__ = ["push_tangents", "tangent_message", "transposed_vjp"]


def tangent_message(node: Node, k: int, t: Any, ans: Any, args: list, res: Any = None) -> Any:
    """The tangent message from argument ``k`` of op node ``node``: ``J_k t``.

    Parameters
    ----------
    node : Node
        An op node.
    k : int
        Which argument's tangent.
    t : array
        That argument's tangent (its shape).
    ans, args : arrays
        The node's value and its arguments' values in the run.
    res : optional
        The node's residuals, for an op with ``Op.fwd``.

    Returns
    -------
    array or None
        Broadcastable to the shape of ``ans``; ``None`` when no tangent passes.

    Raises
    ------
    GraphError
        The op has no jvp rule and its vjp is not differentiable.
    """
    op = node.op
    attrs = node.attrs
    if op.fwd is not None:
        attrs = {**attrs, "res": res}
    rule = op.jvp_function(k)
    if rule is not None:
        return rule(t, ans, *args, **attrs)
    return transposed_vjp(node, k, t, ans, args)


def transposed_vjp(node: Node, k: int, t: Any, ans: Any, args: list) -> Any:
    """``J_k t`` from the op's vjp alone: the gradient of ``sum(vjp_k(u) * t)`` with respect to
    ``u`` (at any ``u``: the vjp is linear in it), with the vjp built as graph nodes.

    Raises
    ------
    GraphError
        The op declares no differentiable vjp, so the vjp cannot be built as nodes.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(2,))
    >>> y = mg.ops.tanh(x)
    >>> run = g.forward(y, {"x": np.zeros(2)})
    >>> transposed_vjp(y, 0, np.array([1.0, 2.0]), run[y], [run[x]])   # tanh'(0) t
    array([1., 2.])
    """
    op = node.op
    if not op.differentiable_vjp:
        raise GraphError(
            f"{at(op.name, node.name)}: has no jvp rule (Op.jvp) and its vjp is not "
            "declared differentiable, so forward mode cannot transpose it"
        )
    g = type(node.graph)()  # a scratch graph of the same class: no import of the graph module
    library = library_of(ans)
    if library is not NUMPY:
        g.to(library)  # the values below become its constants, where they live
    shape, dtype = shape_of(ans), getattr(ans, "dtype", None) or np.result_type(ans)
    u = g.input("u", shape, dtype)
    msg = op.apply_vjp(k, u, ans, *args, **node.attrs)
    if type(msg) is not Node:  # the message does not depend on u: the vjp sends none
        return None
    loss = g.apply("sum", [g.apply("multiply", [msg, t])])
    return g.grad(loss, wrt=u, feed={u: np.zeros_like(ans, dtype=dtype)})


def push_tangents(
    run, seeds: Mapping[Any, Any], keep_messages: bool = False
) -> tuple[list, dict | None]:
    """The forward tangent pass over ``run`` from ``seeds`` (node -> tangent).

    Returns
    -------
    (list, dict or None)
        The tangent of every slot (``None`` where none arrived), and with ``keep_messages``
        the tangent message on every edge, keyed ``(parent, child, argnum)``.

    Raises
    ------
    ShapeError
        A seed or a tangent message of the wrong shape.
    OpError
        A jvp rule raised; the node and op are named and the exception chained.
    """
    sched = run.schedule
    nodes, vals = sched.nodes, run.values
    tangents: list = [None] * len(nodes)
    for key, t in seeds.items():
        name = key.name if type(key) is Node else key
        i = sched.slot.get(name)
        if i is None:
            raise GraphError(
                f"mpgraph: the tangents name node '{name}', which this run did not compute"
            )
        value = vals[i]
        dtype = np.result_type(value)
        if dtype.kind not in "fc":
            raise GraphError(
                f"mpgraph: node '{name}' has dtype {dtype}: only float values carry tangents"
            )
        if run.library is NUMPY or library_of(t) != run.library:
            t = np.array(to_numpy(t), dtype=dtype)  # a copy: the caller's array is never aliased
            t = run.library.asarray(t)
        else:
            t = t.astype(dtype)  # a copy, in the run's library
        if shape_of(t) != shape_of(value):
            raise ShapeError(
                f"mpgraph: the tangent for node '{nodes[i].name}' has shape "
                f"{shape_of(t)}; expected {shape_of(value)}, the shape of its value"
            )
        tangents[i] = t
    seeded = {i for i, t in enumerate(tangents) if t is not None}
    messages: dict | None = {} if keep_messages else None
    residuals = run.residuals
    for i in sched.op_slots:
        a = sched.args[i]
        if i in seeded or all(tangents[j] is None for j in a):
            continue
        node = nodes[i]
        op = node.op
        ans = vals[i]
        args = [vals[j] for j in a]
        total = None
        for k, j in enumerate(a):
            t = tangents[j]
            if t is None or not op.carries_tangent(k):
                continue
            try:
                msg = tangent_message(node, k, t, ans, args, residuals.get(i))
            except MpgraphError:
                raise
            except Exception as e:
                raise OpError(
                    f"{at(op.name, node.name)}: the tangent message from argument {k} "
                    f"('{nodes[j].name}') raised {type(e).__name__}: {e}"
                ) from e
            if msg is None:
                continue
            if shape_of(msg) != shape_of(ans):
                try:
                    msg = np.broadcast_to(msg, shape_of(ans))
                except ValueError:
                    raise ShapeError(
                        f"{at(op.name, node.name)}: the tangent message from argument "
                        f"{k} ('{nodes[j].name}') has shape {shape_of(msg)}; expected "
                        f"{shape_of(ans)}, the shape of the node's value"
                    ) from None
            if messages is not None:
                messages[(nodes[j].name, node.name, k)] = msg
            total = msg if total is None else total + msg
        tangents[i] = total
    return tangents, messages
