"""Elementwise arithmetic and functions, with NumPy broadcasting.

Each row: name, forward (the NumPy ufunc itself where there is one), one vjp per argument (the
message to that argument given the output's error signal ``g``), shape rule. Binary vjps sum
their message back to the argument's shape. The vjps use only operators and NumPy functions
that graph nodes dispatch to registered ops, so they can themselves be differentiated (hence
``np.equal(x, y)`` rather than ``x == y``, which on graph nodes is Python's identity test).

At points where a function has no derivative the message is PyTorch's: ``abs`` sends 0 at 0;
``maximum``/``minimum`` split the signal half and half between tied arguments; ``clip`` passes
the signal where ``a_min <= x <= a_max`` (bounds included).
"""
import math

import numpy as np

from mpgraph.extend import Op, broadcast_shapes, same_shape, unbroadcast
from mpgraph.extend import hookimpl

from mpgraph.extend import cases, chain, doc, float_dtype, positive, unit

_binary = cases(((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((3,), (3,)))
_binary_pos = cases(((2, 1), (1, 3)), ((2, 3), ()), ((3,), (3,)), draw=positive)
_unary = cases(((2, 3),), ((),), ((4, 1, 2),))
_unary_pos = cases(((2, 3),), ((),), ((4, 1, 2),), draw=positive)
_unary_unit = cases(((2, 3),), ((),), ((4, 1, 2),), draw=unit)


def _unary_op(name, forward, vjp, formula, derivative, samples=_unary, dtype=float_dtype,
              notes="", needs=None):
    # An elementwise function has a diagonal Jacobian: its jvp is its vjp, given the tangent.
    return Op(name, forward, (vjp,), same_shape, dtype, samples=samples, differentiable_vjp=True,
              doc=doc(formula, derivative, notes), needs=needs, jvp=(vjp,))


def _binary_op(name, forward, vjps, formula, derivative, samples=_binary, notes="", needs=None,
               jvp=None):
    return Op(name, forward, vjps, broadcast_shapes, samples=samples, differentiable_vjp=True,
              doc=doc(formula, derivative, notes), needs=needs, jvp=jvp)


def _cmp(name, forward, symbol):
    return Op(name, forward, (None, None), broadcast_shapes, lambda *d, **_: np.dtype(bool),
              samples=_binary, needs=("", ""),
              doc=doc(f"x {symbol} y, elementwise, boolean (NumPy broadcasting).",
                      "none: a comparison carries no gradient to either argument."))


# -- binary vjps -------------------------------------------------------------------------------

def _power_x(g, ans, x, y):
    if type(y) in (int, float):  # x ** 2, x ** 0.5: the common case, a Python exponent
        return unbroadcast(g * (y * x ** (y - 1)) if y != 0 else 0 * g, x)
    # y = 0 sends 0, even at x = 0 where y x^(y-1) is 0 * inf (PyTorch's convention)
    return unbroadcast(np.where(np.equal(y, 0), 0, g * (y * x ** (y - 1))), x)


def _power_y(g, ans, x, y):
    if type(x) in (int, float):  # 2.0 ** y: a Python log keeps float32 y in float32 (NEP 50)
        if x == 0:
            return unbroadcast(0 * g, y)
        return unbroadcast(g * ans * (math.log(x) if x > 0 else math.nan), y)
    # d/dy x^y = x^y log x; 0 where x = 0 (x^y is flat in y there for y > 0), as in PyTorch
    zero = np.equal(x, 0)
    return unbroadcast(np.where(zero, 0, g * ans * np.log(np.where(zero, 1, x))), y)


def _power_jvp_x(t, ans, x, y):
    if type(y) in (int, float):
        return t * (y * x ** (y - 1)) if y != 0 else 0 * t
    return np.where(np.equal(y, 0), 0, t * (y * x ** (y - 1)))


def _power_jvp_y(t, ans, x, y):
    zero = np.equal(x, 0)
    return np.where(zero, 0, t * ans * np.log(np.where(zero, 1, x)))


def _where_tie(g, x, y, first):
    """The message of maximum/minimum to one argument: all of g where it wins, half on a tie."""
    return np.where(np.equal(x, y), 0.5 * g, np.where(first, g, 0))


def _where_shape(c, a, b):
    return broadcast_shapes(c, a, b)


def _where_dtype(c, a, b, **_):
    known = [d for d in (a, b) if d is not None]
    return np.result_type(*known) if known else None


# -- clip ---------------------------------------------------------------------------------------

def clip(x, a_min=None, a_max=None):
    """min(max(x, a_min), a_max); either bound may be None (no bound).

    Derivative: 1 where a_min <= x <= a_max (bounds included, as PyTorch's clamp), else 0.

    The bounds are attributes (numbers or arrays that broadcast to x) and carry no gradient.
    """
    return np.clip(x, a_min, a_max)


def _clip_vjp(g, ans, x, a_min=None, a_max=None):
    if a_min is not None:
        g = np.where(x >= a_min, g, 0)
    if a_max is not None:
        g = np.where(x <= a_max, g, 0)
    return g


def _clip_shape(s, a_min=None, a_max=None):
    if a_min is None and a_max is None:
        raise ValueError("clip needs a_min or a_max (both are None)")
    out = broadcast_shapes(s, np.shape(a_min), np.shape(a_max))
    if len(out) != len(s) or any(d is not None and d != n for d, n in zip(s, out)):
        raise ValueError(f"the bounds (shapes {np.shape(a_min)}, {np.shape(a_max)}) would "
                         f"broadcast x of shape {s} to {out}")
    return out


OPS = [
    _binary_op("add", np.add, (lambda g, ans, x, y: unbroadcast(g, x),
                               lambda g, ans, x, y: unbroadcast(g, y)),
               "x + y", "1 to x, 1 to y: messages g, g (summed over broadcast dims).",
               needs=("", ""), jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: t)),
    _binary_op("subtract", np.subtract, (lambda g, ans, x, y: unbroadcast(g, x),
                                         lambda g, ans, x, y: unbroadcast(-g, y)),
               "x - y", "1 to x, -1 to y: messages g, -g.", needs=("", ""),
               jvp=(lambda t, ans, x, y: t, lambda t, ans, x, y: -t)),
    _binary_op("multiply", np.multiply, (lambda g, ans, x, y: unbroadcast(g * y, x),
                                         lambda g, ans, x, y: unbroadcast(g * x, y)),
               "x * y", "y to x, x to y: messages g y, g x.", needs=("y", "x"),
               jvp=(lambda t, ans, x, y: t * y, lambda t, ans, x, y: t * x)),
    _binary_op("divide", np.divide, (lambda g, ans, x, y: unbroadcast(g / y, x),
                                     lambda g, ans, x, y: unbroadcast(-g * ans / y, y)),
               "x / y", "1/y to x, -x/y^2 to y: messages g / y, -g (x/y) / y.",
               samples=_binary_pos,
               notes="Integer inputs give a float64 result (true division), as in NumPy.",
               needs=("y", "ans y"),
               jvp=(lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)),
    _binary_op("power", np.power, (_power_x, _power_y),
               "x ** y", "y x^(y-1) to x; x^y log x to y.", samples=_binary_pos,
               notes="Where y = 0 the message to x is 0; where x = 0 the message to y is 0 "
                     "(PyTorch's conventions). The message to y is NaN for x < 0.",
               needs=("x y", "ans x"), jvp=(_power_jvp_x, _power_jvp_y)),
    _binary_op("maximum", np.maximum,
               (lambda g, ans, x, y: unbroadcast(_where_tie(g, x, y, x > y), x),
                lambda g, ans, x, y: unbroadcast(_where_tie(g, x, y, y > x), y)),
               "max(x, y), elementwise", "1 to the larger argument, 0 to the other.",
               notes="On a tie (x = y) each argument gets half the signal, as in PyTorch.",
               needs=("x y", "x y"),
               jvp=(lambda t, ans, x, y: _where_tie(t, x, y, x > y),
                    lambda t, ans, x, y: _where_tie(t, x, y, y > x))),
    _binary_op("minimum", np.minimum,
               (lambda g, ans, x, y: unbroadcast(_where_tie(g, x, y, x < y), x),
                lambda g, ans, x, y: unbroadcast(_where_tie(g, x, y, y < x), y)),
               "min(x, y), elementwise", "1 to the smaller argument, 0 to the other.",
               notes="On a tie (x = y) each argument gets half the signal, as in PyTorch.",
               needs=("x y", "x y"),
               jvp=(lambda t, ans, x, y: _where_tie(t, x, y, x < y),
                    lambda t, ans, x, y: _where_tie(t, x, y, y < x))),
    Op("where", np.where, (None, lambda g, ans, c, x, y: unbroadcast(np.where(c, g, 0), x),
                           lambda g, ans, c, x, y: unbroadcast(np.where(c, 0, g), y)),
       _where_shape, _where_dtype,
       samples=lambda rng: [([rng.standard_normal((2, 3)) > 0, rng.standard_normal((2, 3)),
                              rng.standard_normal(3)], {}),
                            ([np.array([True, False, True]), rng.standard_normal((2, 1)),
                              rng.standard_normal(())], {})],
       differentiable_vjp=True, needs=("", "c", "c"),
       jvp=(None, lambda t, ans, c, x, y: np.where(c, t, 0),
            lambda t, ans, c, x, y: np.where(c, 0, t)),
       doc=doc("x where cond else y, elementwise (NumPy broadcasting of all three).",
               "1 to x where cond, 1 to y elsewhere; none to cond.")),
    Op("clip", clip, (_clip_vjp,), _clip_shape, jvp=(_clip_vjp,),
       samples=chain(cases(((3, 4),), a_min=-0.5, a_max=0.5), cases(((2, 3),), a_min=0.0),
                     lambda rng: [([rng.standard_normal((2, 3))],
                                   {"a_max": np.array([-0.5, 0.0, 0.5])})]),
       differentiable_vjp=True, needs=("x",)),
    _unary_op("negative", np.negative, lambda g, ans, x: -g, "-x", "-1.", dtype=None, needs=("",)),
    _unary_op("exp", np.exp, lambda g, ans, x: g * ans, "e^x", "e^x (the output).",
              needs=("ans",)),
    _unary_op("expm1", np.expm1, lambda g, ans, x: g * (ans + 1), "e^x - 1, accurate near 0",
              "e^x = output + 1.", needs=("ans",)),
    _unary_op("log", np.log, lambda g, ans, x: g / x, "ln x, for x > 0", "1/x.",
              samples=_unary_pos, needs=("x",)),
    _unary_op("log1p", np.log1p, lambda g, ans, x: g / (1 + x), "ln(1 + x), accurate near 0",
              "1/(1 + x).", samples=_unary_unit, needs=("x",)),
    _unary_op("sqrt", np.sqrt, lambda g, ans, x: g / (2 * ans), "sqrt x, for x >= 0",
              "1/(2 sqrt x); infinite at 0.", samples=_unary_pos, needs=("ans",)),
    _unary_op("square", np.square, lambda g, ans, x: g * (2 * x), "x^2", "2x.", dtype=None,
              needs=("x",)),
    _unary_op("abs", np.abs, lambda g, ans, x: g * np.sign(x), "|x|", "sign(x).", dtype=None,
              notes="The message at x = 0 is 0 (sign(0) = 0), as in PyTorch.", needs=("x",)),
    Op("sign", np.sign, (None,), same_shape, samples=_unary, needs=("",),
       doc=doc("sign(x): -1, 0 or 1, elementwise", "none: sign is flat wherever it is "
               "differentiable, so it carries no gradient (like a comparison).")),
    _unary_op("sin", np.sin, lambda g, ans, x: g * np.cos(x), "sin x", "cos x.", needs=("x",)),
    _unary_op("cos", np.cos, lambda g, ans, x: -g * np.sin(x), "cos x", "-sin x.",
              needs=("x",)),
    _unary_op("tan", np.tan, lambda g, ans, x: g * (1 + ans * ans), "tan x",
              "1 + tan^2 x.", samples=_unary_unit, needs=("ans",)),
    _unary_op("tanh", np.tanh, lambda g, ans, x: g * (1 - ans * ans), "tanh x",
              "1 - tanh^2 x (from the output).", needs=("ans",)),
    _unary_op("sinh", np.sinh, lambda g, ans, x: g * np.cosh(x), "sinh x", "cosh x.",
              needs=("x",)),
    _unary_op("cosh", np.cosh, lambda g, ans, x: g * np.sinh(x), "cosh x", "sinh x.",
              needs=("x",)),
    _unary_op("arctan", np.arctan, lambda g, ans, x: g / (1 + x * x), "arctan x",
              "1/(1 + x^2).", needs=("x",)),
    _cmp("less", np.less, "<"),
    _cmp("less_equal", np.less_equal, "<="),
    _cmp("greater", np.greater, ">"),
    _cmp("greater_equal", np.greater_equal, ">="),
    _cmp("equal", np.equal, "=="),
    _cmp("not_equal", np.not_equal, "!="),
]


@hookimpl
def mpgraph_ops():
    return OPS
