"""Linear algebra: matmul with NumPy's rules for 1-D, 2-D and batched operands."""
import numpy as np

from mpgraph.op import Op, broadcast_shapes, unbroadcast
from mpgraph.registry import hookimpl


def _matmul_shape(a, b):
    if not a or not b:
        raise ValueError("matmul does not take scalars")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if None not in (a2[-1], b2[-2]) and a2[-1] != b2[-2]:
        raise ValueError(f"shapes {a} and {b} do not align ({a2[-1]} != {b2[-2]})")
    out = broadcast_shapes(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _swap(m):
    return np.swapaxes(m, -1, -2)


def _vjp_a(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    if b.ndim == 1:
        return unbroadcast(np.multiply.outer(g, b) if a.ndim > 1 else g * b, a)
    if a.ndim == 1:
        return unbroadcast((b @ g[..., None])[..., 0], a)
    return unbroadcast(g @ _swap(b), a)


def _vjp_b(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    if a.ndim == 1:
        return unbroadcast(np.multiply.outer(a, g) if b.ndim == 1 else a[:, None] * g[..., None, :], b)
    if b.ndim == 1:
        return unbroadcast(np.sum(a * g[..., None], axis=tuple(range(a.ndim - 1))), b)
    return unbroadcast(_swap(a) @ g, b)


def _samples(rng):
    for sa, sb in [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                   ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2))]:
        yield [rng.standard_normal(sa), rng.standard_normal(sb)], {}


OPS = [
    Op("matmul", np.matmul, (_vjp_a, _vjp_b), _matmul_shape, samples=_samples,
       doc="a @ b.  Messages: g @ b^T to a, a^T @ g to b (broadcast batch dims summed)."),
]


@hookimpl
def mpgraph_ops():
    return OPS
