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

import math

import numpy as np

from mpgraph.extend import (
    BINARY,
    BINARY_POSITIVE,
    UNARY,
    UNARY_POSITIVE,
    UNARY_UNIT,
    Op,
    ShapeError,
    apply_op,
    broadcast_shapes,
    broadcasting_binary,
    cases,
    chain,
    comparison,
    doc,
    elementwise_unary,
    float_dtype,
    hookimpl,
    like,
    signal_as_is,
    signal_times_x,
    signal_times_y,
    unbroadcast,
    zero_gradient,
)

# -- binary vjps -------------------------------------------------------------------------------


def _power_x(g, ans, x, y):
    if type(y) in (int, float):  # x ** 2, x ** 0.5: the common case, a Python exponent
        return g * (y * x ** (y - 1)) if y != 0 else 0 * g
    # y = 0 sends 0, even at x = 0 where y x^(y-1) is 0 * inf (PyTorch's convention)
    return np.where(np.equal(y, 0), 0, g * (y * x ** (y - 1)))


def _power_y(g, ans, x, y):
    if type(x) in (int, float):  # 2.0 ** y: a Python log keeps float32 y in float32 (NEP 50)
        if x == 0:
            return unbroadcast(0 * g, y)
        return unbroadcast(g * ans * (math.log(x) if x > 0 else math.nan), y)
    # d/dy x^y = x^y log x; 0 where x = 0 (x^y is flat in y there for y > 0), as in PyTorch
    zero = np.equal(x, 0)
    return np.where(zero, 0, g * ans * np.log(np.where(zero, 1, x)))


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


def _float_pair(x, y, **_):
    known = [d for d in (x, y) if d is not None]
    return float_dtype(np.result_type(*known)) if known else None


def _where_shape(c, a, b):
    return broadcast_shapes(c, a, b)


def _where_dtype(c, a, b, **_):
    known = [d for d in (a, b) if d is not None]
    return np.result_type(*known) if known else None


# -- functions NumPy lacks ----------------------------------------------------------------------

_erf_scalar = np.frompyfunc(math.erf, 1, 1)
_erfc_scalar = np.frompyfunc(math.erfc, 1, 1)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)  # Python floats: float32 stays float32


def _nonzero(d):
    """``d`` with its zeros replaced by ones: a denominator whose numerator is 0 there too, so
    that the message is 0 where the derivative is undefined (differentiable, also on nodes)."""
    return np.where(d == 0, 1.0, d)


def _special(scalar_fn, x):
    if like(x) is not None:  # an array of another library: the ufunc dispatches to it
        return np.asarray(scalar_fn(x), dtype=float_dtype(x.dtype), like=x)
    x = np.asarray(x)
    return np.asarray(scalar_fn(x), dtype=float_dtype(x.dtype))


def erf(x):
    """erf x = 2/sqrt(pi) int_0^x e^(-t^2) dt

    Derivative: 2/sqrt(pi) e^(-x^2).

    Exact to double precision (the C library's erf per element, not vectorised).
    """
    return _special(_erf_scalar, x)


def erfc(x):
    """erfc x = 1 - erf x, accurate where erf x is near 1

    Derivative: -2/sqrt(pi) e^(-x^2).
    """
    return _special(_erfc_scalar, x)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_GELU_C, _GELU_A = math.sqrt(2 / math.pi), 0.044715


def gelu(x, approximate="none"):
    """x Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x/sqrt 2)); with
    approximate="tanh", 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (PyTorch's argument)

    Derivative: Phi(x) + x phi(x), phi the normal density; for "tanh",
    0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2), t the tanh above.

    An elementwise activation; it lives here because its message uses the erf op.
    """
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_GELU_C * (x + _GELU_A * x * x * x)))
    return 0.5 * x * (1 + erf(x * _SQRT_HALF))


def _gelu_vjp(g, ans, x, approximate="none"):
    if approximate == "tanh":
        t = np.tanh(_GELU_C * (x + _GELU_A * x * x * x))
        return g * (0.5 * (1 + t) + (0.5 * _GELU_C) * x * (1 - t * t) * (1 + 3 * _GELU_A * x * x))
    cdf = 0.5 * (1 + apply_op(ERF, x * _SQRT_HALF))
    return g * (cdf + x * (_INV_SQRT_2PI * np.exp(-0.5 * (x * x))))


def _gelu_shape(s, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return s


def _sinc_vjp(g, ans, x):
    zero = np.equal(x, 0)
    return np.where(zero, 0, g * (np.cos(math.pi * x) - ans) / np.where(zero, 1, x))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """x with NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (by default
    the largest and smallest finite numbers of x's dtype)

    Derivative: 1 where x is finite, 0 where it was replaced.
    """
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


def _finite(x):
    # |x| < inf is False for NaN and +-inf; written with ops that graph nodes dispatch to
    return np.less(np.abs(x), math.inf)


def _fmax_first(x, y, first):
    """Where x wins in fmax/fmin: the comparison ``first``, or y NaN (y != y)."""
    return np.where(np.not_equal(y, y), True, first)


def _above_one(rng, shape):
    return np.asarray(1.2 + rng.random(shape))


def _specials(rng):
    x = rng.standard_normal((2, 4))
    x[0, 1], x[1, 2], x[1, 3] = np.nan, np.inf, -np.inf
    return [
        ([x], {"nan": 0.5, "posinf": 10.0, "neginf": -10.0}),
        ([rng.standard_normal((2, 3))], {}),
    ]


def _remainder_samples(rng):
    yield [np.asarray(0.5 + 3 * rng.random((2, 3))), np.asarray(0.7 + rng.random(3))], {}
    yield [np.asarray(-3 * rng.random((2, 2))), np.asarray(0.6 + rng.random((2, 1)))], {}
    yield [np.asarray(2 * rng.random(3)), np.asarray(-(0.6 + rng.random(3)))], {}


def _round_samples(rng):
    yield [rng.standard_normal((2, 3))], {}
    yield [rng.standard_normal((3,)) * 10], {"decimals": 1}


def _fmax_samples(rng):
    yield from BINARY(rng)
    x = rng.standard_normal(4)
    # NaNs on either side; no tie, where no second derivative exists (ties: test_ops_catalogue)
    yield [x, np.array([np.nan, 0.3, x[2] + 0.4, np.nan])], {}
    yield [np.array([np.nan, 0.3, x[2] - 0.4, np.nan]), x], {}


_LN2, _LN10 = math.log(2), math.log(10)
_DEGREE = 180 / math.pi


ERF = elementwise_unary(
    "erf", erf, lambda g, ans, x: g * (_TWO_OVER_SQRT_PI * np.exp(-(x * x))), needs="x"
)


# -- astype ------------------------------------------------------------------------------------


def astype(x, dtype):
    """x converted to ``dtype`` (a copy), x.astype(dtype)

    Derivative: 1 between float dtypes (the message is g converted back to x's dtype); 0 to
    an integer or boolean result, which is piecewise constant (as JAX's zero cotangent).

    Not declared differentiable twice: a second derivative through a float cast is refused.
    """
    return x.astype(dtype) if hasattr(x, "astype") else np.asarray(x).astype(dtype)


def _astype_vjp(g, ans, x, dtype):
    if np.dtype(dtype).kind not in "fc":
        return 0 * g  # an integer result is piecewise constant in x
    back = getattr(x, "dtype", None)
    if back is None or back.kind not in "fc" or back == getattr(g, "dtype", back):
        return g
    return apply_op(ASTYPE, g, dtype=back)


def _astype_jvp(t, ans, x, dtype):
    if np.dtype(dtype).kind not in "fc":
        return 0 * t
    return apply_op(ASTYPE, t, dtype=dtype)


ASTYPE = Op(
    "astype",
    astype,
    (_astype_vjp,),
    lambda s, dtype: s,
    lambda d, dtype: np.dtype(dtype),
    needs=("",),
    jvp=(_astype_jvp,),
    samples=chain(cases(((2, 3),), dtype=np.dtype(np.int64)), cases(((3,),), dtype=np.dtype(bool))),
)


# -- select ------------------------------------------------------------------------------------


def select(*arrays, n):
    """np.select(condlist, choicelist, default): where the first true condition k holds,
    choice k; where none holds, default (``arrays`` are the n conditions, the n choices, then
    the default; all broadcast)

    Derivative: to choice k, g where condition k is the first true one; to the default, g
    where none holds; none to the conditions.

    Called as NumPy's: ``mg.ops.select([x < 0, x > 1], [x * 2, x], default=0.0)``.
    """
    return np.select(list(arrays[:n]), list(arrays[n : 2 * n]), arrays[2 * n])


def _select_vjp(argnum, g, ans, *arrays, n):
    if argnum < n:
        return None  # a condition carries no gradient
    taken = False  # where an earlier condition already chose
    for k in range(min(argnum - n, n)):
        taken = np.where(arrays[k], True, taken)
    if argnum == 2 * n:  # the default: where no condition holds
        chosen = np.where(taken, False, True) if n else True
    else:
        chosen = np.where(taken, False, arrays[argnum - n])
    return unbroadcast(np.broadcast_to(np.where(chosen, g, 0), ans.shape), arrays[argnum])


def _select_shape(*shapes, n):
    if not isinstance(n, (int, np.integer)) or n < 0 or len(shapes) != 2 * n + 1:
        raise ValueError(
            f"select needs n conditions, n choices and a default, got "
            f"{len(shapes)} arrays for n={n!r}"
        )
    return broadcast_shapes(*shapes)


def _select_dtype(*dtypes, n):
    known = [d for d in dtypes[n:] if d is not None]
    return np.result_type(*known) if known else None


def _select_public(apply, condlist, choicelist, default=0, name=None):
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ShapeError(
            f"mpgraph: op 'select': {len(condlist)} conditions but {len(choicelist)} choices"
        )
    return apply([*condlist, *choicelist, default], n=len(condlist), name=name)


def _select_samples(rng):
    x = rng.standard_normal((3, 4))
    yield (
        [
            x < 0,
            x > 1,
            rng.standard_normal((3, 4)),
            rng.standard_normal(4),
            rng.standard_normal((3, 1)),
        ],
        {"n": 2},
    )
    yield [x > 0, rng.standard_normal((3, 4)), np.asarray(rng.standard_normal(()))], {"n": 1}


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
        raise ValueError(
            f"the bounds (shapes {np.shape(a_min)}, {np.shape(a_max)}) would "
            f"broadcast x of shape {s} to {out}"
        )
    return out


OPS = [
    broadcasting_binary(
        "add",
        np.add,
        signal_as_is,
        signal_as_is,
        formula="x + y",
        derivative="1 to x, 1 to y: messages g, g (summed over broadcast dims).",
        needs=("", ""),
    ),
    broadcasting_binary(
        "subtract",
        np.subtract,
        signal_as_is,
        lambda g, ans, x, y: -g,
        formula="x - y",
        derivative="1 to x, -1 to y: messages g, -g.",
        needs=("", ""),
    ),
    broadcasting_binary(
        "multiply",
        np.multiply,
        signal_times_y,
        signal_times_x,
        formula="x * y",
        derivative="y to x, x to y: messages g y, g x.",
        needs=("y", "x"),
    ),
    broadcasting_binary(
        "divide",
        np.divide,
        lambda g, ans, x, y: g / y,
        lambda g, ans, x, y: -g * ans / y,
        formula="x / y",
        derivative="1/y to x, -x/y^2 to y: messages g / y, -g (x/y) / y.",
        notes="Integer inputs give a float64 result (true division), as in NumPy.",
        samples=BINARY_POSITIVE,
        needs=("y", "ans y"),
    ),
    broadcasting_binary(
        "power",
        np.power,
        _power_x,
        _power_y,
        formula="x ** y",
        derivative="y x^(y-1) to x; x^y log x to y.",
        samples=BINARY_POSITIVE,
        notes="Where y = 0 the message to x is 0; where x = 0 the message to y is "
        "0 (PyTorch's conventions). The message to y is NaN for x < 0.",
        needs=("x y", "ans x"),
        jvp=(_power_jvp_x, _power_jvp_y),
    ),
    broadcasting_binary(
        "maximum",
        np.maximum,
        lambda g, ans, x, y: _where_tie(g, x, y, x > y),
        lambda g, ans, x, y: _where_tie(g, x, y, y > x),
        formula="max(x, y), elementwise",
        derivative="1 to the larger argument, 0 to the other.",
        notes="On a tie (x = y) each argument gets half the signal, as in PyTorch.",
        needs=("x y", "x y"),
    ),
    broadcasting_binary(
        "minimum",
        np.minimum,
        lambda g, ans, x, y: _where_tie(g, x, y, x < y),
        lambda g, ans, x, y: _where_tie(g, x, y, y < x),
        formula="min(x, y), elementwise",
        derivative="1 to the smaller argument, 0 to the other.",
        notes="On a tie (x = y) each argument gets half the signal, as in PyTorch.",
        needs=("x y", "x y"),
    ),
    Op(
        "where",
        np.where,
        (
            None,
            lambda g, ans, c, x, y: unbroadcast(np.where(c, g, 0), x),
            lambda g, ans, c, x, y: unbroadcast(np.where(c, 0, g), y),
        ),
        _where_shape,
        _where_dtype,
        samples=lambda rng: [
            (
                [
                    rng.standard_normal((2, 3)) > 0,
                    rng.standard_normal((2, 3)),
                    rng.standard_normal(3),
                ],
                {},
            ),
            (
                [
                    np.array([True, False, True]),
                    rng.standard_normal((2, 1)),
                    rng.standard_normal(()),
                ],
                {},
            ),
        ],
        differentiable_vjp=True,
        needs=("", "c", "c"),
        jvp=(
            None,
            lambda t, ans, c, x, y: np.where(c, t, 0),
            lambda t, ans, c, x, y: np.where(c, 0, t),
        ),
        doc=doc(
            "x where cond else y, elementwise (NumPy broadcasting of all three).",
            "1 to x where cond, 1 to y elsewhere; none to cond.",
        ),
    ),
    Op(
        "clip",
        clip,
        (_clip_vjp,),
        _clip_shape,
        jvp=(_clip_vjp,),
        samples=chain(
            cases(((3, 4),), a_min=-0.5, a_max=0.5),
            cases(((2, 3),), a_min=0.0),
            lambda rng: [([rng.standard_normal((2, 3))], {"a_max": np.array([-0.5, 0.0, 0.5])})],
        ),
        differentiable_vjp=True,
        needs=("x",),
    ),
    elementwise_unary(
        "negative",
        np.negative,
        lambda g, ans, x: -g,
        formula="-x",
        derivative="-1.",
        dtype=None,
        needs="",
    ),
    elementwise_unary(
        "exp",
        np.exp,
        lambda g, ans, x: g * ans,
        formula="e^x",
        derivative="e^x (the output).",
        needs="ans",
    ),
    elementwise_unary(
        "expm1",
        np.expm1,
        lambda g, ans, x: g * (ans + 1),
        formula="e^x - 1, accurate near 0",
        derivative="e^x = output + 1.",
        needs="ans",
    ),
    elementwise_unary(
        "log",
        np.log,
        lambda g, ans, x: g / x,
        formula="ln x, for x > 0",
        derivative="1/x.",
        samples=UNARY_POSITIVE,
        needs="x",
    ),
    elementwise_unary(
        "log1p",
        np.log1p,
        lambda g, ans, x: g / (1 + x),
        formula="ln(1 + x), accurate near 0",
        derivative="1/(1 + x).",
        samples=UNARY_UNIT,
        needs="x",
    ),
    elementwise_unary(
        "sqrt",
        np.sqrt,
        lambda g, ans, x: g / (2 * ans),
        formula="sqrt x, for x >= 0",
        derivative="1/(2 sqrt x); infinite at 0.",
        samples=UNARY_POSITIVE,
        needs="ans",
    ),
    elementwise_unary(
        "square",
        np.square,
        lambda g, ans, x: g * (2 * x),
        formula="x^2",
        derivative="2x.",
        dtype=None,
        needs="x",
    ),
    elementwise_unary(
        "abs",
        np.abs,
        lambda g, ans, x: g * np.sign(x),
        formula="|x|",
        derivative="sign(x).",
        dtype=None,
        needs="x",
        notes="The message at x = 0 is 0 (sign(0) = 0), as in PyTorch.",
    ),
    elementwise_unary(
        "sign",
        np.sign,
        None,
        formula="sign(x): -1, 0 or 1, elementwise",
        derivative="none: sign is flat wherever it is differentiable, so it "
        "carries no gradient (like a comparison).",
        dtype=None,
        needs="",
    ),
    elementwise_unary(
        "sin",
        np.sin,
        lambda g, ans, x: g * np.cos(x),
        formula="sin x",
        derivative="cos x.",
        needs="x",
    ),
    elementwise_unary(
        "cos",
        np.cos,
        lambda g, ans, x: -g * np.sin(x),
        formula="cos x",
        derivative="-sin x.",
        needs="x",
    ),
    elementwise_unary(
        "tan",
        np.tan,
        lambda g, ans, x: g * (1 + ans * ans),
        formula="tan x",
        derivative="1 + tan^2 x.",
        samples=UNARY_UNIT,
        needs="ans",
    ),
    elementwise_unary(
        "tanh",
        np.tanh,
        lambda g, ans, x: g * (1 - ans * ans),
        formula="tanh x",
        derivative="1 - tanh^2 x (from the output).",
        needs="ans",
    ),
    elementwise_unary(
        "sinh",
        np.sinh,
        lambda g, ans, x: g * np.cosh(x),
        formula="sinh x",
        derivative="cosh x.",
        needs="x",
    ),
    elementwise_unary(
        "cosh",
        np.cosh,
        lambda g, ans, x: g * np.sinh(x),
        formula="cosh x",
        derivative="sinh x.",
        needs="x",
    ),
    elementwise_unary(
        "arctan",
        np.arctan,
        lambda g, ans, x: g / (1 + x * x),
        formula="arctan x",
        derivative="1/(1 + x^2).",
        needs="x",
    ),
    elementwise_unary(
        "log2",
        np.log2,
        lambda g, ans, x: g / (x * _LN2),
        formula="log2 x, for x > 0",
        derivative="1/(x ln 2).",
        samples=UNARY_POSITIVE,
        needs="x",
    ),
    elementwise_unary(
        "log10",
        np.log10,
        lambda g, ans, x: g / (x * _LN10),
        formula="log10 x, for x > 0",
        derivative="1/(x ln 10).",
        samples=UNARY_POSITIVE,
        needs="x",
    ),
    elementwise_unary(
        "exp2",
        np.exp2,
        lambda g, ans, x: g * (ans * _LN2),
        formula="2^x",
        derivative="2^x ln 2 (from the output).",
        needs="ans",
    ),
    elementwise_unary(
        "reciprocal",
        np.reciprocal,
        lambda g, ans, x: -g * (ans * ans),
        formula="1/x",
        derivative="-1/x^2 (from the output).",
        dtype=None,
        samples=UNARY_POSITIVE,
        needs="ans",
        notes="Integer inputs stay integers (NumPy's integer reciprocal).",
    ),
    elementwise_unary(
        "arcsin",
        np.arcsin,
        lambda g, ans, x: g / np.sqrt(1 - x * x),
        formula="arcsin x, for -1 <= x <= 1",
        derivative="1/sqrt(1 - x^2); infinite at +-1.",
        samples=UNARY_UNIT,
        needs="x",
    ),
    elementwise_unary(
        "arccos",
        np.arccos,
        lambda g, ans, x: -g / np.sqrt(1 - x * x),
        formula="arccos x, for -1 <= x <= 1",
        derivative="-1/sqrt(1 - x^2); infinite at +-1.",
        samples=UNARY_UNIT,
        needs="x",
    ),
    elementwise_unary(
        "arcsinh",
        np.arcsinh,
        lambda g, ans, x: g / np.sqrt(x * x + 1),
        formula="arcsinh x",
        derivative="1/sqrt(x^2 + 1).",
        needs="x",
    ),
    elementwise_unary(
        "arccosh",
        np.arccosh,
        lambda g, ans, x: g / np.sqrt(x * x - 1),
        formula="arccosh x, for x >= 1",
        derivative="1/sqrt(x^2 - 1); infinite at 1.",
        samples=cases(((2, 3),), ((),), draw=_above_one),
        needs="x",
    ),
    elementwise_unary(
        "arctanh",
        np.arctanh,
        lambda g, ans, x: g / (1 - x * x),
        formula="arctanh x, for -1 < x < 1",
        derivative="1/(1 - x^2).",
        samples=UNARY_UNIT,
        needs="x",
    ),
    elementwise_unary(
        "degrees",
        np.degrees,
        lambda g, ans, x: g * _DEGREE,
        formula="x 180/pi (radians to degrees)",
        derivative="180/pi.",
        needs="",
    ),
    elementwise_unary(
        "radians",
        np.radians,
        lambda g, ans, x: g * (1 / _DEGREE),
        formula="x pi/180 (degrees to radians)",
        derivative="pi/180.",
        needs="",
    ),
    elementwise_unary(
        "sinc",
        np.sinc,
        _sinc_vjp,
        formula="sin(pi x)/(pi x), 1 at x = 0",
        derivative="(cos(pi x) - sinc x)/x; 0 at x = 0.",
        needs="ans x",
        notes="At x = 0 the message is the exact 0, but its own derivative there "
        "is 0 rather than -pi^2/3: differentiate sinc twice away from 0.",
    ),
    elementwise_unary(
        "fabs",
        np.fabs,
        lambda g, ans, x: g * np.sign(x),
        formula="|x|, as a float",
        derivative="sign(x).",
        needs="x",
        notes="The message at x = 0 is 0, as for abs. Integers become float64.",
    ),
    ERF,
    ASTYPE,
    Op(
        "gelu",
        gelu,
        (_gelu_vjp,),
        _gelu_shape,
        float_dtype,
        needs=("x",),
        differentiable_vjp=True,
        samples=chain(
            UNARY,
            cases(((2, 3),), approximate="tanh"),
            lambda rng: [([np.array([-30.0, -3.0, 0.0, 3.0, 30.0])], {})],
        ),
    ),
    elementwise_unary(
        "erfc", erfc, lambda g, ans, x: g * (-_TWO_OVER_SQRT_PI * np.exp(-(x * x))), needs="x"
    ),
    elementwise_unary(
        "nan_to_num",
        nan_to_num,
        lambda g, ans, x, nan=0.0, posinf=None, neginf=None: np.where(_finite(x), g, 0),
        samples=_specials,
        needs="x",
        dtype=None,
    ),
    zero_gradient("floor", np.floor, formula="the largest integer <= x, elementwise"),
    zero_gradient("ceil", np.ceil, formula="the smallest integer >= x, elementwise"),
    zero_gradient("trunc", np.trunc, formula="x rounded towards 0, elementwise"),
    zero_gradient(
        "round",
        lambda x, decimals=0: np.round(x, decimals),
        formula="x rounded to ``decimals`` decimals, halves to even (NumPy's rule)",
        samples=_round_samples,
    ),
    broadcasting_binary(
        "logaddexp",
        np.logaddexp,
        lambda g, ans, x, y: g * np.exp(x - ans),
        lambda g, ans, x, y: g * np.exp(y - ans),
        formula="log(e^x + e^y), finite for large |x|, |y|",
        derivative="e^(x - out) to x, e^(y - out) to y (a softmax of the two).",
        dtype=_float_pair,
        needs=("ans x", "ans y"),
    ),
    broadcasting_binary(
        "logaddexp2",
        np.logaddexp2,
        lambda g, ans, x, y: g * np.exp2(x - ans),
        lambda g, ans, x, y: g * np.exp2(y - ans),
        formula="log2(2^x + 2^y), finite for large |x|, |y|",
        derivative="2^(x - out) to x, 2^(y - out) to y.",
        dtype=_float_pair,
        needs=("ans x", "ans y"),
    ),
    broadcasting_binary(
        "arctan2",
        np.arctan2,
        lambda g, ans, y, x: g * x / _nonzero(x * x + y * y),
        lambda g, ans, y, x: -g * y / _nonzero(x * x + y * y),
        formula="the angle of the point (x, y) from the x axis, in (-pi, pi] (arguments y, x)",
        derivative="x / (x^2 + y^2) to y, -y / (x^2 + y^2) to x.",
        notes="At the origin, where it has none, both derivatives are taken as 0.",
        dtype=_float_pair,
        needs=("x y", "x y"),
    ),
    broadcasting_binary(
        "hypot",
        np.hypot,
        lambda g, ans, x, y: g * x / _nonzero(ans),
        lambda g, ans, x, y: g * y / _nonzero(ans),
        formula="sqrt(x^2 + y^2) without overflow or underflow in the squares",
        derivative="x / out to x, y / out to y.",
        notes="At the origin, where it has none, both derivatives are taken as 0 (as abs at 0).",
        dtype=_float_pair,
        needs=("ans x", "ans y"),
    ),
    broadcasting_binary(
        "fmax",
        np.fmax,
        lambda g, ans, x, y: _where_tie(g, x, y, _fmax_first(x, y, x > y)),
        lambda g, ans, x, y: _where_tie(g, y, x, _fmax_first(y, x, y > x)),
        formula="max(x, y), elementwise, ignoring NaN (the other argument wins)",
        derivative="1 to the larger (or only non-NaN) argument, 0 to the other.",
        notes="On a tie each argument gets half the signal, as for maximum.",
        samples=_fmax_samples,
        needs=("x y", "x y"),
    ),
    broadcasting_binary(
        "fmin",
        np.fmin,
        lambda g, ans, x, y: _where_tie(g, x, y, _fmax_first(x, y, x < y)),
        lambda g, ans, x, y: _where_tie(g, y, x, _fmax_first(y, x, y < x)),
        formula="min(x, y), elementwise, ignoring NaN (the other argument wins)",
        derivative="1 to the smaller (or only non-NaN) argument, 0 to the other.",
        notes="On a tie each argument gets half the signal, as for minimum.",
        samples=_fmax_samples,
        needs=("x y", "x y"),
    ),
    broadcasting_binary(
        "remainder",
        np.remainder,
        lambda g, ans, x, y: g,
        lambda g, ans, x, y: -g * np.floor(x / y),
        formula="x mod y, with the sign of y (NumPy's and Python's %); x % y on nodes",
        derivative="1 to x, -floor(x/y) to y.",
        samples=_remainder_samples,
        notes="At the jumps (x/y an integer) the messages are those of the "
        "piece on the right, as in PyTorch.",
        needs=("", "x y"),
    ),
    Op(
        "select",
        select,
        _select_vjp,
        _select_shape,
        _select_dtype,
        variadic=True,
        differentiable_vjp=True,
        public=_select_public,
        samples=_select_samples,
    ),
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
