"""Elementwise arithmetic and functions, with NumPy broadcasting.

Each row is built by a constructor of ``mpgraph.extend`` for its shape of op
(``elementwise_unary``, ``broadcasting_binary``, ``comparison``): name, forward (the NumPy ufunc
itself where there is one), one vjp per argument (the message to that argument given the
output's error signal ``g``), formula and derivative. ``broadcasting_binary`` sums each message
back to its argument's shape. The vjps use only operators and NumPy functions
that graph nodes dispatch to registered ops, so they can themselves be differentiated (hence
``np.equal(x, y)`` rather than ``x == y``, which on graph nodes is Python's identity test).

At points where a function has no derivative the message is PyTorch's: ``abs`` sends 0 at 0;
``maximum``/``minimum`` split the signal half and half between tied arguments; ``clip`` passes
the signal where ``a_min <= x <= a_max`` (bounds included).
"""
import numpy as np

from mpgraph.extend import (BINARY, BINARY_POSITIVE, UNARY_POSITIVE, UNARY_UNIT, Op,
                            broadcast_shapes, broadcasting_binary, cases, chain, comparison, doc,
                            elementwise_unary, hookimpl, same_shape, unbroadcast)


# -- binary vjps -------------------------------------------------------------------------------

def _power_x(g, ans, x, y):
    if type(y) in (int, float):  # x ** 2, x ** 0.5: the common case, a Python exponent
        return g * (y * x ** (y - 1)) if y != 0 else 0 * g
    # y = 0 sends 0, even at x = 0 where y x^(y-1) is 0 * inf (PyTorch's convention)
    return np.where(np.equal(y, 0), 0, g * (y * x ** (y - 1)))


def _power_y(g, ans, x, y):
    # d/dy x^y = x^y log x; 0 where x = 0 (x^y is flat in y there for y > 0), as in PyTorch
    zero = np.equal(x, 0)
    return np.where(zero, 0, g * ans * np.log(np.where(zero, 1, x)))


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
    broadcasting_binary("add", np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g,
                        formula="x + y", derivative="1 to x, 1 to y: messages g, g (summed over "
                        "broadcast dims).", needs=("", "")),
    broadcasting_binary("subtract", np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g,
                        formula="x - y", derivative="1 to x, -1 to y: messages g, -g.",
                        needs=("", "")),
    broadcasting_binary("multiply", np.multiply, lambda g, ans, x, y: g * y,
                        lambda g, ans, x, y: g * x, formula="x * y",
                        derivative="y to x, x to y: messages g y, g x.", needs=("y", "x")),
    broadcasting_binary("divide", np.divide, lambda g, ans, x, y: g / y,
                        lambda g, ans, x, y: -g * ans / y, formula="x / y",
                        derivative="1/y to x, -x/y^2 to y: messages g / y, -g (x/y) / y.",
                        notes="Integer inputs give a float64 result (true division), as in NumPy.",
                        samples=BINARY_POSITIVE, needs=("y", "ans y")),
    broadcasting_binary("power", np.power, _power_x, _power_y, formula="x ** y",
                        derivative="y x^(y-1) to x; x^y log x to y.", samples=BINARY_POSITIVE,
                        notes="Where y = 0 the message to x is 0; where x = 0 the message to y is "
                              "0 (PyTorch's conventions). The message to y is NaN for x < 0.",
                        needs=("x y", "ans x")),
    broadcasting_binary("maximum", np.maximum,
                        lambda g, ans, x, y: _where_tie(g, x, y, x > y),
                        lambda g, ans, x, y: _where_tie(g, x, y, y > x),
                        formula="max(x, y), elementwise",
                        derivative="1 to the larger argument, 0 to the other.",
                        notes="On a tie (x = y) each argument gets half the signal, as in PyTorch.",
                        needs=("x y", "x y")),
    broadcasting_binary("minimum", np.minimum,
                        lambda g, ans, x, y: _where_tie(g, x, y, x < y),
                        lambda g, ans, x, y: _where_tie(g, x, y, y < x),
                        formula="min(x, y), elementwise",
                        derivative="1 to the smaller argument, 0 to the other.",
                        notes="On a tie (x = y) each argument gets half the signal, as in PyTorch.",
                        needs=("x y", "x y")),
    Op("where", np.where, (None, lambda g, ans, c, x, y: unbroadcast(np.where(c, g, 0), x),
                           lambda g, ans, c, x, y: unbroadcast(np.where(c, 0, g), y)),
       _where_shape, _where_dtype,
       samples=lambda rng: [([rng.standard_normal((2, 3)) > 0, rng.standard_normal((2, 3)),
                              rng.standard_normal(3)], {}),
                            ([np.array([True, False, True]), rng.standard_normal((2, 1)),
                              rng.standard_normal(())], {})],
       differentiable_vjp=True, needs=("", "c", "c"),
       doc=doc("x where cond else y, elementwise (NumPy broadcasting of all three).",
               "1 to x where cond, 1 to y elsewhere; none to cond.")),
    Op("clip", clip, (_clip_vjp,), _clip_shape,
       samples=chain(cases(((3, 4),), a_min=-0.5, a_max=0.5), cases(((2, 3),), a_min=0.0),
                     lambda rng: [([rng.standard_normal((2, 3))],
                                   {"a_max": np.array([-0.5, 0.0, 0.5])})]),
       differentiable_vjp=True, needs=("x",)),
    elementwise_unary("negative", np.negative, lambda g, ans, x: -g, formula="-x",
                      derivative="-1.", dtype=None, needs=""),
    elementwise_unary("exp", np.exp, lambda g, ans, x: g * ans, formula="e^x",
                      derivative="e^x (the output).", needs="ans"),
    elementwise_unary("expm1", np.expm1, lambda g, ans, x: g * (ans + 1),
                      formula="e^x - 1, accurate near 0", derivative="e^x = output + 1.",
                      needs="ans"),
    elementwise_unary("log", np.log, lambda g, ans, x: g / x, formula="ln x, for x > 0",
                      derivative="1/x.", samples=UNARY_POSITIVE, needs="x"),
    elementwise_unary("log1p", np.log1p, lambda g, ans, x: g / (1 + x),
                      formula="ln(1 + x), accurate near 0", derivative="1/(1 + x).",
                      samples=UNARY_UNIT, needs="x"),
    elementwise_unary("sqrt", np.sqrt, lambda g, ans, x: g / (2 * ans),
                      formula="sqrt x, for x >= 0", derivative="1/(2 sqrt x); infinite at 0.",
                      samples=UNARY_POSITIVE, needs="ans"),
    elementwise_unary("square", np.square, lambda g, ans, x: g * (2 * x), formula="x^2",
                      derivative="2x.", dtype=None, needs="x"),
    elementwise_unary("abs", np.abs, lambda g, ans, x: g * np.sign(x), formula="|x|",
                      derivative="sign(x).", dtype=None, needs="x",
                      notes="The message at x = 0 is 0 (sign(0) = 0), as in PyTorch."),
    elementwise_unary("sign", np.sign, None, formula="sign(x): -1, 0 or 1, elementwise",
                      derivative="none: sign is flat wherever it is differentiable, so it "
                                 "carries no gradient (like a comparison).", dtype=None, needs=""),
    elementwise_unary("sin", np.sin, lambda g, ans, x: g * np.cos(x), formula="sin x",
                      derivative="cos x.", needs="x"),
    elementwise_unary("cos", np.cos, lambda g, ans, x: -g * np.sin(x), formula="cos x",
                      derivative="-sin x.", needs="x"),
    elementwise_unary("tan", np.tan, lambda g, ans, x: g * (1 + ans * ans), formula="tan x",
                      derivative="1 + tan^2 x.", samples=UNARY_UNIT, needs="ans"),
    elementwise_unary("tanh", np.tanh, lambda g, ans, x: g * (1 - ans * ans), formula="tanh x",
                      derivative="1 - tanh^2 x (from the output).", needs="ans"),
    elementwise_unary("sinh", np.sinh, lambda g, ans, x: g * np.cosh(x), formula="sinh x",
                      derivative="cosh x.", needs="x"),
    elementwise_unary("cosh", np.cosh, lambda g, ans, x: g * np.sinh(x), formula="cosh x",
                      derivative="sinh x.", needs="x"),
    elementwise_unary("arctan", np.arctan, lambda g, ans, x: g / (1 + x * x), formula="arctan x",
                      derivative="1/(1 + x^2).", needs="x"),
    comparison("less", np.less, "<"),
    comparison("less_equal", np.less_equal, "<="),
    comparison("greater", np.greater, ">"),
    comparison("greater_equal", np.greater_equal, ">="),
    comparison("equal", np.equal, "=="),
    comparison("not_equal", np.not_equal, "!="),
]


@hookimpl
def mpgraph_ops():
    return OPS
