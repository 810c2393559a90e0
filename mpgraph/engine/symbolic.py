"""The backward pass built as graph nodes: gradients that can be evaluated, drawn and
differentiated again (higher-order derivatives).

Where ``run.backward`` passes messages between arrays, :func:`gradients` passes them between
graph nodes: each op's vjp is applied to node handles, so every message and every error signal
becomes a node of the same graph, in the scope ``grad/``. This is Lee's reverse network made
explicit. Only ops that declare ``differentiable_vjp=True`` can take part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import GraphError, MpgraphError, ShapeError, at
from .graph import zero_gradient
from .node import Node

__all__ = ["gradients"]


def gradients(loss: Node, wrt: Sequence[Node], seed: Any = None) -> list[Node]:
    """Graph nodes for the gradient of ``loss`` with respect to each of ``wrt``.

    Parameters
    ----------
    loss : Node
        A scalar node (or any node, with ``seed``).
    wrt : sequence of Node
        Nodes of the same graph.
    seed : array or Node, optional
        The loss's error signal; 1 by default.

    Returns
    -------
    list of Node
        One node per ``wrt`` entry, of its shape; a constant zero where the loss does not
        depend on it.

    Raises
    ------
    GraphError
        An op on the way does not declare a differentiable vjp, naming it and its node.
    ShapeError
        No seed for a loss whose shape is not ``()``.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=())
    >>> y = mg.ops.tanh(x)
    >>> (dy,) = mg.gradients(y, [x])             # 1 - tanh(x)^2, as nodes
    >>> (d2y,) = mg.gradients(dy, [x])           # -2 tanh(x) (1 - tanh(x)^2)
    >>> run = g.forward([dy, d2y], {"x": 0.5})
    >>> t = np.tanh(0.5)
    >>> bool(np.isclose(run[dy], 1 - t ** 2) and np.isclose(run[d2y], -2 * t * (1 - t ** 2)))
    True
    """
    if type(loss) is not Node:
        raise GraphError(
            f"mpgraph: gradients: the loss must be a graph node, got {type(loss).__name__}"
        )
    g = loss.graph
    wrt = [g[w] if type(w) is Node else _refuse_wrt(w) for w in wrt]  # from this graph
    sched = g.schedule(loss)
    order = sched.nodes
    sources = tuple(sorted({sched.slot[w.name] for w in wrt if w.name in sched.slot}))
    active = sched.backward_plan(sched.slot[loss.name], sources).active
    reach = {n.name for n, on_path in zip(order, active) if on_path}  # wrt to loss, differentiably
    _require_shapes([n for n in order if n.name in reach] + [w for w in wrt if w.name not in reach])
    with g.scope("grad"):
        signals: dict[str, Node] = {}
        if loss.name in reach:
            if seed is None:
                if loss.shape not in ((), None):
                    raise ShapeError(
                        f"mpgraph: gradients from node '{loss.name}' need a seed: its "
                        f"shape is {loss.shape}, not a scalar"
                    )
                seed = g.constant(np.ones((), loss.dtype or np.float64))
            signals[loss.name] = g[seed] if type(seed) is Node else g.constant(seed)
        for n in reversed(order):
            s = signals.get(n.name)
            if s is None or n.kind != "op":
                continue
            if not n.op.differentiable_vjp:
                raise GraphError(
                    f"{at(n.op.name, n.name)}: its vjp is not declared differentiable "
                    "(differentiable_vjp=False), so the backward pass cannot be built "
                    "through it as graph nodes"
                )
            for k, p in enumerate(n.args):
                if p.name not in reach or not (n.op.variadic or n.op.vjp[k] is not None):
                    continue
                try:
                    msg = n.op.apply_vjp(k, s, n, *_operands(n, reach), **n.attrs)
                except MpgraphError:
                    raise
                except Exception as e:  # most often a vjp that needs a shape left unknown
                    raise GraphError(
                        f"{at(n.op.name, n.name)}: the vjp for argument {k} could "
                        f"not be built as graph nodes ({type(e).__name__}: {e}); "
                        "give inputs their full shapes, e.g. g.input(name, "
                        "shape=...)"
                    ) from e
                if msg is None:
                    continue
                msg = msg if type(msg) is Node else g.constant(msg)
                old = signals.get(p.name)
                signals[p.name] = msg if old is None else old + msg
        return [signals[w.name] if w.name in signals else g.constant(zero_gradient(w)) for w in wrt]


def _require_shapes(nodes: list[Node]) -> None:
    """Refuse, before building anything, a path with a shape left unknown: messages built as
    nodes need their shapes (to broadcast a signal back, to make a zero gradient)."""
    unknown = [n for n in nodes if n.shape is None or None in n.shape]
    if not unknown:
        return
    inputs = [n for n in unknown if n.kind == "input"]
    n = (inputs or unknown)[0]
    shape = "unknown" if n.shape is None else str(tuple("?" if d is None else d for d in n.shape))
    raise GraphError(
        f"mpgraph: gradients as graph nodes need every shape on the way known, and "
        f"{'input' if n.kind == 'input' else 'node'} '{n.name}' has shape "
        f"{shape.replace(chr(39), '')}: declare it, e.g. g.input('{n.name}', "
        "shape=(2, 3))"
    )


def _operands(node: Node, reach: set) -> list:
    """The node's arguments for its vjp: nodes, but constants that need no gradient as their
    values, so that Python numbers stay weakly typed (``x ** (3 - 1)`` keeps float32)."""
    return [p.fixed if p.kind == "const" and p.name not in reach else p for p in node.args]


def _refuse_wrt(w: Any) -> Node:
    raise GraphError(
        f"mpgraph: gradients: each wrt entry must be a graph node, got {type(w).__name__} {w!r:.40}"
    )
