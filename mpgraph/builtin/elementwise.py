"""Elementwise arithmetic and functions, with NumPy broadcasting.

Each row: name, forward, one vjp per argument (the message to that argument given the output's
error signal ``g``), shape rule. Binary vjps sum their message back to the argument's shape.
"""
import numpy as np

from mpgraph.op import Op, broadcast_shapes, float_samples, same_shape, unbroadcast
from mpgraph.registry import hookimpl

_binary = float_samples((2, 3), (3,))
_binary_pos = float_samples((2, 1), (1, 3), low=0.0)
_pos = float_samples((2, 3), low=0.0)


def _cmp(name, forward, doc):
    return Op(name, forward, (None, None), broadcast_shapes, lambda *d: np.dtype(bool), doc=doc)


OPS = [
    Op("add", np.add, (lambda g, ans, x, y: unbroadcast(g, x),
                       lambda g, ans, x, y: unbroadcast(g, y)),
       broadcast_shapes, samples=_binary, differentiable_vjp=True,
       doc="x + y.  d/dx = 1, d/dy = 1."),
    Op("subtract", np.subtract, (lambda g, ans, x, y: unbroadcast(g, x),
                                 lambda g, ans, x, y: unbroadcast(-g, y)),
       broadcast_shapes, samples=_binary, differentiable_vjp=True,
       doc="x - y.  d/dx = 1, d/dy = -1."),
    Op("multiply", np.multiply, (lambda g, ans, x, y: unbroadcast(g * y, x),
                                 lambda g, ans, x, y: unbroadcast(g * x, y)),
       broadcast_shapes, samples=_binary, differentiable_vjp=True,
       doc="x * y.  d/dx = y, d/dy = x."),
    Op("divide", np.divide, (lambda g, ans, x, y: unbroadcast(g / y, x),
                             lambda g, ans, x, y: unbroadcast(-g * ans / y, y)),
       broadcast_shapes, samples=_binary_pos, differentiable_vjp=True,
       doc="x / y.  d/dx = 1/y, d/dy = -x/y^2."),
    Op("power", np.power, (lambda g, ans, x, y: unbroadcast(g * y * x ** (y - 1), x),
                           lambda g, ans, x, y: unbroadcast(g * ans * np.log(x), y)),
       broadcast_shapes, samples=_binary_pos, differentiable_vjp=True,
       doc="x ** y.  d/dx = y x^(y-1), d/dy = x^y log x (x > 0)."),
    Op("negative", np.negative, (lambda g, ans, x: -g,), same_shape, differentiable_vjp=True,
       doc="-x.  d/dx = -1."),
    Op("exp", np.exp, (lambda g, ans, x: g * ans,), same_shape, differentiable_vjp=True,
       doc="e^x.  d/dx = e^x."),
    Op("log", np.log, (lambda g, ans, x: g / x,), same_shape, samples=_pos,
       differentiable_vjp=True, doc="natural log, x > 0.  d/dx = 1/x."),
    Op("tanh", np.tanh, (lambda g, ans, x: g * (1 - ans * ans),), same_shape,
       differentiable_vjp=True, doc="tanh x.  d/dx = 1 - tanh^2 x."),
    _cmp("less", np.less, "x < y, boolean; carries no gradient."),
    _cmp("less_equal", np.less_equal, "x <= y, boolean; carries no gradient."),
    _cmp("greater", np.greater, "x > y, boolean; carries no gradient."),
    _cmp("greater_equal", np.greater_equal, "x >= y, boolean; carries no gradient."),
]


@hookimpl
def mpgraph_ops():
    return OPS
