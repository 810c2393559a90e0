"""Ops about derivatives themselves: ``stop_gradient``, and ``getitem_transpose``, the transpose
of indexing, which makes indexing differentiable to any order.
"""

import numpy as np

from mpgraph.extend import Op, add_at, cases, hookimpl, is_graph_node, like, same_shape


def stop_gradient(x):
    """x, unchanged; no message passes back through it (and no tangent forward)

    Derivative: none: x is treated as a constant, as JAX's lax.stop_gradient and PyTorch's
    detach() do. ``mg.grad`` gives zeros to what reaches the loss only through it.
    """
    return x.view() if isinstance(x, np.ndarray) else x  # a view: never the caller's array


def getitem_transpose(g, index, shape):
    """zeros of ``shape`` with g added at ``index`` (repeated indices add, as np.add.at does):
    the transpose of ``getitem(x, index)``, whose message it builds

    Derivative: the message to g is the signal indexed: getitem(signal, index).
    """
    out = np.zeros(shape, dtype=np.result_type(g), like=like(g))
    parts = index if isinstance(index, tuple) else (index,)
    basic = all(
        p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts
    )
    if basic and type(out) is np.ndarray:
        out[index] = g  # a view: each element at most once, plain assignment suffices
    else:
        out = add_at(out, index, g)
    return out


def _scatter_vjp(s, ans, g, index, shape):
    if is_graph_node(s):
        return s.graph.apply("getitem", [s], {"index": index})
    return s[index]


def _scatter_shape(s, index, shape):
    return tuple(shape)


def _scatter_samples(rng):
    x = rng.standard_normal((4, 3))
    for index in [1, (slice(1, 3), 0), np.array([0, 2, 0]), x > 0]:
        yield [rng.standard_normal(np.shape(x[index]))], {"index": index, "shape": (4, 3)}


OPS = [
    Op(
        "stop_gradient",
        stop_gradient,
        (None,),
        same_shape,
        needs=("",),
        samples=cases(((2, 3),), ((),)),
    ),
    Op(
        "getitem_transpose",
        getitem_transpose,
        (_scatter_vjp,),
        _scatter_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=_scatter_samples,
        jvp=(lambda t, ans, g, index, shape: getitem_transpose(t, index, shape),),
    ),
]


@hookimpl
def mpgraph_ops():
    return OPS
