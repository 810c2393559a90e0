"""Reductions with NumPy's ``axis`` (int, tuple or None) and ``keepdims``."""
import numpy as np

from mpgraph.op import Op, reduce_shape, restore_axes
from mpgraph.registry import hookimpl


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """sum of x over axis.  d/dx = 1 for every summed element."""
    return np.sum(x, axis=_axis(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """mean of x over axis (n elements).  d/dx = 1/n."""
    return np.mean(x, axis=_axis(axis), keepdims=keepdims)


def _mean_vjp(g, ans, x, axis=None, keepdims=False):
    return restore_axes(g, x, _axis(axis), keepdims) / (np.size(x) // max(np.size(ans), 1))



def _samples_many(rng):
    for attrs in ({}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1}):
        yield [rng.standard_normal((2, 3, 4))], attrs


OPS = [
    Op("sum", sum, (lambda g, ans, x, axis=None, keepdims=False:
                    restore_axes(g, x, _axis(axis), keepdims),),
       reduce_shape, samples=_samples_many, differentiable_vjp=True),
    Op("mean", mean, (_mean_vjp,), reduce_shape, samples=_samples_many, differentiable_vjp=True),
]


@hookimpl
def mpgraph_ops():
    return OPS
