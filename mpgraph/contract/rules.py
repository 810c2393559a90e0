"""Named constructors for the common shapes of op: what every op of one shape sets, set once.

In the spirit of JAX's ``defjvp``/``deflinear`` and HIPS autograd's table of NumPy vjps, an op
author writes only what differs between ops of one shape (the forward, the local derivative,
the doc) and the constructor fills in the rest: the shape rule, the dtype rule, the samples the
registry-wide checks run, ``differentiable_vjp`` and, for broadcasting ops, summing each
message back to its argument's shape.

Every constructor returns an :class:`~mpgraph.contract.op.Op` whose doc has the layout
``docs/make_ops_table.py`` reads: the formula, a blank line, ``Derivative: ...``, then optional
notes (conventions at kinks and ties, dtypes). Give it either with ``formula=`` and
``derivative=`` or as the forward's docstring.

Examples
--------
>>> import numpy as np
>>> from mpgraph.extend import elementwise_unary, broadcasting_binary
>>> cube = elementwise_unary("my_cube", lambda x: x ** 3, lambda g, ans, x: g * (3 * x * x),
...                          formula="x^3", derivative="3 x^2.", needs="x")
>>> cube.differentiable_vjp, cube.shape((2, None))
(True, (2, None))
>>> hyp = broadcasting_binary("my_hypot", np.hypot, lambda g, ans, x, y: g * x / ans,
...                           lambda g, ans, x, y: g * y / ans, formula="sqrt(x^2 + y^2)",
...                           derivative="x / out to x, y / out to y.")
>>> hyp.vjp[0](np.ones((2, 3)), np.hypot(np.ones((2, 3)), 1.0), np.ones(3), np.ones((2, 1)))
array([1.41421356, 1.41421356, 1.41421356])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .op import Op, is_graph_node
from .samples import BINARY, UNARY, float_dtype
from .samples import doc as make_doc
from .shapes import broadcast_shapes, reduce_shape, same_shape, unbroadcast

__all__ = [
    "apply_op",
    "broadcasting_binary",
    "comparison",
    "elementwise_unary",
    "reduction",
    "signal_as_is",
    "signal_times_x",
    "signal_times_y",
    "zero_gradient",
]


def signal_as_is(g, ans, x, y):
    """The vjp of an argument whose message is the error signal itself (``add``'s, the
    first of ``subtract``'s). :func:`broadcasting_binary` recognises it and sends the signal,
    summed over broadcast dims, without calling a vjp."""
    return g


def signal_times_y(g, ans, x, y):
    """The vjp ``g y`` (``multiply``'s to x), which :func:`broadcasting_binary` computes in
    its message without calling a vjp, as it does :func:`signal_times_x`."""
    return g * y


def signal_times_x(g, ans, x, y):
    """The vjp ``g x`` (``multiply``'s to y); see :func:`signal_times_y`."""
    return g * x


def apply_op(op: Op, *arrays, **attrs):
    """``op`` on ``arrays``: its forward on values, a new node when any array is a graph node.

    What a vjp calls to use an op that NumPy does not have (``erf`` in ``gelu``'s message), so
    that the vjp stays differentiable without importing the engine.

    Examples
    --------
    >>> import numpy as np
    >>> from mpgraph.extend import apply_op, elementwise_unary
    >>> halve = elementwise_unary("my_halve", lambda x: x / 2, lambda g, ans, x: g / 2,
    ...                           formula="x / 2", derivative="1/2.")
    >>> apply_op(halve, np.array([2.0, 4.0]))
    array([1., 2.])
    """
    for a in arrays:
        if is_graph_node(a):
            return a.graph.apply(op, arrays, attrs)
    return op.forward(*arrays, **attrs)


def _doc(forward: Callable, formula: str | None, derivative: str | None, notes: str) -> str:
    if formula is None or derivative is None:
        if formula is not None or derivative is not None:
            raise TypeError(
                "give both formula= and derivative=, or neither (the forward's "
                "docstring is then the op's doc)"
            )
        return getattr(forward, "__doc__", None) or ""
    return make_doc(formula, derivative, notes)


def _needs(needs: str | Sequence[str] | None, n: int):
    return (needs,) * n if isinstance(needs, str) else needs


def elementwise_unary(
    name: str,
    forward: Callable,
    vjp: Callable | None,
    *,
    formula: str | None = None,
    derivative: str | None = None,
    notes: str = "",
    samples: Callable = UNARY,
    dtype: Callable | None = float_dtype,
    needs: str | None = None,
    differentiable: bool = True,
    jvp: Callable | None = None,
) -> Op:
    """An elementwise op of one array: output shape = input shape.

    Parameters
    ----------
    name : str
        The op's name (NumPy's where NumPy has the function).
    forward : callable
        ``forward(x, **attrs)``; a NumPy ufunc works as it is.
    vjp : callable or None
        ``vjp(g, ans, x, **attrs)``, the message ``g * f'(x)``, written with operators and NumPy
        functions so that it is differentiable (``differentiable=False`` otherwise); ``None``
        for an op that carries no gradient (``sign``).
    formula, derivative, notes : str
        The op's doc; by default the forward's docstring.
    samples : callable
        Inputs for the registry-wide checks; by default normal arrays of shapes (2, 3), ()
        and (4, 1, 2).
    dtype : callable or None
        The dtype rule: by default integers become float64 and float32 stays float32
        (:func:`~mpgraph.contract.samples.float_dtype`); ``None`` for NumPy's promotion.
    needs : str, optional
        What the vjp reads: ``"x"``, ``"ans"``, ``"ans x"`` or ``""``.
    differentiable : bool
        Whether the vjp is written so that it can itself be differentiated.
    jvp : callable, optional
        ``jvp(t, ans, x, **attrs)``, the tangent ``t * f'(x)``. By default the vjp given the
        tangent: an elementwise function's Jacobian is diagonal, so the two are the same map.

    Returns
    -------
    Op

    See Also
    --------
    zero_gradient : an elementwise op whose derivative is 0 wherever it exists.
    """
    return Op(
        name,
        forward,
        (vjp,),
        same_shape,
        dtype,
        samples=samples,
        differentiable_vjp=differentiable and vjp is not None,
        doc=_doc(forward, formula, derivative, notes),
        needs=_needs(needs, 1),
        jvp=(jvp or vjp,),
    )


def zero_gradient(
    name: str,
    forward: Callable,
    *,
    formula: str | None = None,
    notes: str = "",
    samples: Callable = UNARY,
    dtype: Callable | None = None,
) -> Op:
    """A piecewise-constant elementwise op (``floor``, ``round``): the message is 0.

    Unlike an op whose vjp entry is ``None`` (a comparison), a gradient taken through it is an
    array of zeros, as in PyTorch, JAX and autograd.

    Parameters
    ----------
    name, forward, formula, notes, samples, dtype
        As for :func:`elementwise_unary`.

    Returns
    -------
    Op
    """
    return elementwise_unary(
        name,
        forward,
        lambda g, ans, x, **_: 0 * g,
        formula=formula,
        derivative="0 (piecewise constant; 0 also at the jumps, as PyTorch and JAX send).",
        notes=notes,
        samples=samples,
        dtype=dtype,
        needs="",
    )


def _unbroadcasting(vjp: Callable, argnum: int, attrs: bool) -> Callable:
    """``vjp``'s message summed back to argument ``argnum``'s shape. The backward pass calls
    it for every edge of the op, so the message of the argument's own shape (the common
    case) is returned at once, and a wrapper for an op without attributes (a ufunc)
    passes none."""
    if attrs:

        def message(g, ans, x, y, **attrs):
            return unbroadcast(vjp(g, ans, x, y, **attrs), (x, y)[argnum])

    elif vjp is signal_times_y or vjp is signal_times_x:  # one call per message, not two
        by_y = vjp is signal_times_y

        def message(g, ans, x, y):
            m = g * y if by_y else g * x
            arg = y if argnum else x
            try:
                if m.shape == arg.shape:
                    return m
            except AttributeError:  # a Python number
                pass
            return unbroadcast(m, arg)

    elif vjp is signal_as_is:  # one call per message rather than two

        def message(g, ans, x, y):
            arg = y if argnum else x
            try:
                if g.shape == arg.shape:
                    return g
            except AttributeError:  # a Python number
                pass
            return unbroadcast(g, arg)

    elif argnum == 0:

        def message(g, ans, x, y):
            m = vjp(g, ans, x, y)
            try:
                if m.shape == x.shape:
                    return m
            except AttributeError:  # a Python number
                pass
            return unbroadcast(m, x)

    else:

        def message(g, ans, x, y):
            m = vjp(g, ans, x, y)
            try:
                if m.shape == y.shape:
                    return m
            except AttributeError:  # a Python number
                pass
            return unbroadcast(m, y)

    message.__name__ = getattr(vjp, "__name__", "vjp")
    return message


def broadcasting_binary(
    name: str,
    forward: Callable,
    vjp_x: Callable | None,
    vjp_y: Callable | None,
    *,
    formula: str | None = None,
    derivative: str | None = None,
    notes: str = "",
    samples: Callable = BINARY,
    dtype: Callable | None = None,
    needs: Sequence[str] | None = None,
    differentiable: bool = True,
    jvp: Sequence[Callable | None] | None = None,
) -> Op:
    """An elementwise op of two arrays with NumPy broadcasting.

    Parameters
    ----------
    name, forward
        As for :func:`elementwise_unary`; ``forward(x, y, **attrs)``.
    vjp_x, vjp_y : callable or None
        ``vjp(g, ans, x, y, **attrs)``: the message to that argument on the broadcast shape
        (``g * df/dx``); the constructor sums it back to the argument's shape. ``None`` for an
        argument that carries no gradient.
    formula, derivative, notes, samples, differentiable
        As for :func:`elementwise_unary`; the samples default to pairs of shapes that broadcast.
    dtype : callable or None
        The dtype rule; by default NumPy's promotion.
    needs : tuple of two str, optional
        What each vjp reads (``"x y"``, ``"ans y"``, ...).
    jvp : tuple of two callables, optional
        ``jvp(t, ans, x, y, **attrs)``, the output's tangent from that argument's tangent ``t``.
        By default the vjps given the tangent, before they are summed back: each is
        elementwise, ``t * df/dx`` broadcast as the output is.

    Returns
    -------
    Op
    """
    attrs = not isinstance(forward, np.ufunc)  # a ufunc takes arrays only
    vjps = tuple(
        None if f is None else _unbroadcasting(f, k, attrs) for k, f in enumerate((vjp_x, vjp_y))
    )
    return Op(
        name,
        forward,
        vjps,
        broadcast_shapes,
        dtype,
        samples=samples,
        differentiable_vjp=differentiable and any(vjps),
        doc=_doc(forward, formula, derivative, notes),
        needs=needs,
        jvp=tuple(jvp) if jvp is not None else (vjp_x, vjp_y),
    )


def comparison(name: str, forward: Callable, symbol: str) -> Op:
    """An elementwise comparison of two arrays: boolean, broadcasting, no gradient.

    Parameters
    ----------
    name : str
    forward : callable
        ``forward(x, y)``, e.g. ``np.less``.
    symbol : str
        The operator in the doc (``"<"``).

    Returns
    -------
    Op
    """
    return Op(
        name,
        forward,
        (None, None),
        broadcast_shapes,
        lambda *d, **_: np.dtype(bool),
        samples=BINARY,
        needs=("", ""),
        doc=make_doc(
            f"x {symbol} y, elementwise, boolean (NumPy broadcasting).",
            "none: a comparison carries no gradient to either argument.",
        ),
    )


def _reduction_shape(s, axis=None, keepdims=False, **_):
    return reduce_shape(s, tuple(axis) if isinstance(axis, list) else axis, keepdims)


def reduction(
    name: str,
    forward: Callable,
    vjp: Callable,
    *,
    samples: Callable,
    shape: Callable = _reduction_shape,
    dtype: Callable | None = None,
    formula: str | None = None,
    derivative: str | None = None,
    notes: str = "",
    needs: str | None = None,
    differentiable: bool = True,
    jvp: Callable | None = None,
) -> Op:
    """A reduction over NumPy's ``axis`` (int, tuple or None) with ``keepdims``.

    Parameters
    ----------
    name, forward, vjp
        ``forward(x, axis=None, keepdims=False, **attrs)`` and
        ``vjp(g, ans, x, axis=None, keepdims=False, **attrs)``.
    samples : callable
        Inputs for the registry-wide checks, with the axes to reduce.
    shape : callable
        The shape rule; by default the reduced shape, extra attributes ignored.
    dtype, formula, derivative, notes, needs, differentiable
        As for :func:`elementwise_unary`; the dtype defaults to NumPy's.
    jvp : callable, optional
        ``jvp(t, ans, x, axis=None, keepdims=False, **attrs)``; by default derived from the
        vjp: each output element depends only on the elements it reduces, so the vjp of an
        all-ones signal holds every local derivative and the tangent is their weighted sum.

    Returns
    -------
    Op
    """
    return Op(
        name,
        forward,
        (vjp,),
        shape,
        dtype,
        samples=samples,
        differentiable_vjp=differentiable,
        doc=_doc(forward, formula, derivative, notes),
        needs=_needs(needs, 1),
        jvp=(jvp or _reduction_jvp(vjp),),
    )


def _reduction_jvp(vjp: Callable) -> Callable:
    def jvp(t, ans, x, axis=None, keepdims=False, **attrs):
        ones = np.ones_like(ans, dtype=np.result_type(ans, t))
        local = vjp(ones, ans, x, axis=axis, keepdims=keepdims, **attrs)
        return np.sum(
            t * local, axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims
        )

    return jvp
