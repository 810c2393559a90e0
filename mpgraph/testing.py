"""Gradient checking: the backward pass against central finite differences.

Public so that plugin authors check their ops the way mpgraph checks its own:

>>> import numpy as np, mpgraph as mg
>>> from mpgraph.testing import check_grads, check_op
>>> _ = check_grads(lambda x, y: mg.ops.sum(mg.ops.tanh(x) * y), np.ones(3), np.arange(3.0))
>>> check_op("matmul", [np.ones((2, 3)), np.ones((3, 4))])
>>> check_jvp("matmul", [np.ones((2, 3)), np.ones((3, 4))])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import NUMPY, library_named, library_of, to_numpy
from .contract.op import Op
from .engine.graph import Graph
from .engine.node import Node
from .engine.tangents import transposed_vjp
from .engine.trace import value_and_grad
from .errors import ArityError, GraphError, MpgraphError
from .hooks.manager import get_op, ops

__all__ = [
    "CheckResult",
    "check_grads",
    "check_jvp",
    "check_library",
    "check_op",
    "check_ops",
    "numerical_grad",
    "samples",
]


def numerical_grad(
    f: Callable[..., Any], args: Sequence[Any], k: int, eps: float = 1e-6
) -> np.ndarray:
    """Central differences of scalar ``f(*args)`` with respect to ``args[k]``."""
    # C order: reshape(-1) below must be a view of x, also for a transposed argument
    x = np.array(args[k], dtype=np.float64, order="C")
    out = np.zeros_like(x)
    flat, gflat = x.reshape(-1), out.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f(*_with(args, k, x.copy()))
        flat[i] = old - eps
        lo = f(*_with(args, k, x.copy()))
        flat[i] = old
        gflat[i] = (float(hi) - float(lo)) / (2 * eps)
    return out


def check_grads(
    fn: Callable[..., Any],
    *args: Any,
    argnums: Sequence[int] | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> tuple:
    """Assert that ``mg.grad(fn)`` matches central differences for every float argument.

    Returns
    -------
    tuple of numpy.ndarray
        The gradients mpgraph computed, in the order of ``argnums``.

    Raises
    ------
    AssertionError
        Naming the argument and showing both gradients.
    """
    if argnums is None:
        argnums = [k for k, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
    _, grads = value_and_grad(fn, tuple(argnums))(*args)
    for k, got in zip(argnums, grads):
        want = numerical_grad(fn, args, k, eps)
        np.testing.assert_allclose(
            got,
            want,
            rtol=rtol,
            atol=atol,
            err_msg=(
                f"mpgraph: gradient of {getattr(fn, '__name__', 'fn')} with respect to argument {k} "
                "differs from central differences"
            ),
        )
    return tuple(grads)


def check_op(
    op: str | Op,
    args: Sequence[Any],
    attrs: dict | None = None,
    *,
    order: int = 1,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> None:
    """Check one op on concrete arguments, through a real Graph.

    Checks that the shape rule agrees with ``forward``, and that the messages its vjp sends to
    every float argument it declares differentiable match central differences of
    ``sum(w * op(*args))`` for a random ``w``. With ``order`` k > 1, the derivatives of
    orders 2 to k too: the gradient of ``f_j = sum_i <v_i, d f_(j-1) / d arg_i>`` (nested
    ``grad``, random ``v``) against central differences of ``f_j``, with ten times ``rtol``
    and ``atol`` (the differences of a derivative are noisier).

    Parameters
    ----------
    op : str or Op
    args : sequence
        The array arguments.
    attrs : dict, optional
    order : int
        The highest order of derivative checked; above 1 the op must declare
        ``differentiable_vjp``.
    seed : int
        For the random error signal ``w`` and the directions ``v``.
    eps, rtol, atol : float
        The step of the central differences, and the tolerances.

    Raises
    ------
    AssertionError
        The shape rule or a gradient is wrong; the message names the op, the argument and
        the order.
    GraphError
        ``order`` > 1 for an op whose vjp is not differentiable.

    See also
    --------
    check_ops, check_jvp

    Examples
    --------
    >>> import numpy as np
    >>> check_op("tanh", [np.array([0.5, -1.0])], order=3)
    """
    op = get_op(op)
    attrs = dict(attrs or {})
    if order > 1 and not op.differentiable_vjp:
        raise GraphError(
            f"mpgraph: check_op: op '{op.name}' does not declare differentiable_vjp, so it has "
            f"no derivatives beyond the first; got order={order}"
        )
    if not op.variadic and len(args) != op.nargs:
        raise ArityError(
            f"mpgraph: check_op: op '{op.name}' takes {op.nargs} array argument"
            f"{'s' if op.nargs != 1 else ''} (one per vjp entry), got {len(args)}; "
            "attributes go in attrs"
        )
    args = [np.asarray(a) if not np.isscalar(a) else a for a in args]
    out = np.asarray(op.forward(*args, **attrs))
    w = np.random.default_rng(seed).standard_normal(out.shape)
    g = Graph()
    diff = [
        k
        for k, a in enumerate(args)
        if np.asarray(a).dtype.kind == "f" and (op.variadic or op.vjp[k] is not None)
    ]
    inputs = {
        k: g.input(f"a{k}", np.shape(a), np.asarray(a).dtype)
        for k, a in enumerate(args)
        if k in diff
    }
    # Each float argument reaches the op through an op node (times 1), whose value g.grad
    # frees when the op's ``needs`` says that no vjp reads it: a vjp that reads it anyway
    # then gets a stand-in (NaN) and fails the check.
    nodes = [
        g.apply("multiply", [inputs[k], 1.0]) if k in diff else g.constant(a)
        for k, a in enumerate(args)
    ]
    y = g.apply(op, nodes, {**op.attr_defaults, **attrs}, name="y")
    if y.shape is not None:
        assert tuple(y.shape) == out.shape, (
            f"mpgraph: op '{op.name}': shape rule gives {y.shape}, forward gives {out.shape}"
        )
    if not diff:
        return
    loss = g.apply("sum", [g.apply("multiply", [y, w])])
    feed = {inputs[k]: args[k] for k in diff}
    grads = g.grad(loss, wrt=[inputs[k] for k in diff], feed=feed)
    if op.reads is not None:  # g.grad frees what needs leaves out; run.backward frees nothing
        kept = g.forward(loss, feed).backward(loss, wrt=[inputs[k] for k in diff])
        for k, got, full in zip(diff, grads, kept.grads_of([inputs[k] for k in diff])):
            if not np.allclose(got, full, rtol=rtol, atol=atol, equal_nan=True):
                raise AssertionError(
                    f"mpgraph: op '{op.name}': the message to argument {k} differs between "
                    f"g.grad, which frees every value the op's needs={op.needs!r} leaves out "
                    f"(a freed value reads as NaN), and run.backward, which frees nothing: "
                    f"needs is the likely cause: a vjp reads a value its needs entry does not "
                    f"name\n g.grad: {np.array2string(np.asarray(got), threshold=12)}\n "
                    f"run.backward: {np.array2string(np.asarray(full), threshold=12)}"
                )

    def f(*a):
        return np.sum(w * op.forward(*a, **attrs))

    for k, got in zip(diff, grads):
        if np.shape(got) != np.shape(args[k]):
            raise MpgraphError(
                f"mpgraph: op '{op.name}': message to argument {k} has shape "
                f"{np.shape(got)}, expected {np.shape(args[k])}"
            )
        np.testing.assert_allclose(
            got,
            numerical_grad(f, args, k, eps),
            rtol=rtol,
            atol=atol,
            err_msg=f"mpgraph: op '{op.name}': vjp for argument {k} "
            "differs from central differences (ACTUAL: the message "
            "the vjp sends for a random error signal w; DESIRED: "
            "central differences of sum(w * forward))",
        )
    if order > 1:
        _check_higher(op, args, attrs, tuple(diff), w, order, seed, eps, 10 * rtol, 10 * atol)


def _check_higher(op, args, attrs, diff, w, order, seed, eps, rtol, atol):
    """Derivatives of orders 2..order by nesting grad, each against central differences of
    the one before (contracted with random directions)."""

    def call(*a):
        node = next((x for x in a if type(x) is Node), None)
        return op.forward(*a, **attrs) if node is None else node.graph.apply(op, a, attrs)

    rng = np.random.default_rng(seed + 1)
    f = _contracted(call, w)
    for j in range(2, order + 1):
        f = _directional(f, diff, [rng.standard_normal(np.shape(args[k])) for k in diff])
        _, grads = value_and_grad(f, diff)(*args)
        for k, got in zip(diff, grads):
            np.testing.assert_allclose(
                got,
                numerical_grad(f, args, k, eps),
                rtol=rtol,
                atol=atol,
                err_msg=f"mpgraph: op '{op.name}': derivative of order {j} with respect to "
                f"argument {k} differs from central differences of the order {j - 1} one "
                "(contracted with random directions)",
            )


def _contracted(call, w):
    return lambda *a: np.sum(w * call(*a))


def _directional(f, diff, vs):
    def g(*a):
        _, grads = value_and_grad(f, diff)(*a)
        return sum(np.sum(v * d) for v, d in zip(vs, grads))

    return g


def check_jvp(
    op: str | Op,
    args: Sequence[Any],
    attrs: dict | None = None,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> None:
    """Check one op's forward mode on concrete arguments, through a real Graph.

    The tangent a run pushes through the op (its ``jvp`` rule, or the transpose of its
    differentiable vjp) must match central differences of ``forward`` along random tangents
    of every float argument that carries one, and agree with the vjp:
    ``<u, J v> = <J^T u, v>``. When the op has both a jvp rule and a differentiable vjp, the
    two routes to ``J v`` must agree too.

    Parameters
    ----------
    op : str or Op
    args : sequence
        The array arguments.
    attrs : dict, optional
    seed : int
        For the random tangents and the random cotangent ``u``.
    eps, rtol, atol : float
        The step of the central differences, and the tolerances.

    Raises
    ------
    AssertionError
        A tangent is wrong; the message names the op and which comparison failed.
    GraphError
        The op has neither a jvp rule nor a differentiable vjp: it has no forward mode.

    See also
    --------
    check_op, mpgraph.Run.jvp

    Examples
    --------
    >>> import numpy as np
    >>> check_jvp("tanh", [np.array([0.5, -1.0])])
    """
    op = get_op(op)
    attrs = dict(attrs or {})
    args = [np.asarray(a) if not np.isscalar(a) else a for a in args]
    diff = [
        k for k, a in enumerate(args) if np.asarray(a).dtype.kind == "f" and op.carries_tangent(k)
    ]
    if not diff:
        return
    rng = np.random.default_rng(seed)
    vs = {k: rng.standard_normal(np.shape(args[k])) for k in diff}
    g = Graph()
    nodes = [
        g.input(f"a{k}", np.shape(a), np.asarray(a).dtype) if k in diff else g.constant(a)
        for k, a in enumerate(args)
    ]
    y = g.apply(op, nodes, {**op.attr_defaults, **attrs}, name="y")
    feed = {nodes[k]: args[k] for k in diff}
    run = g.forward(y, feed).jvp({nodes[k]: vs[k] for k in diff})
    ans = np.asarray(run[y])
    jv = run.tangent(y)
    if jv is None:  # no message reached y: every local derivative is zero (a sign, n = 0)
        jv = np.zeros(ans.shape, ans.dtype)
    assert np.shape(jv) == ans.shape, (
        f"mpgraph: op '{op.name}': the output's tangent has shape {np.shape(jv)}, expected "
        f"{ans.shape}"
    )

    def moved(sign):
        return np.asarray(
            op.forward(
                *[a + sign * eps * vs[k] if k in diff else a for k, a in enumerate(args)], **attrs
            ),
            dtype=float,
        )

    np.testing.assert_allclose(
        jv,
        (moved(1) - moved(-1)) / (2 * eps),
        rtol=rtol,
        atol=atol,
        err_msg=f"mpgraph: op '{op.name}': the tangent differs from central differences of forward",
    )
    u = rng.standard_normal(ans.shape)
    grads = g.grad(
        g.apply("sum", [g.apply("multiply", [y, u])]), wrt=[nodes[k] for k in diff], feed=feed
    )
    back = sum(float(np.sum(gk * vs[k])) for gk, k in zip(grads, diff))
    np.testing.assert_allclose(
        float(np.sum(u * jv)),
        back,
        rtol=1e-9,
        atol=1e-10,
        err_msg=f"mpgraph: op '{op.name}': <u, J v> (its jvp) differs from <J^T u, v> (its vjp)",
    )
    if op.jvp is not None and op.differentiable_vjp:
        values = [run[n] for n in nodes]
        transposed = sum(
            np.broadcast_to(transposed_vjp(y, k, vs[k], ans, values), ans.shape) for k in diff
        )
        np.testing.assert_allclose(
            transposed,
            jv,
            rtol=1e-9,
            atol=1e-11,
            err_msg=f"mpgraph: op '{op.name}': its jvp rule and its transposed vjp differ",
        )


def samples(op: Op, rng: np.random.Generator):
    """The (args, attrs) pairs the registry-wide check runs ``op`` on."""
    if op.samples is not None:
        return list(op.samples(rng))
    n = 2 if op.variadic else op.nargs
    return [([rng.standard_normal((2, 3)) for _ in range(n)], {})]


def _with(args: Sequence[Any], k: int, value: Any) -> list:
    out = list(args)
    out[k] = value
    return out


@dataclass
class CheckResult:
    """The outcome of checking one op on all its samples."""

    op: str
    plugin: str
    samples: int
    error: str | None = None  # the first failure, or None when every sample passed


def check_ops(
    names: list[str] | None = None,
    *,
    order: int = 1,
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> list[CheckResult]:
    """Check every op (or those named) on each of its samples against finite differences.

    Parameters
    ----------
    names : list of str, optional
        The ops to check; by default every registered op.
    order : int
        The highest order of derivative checked (see :func:`check_op`); an op without a
        differentiable vjp is checked to the first order.
    seed, rtol, atol
        As for :func:`check_op`.

    Returns
    -------
    list of CheckResult
        One per op, sorted by name unless ``names`` are given.

    Raises
    ------
    GraphError
        A name is not a registered op.

    Examples
    --------
    >>> [r.error for r in check_ops(["tanh", "sign"], order=2)]
    [None, None]
    """
    table = ops()
    chosen = sorted(table) if not names else [get_op(n).name for n in names]
    results = []
    for name in chosen:
        op = table[name]
        rng = np.random.default_rng(seed)
        try:
            cases = samples(op, rng)
        except Exception as e:  # noqa: BLE001 - a broken samples() is a result to report
            results.append(
                CheckResult(name, op.plugin, 0, f"samples() raised {type(e).__name__}: {e}")
            )
            continue
        error = None
        for k, (args, attrs) in enumerate(cases):
            try:
                highest = order if op.differentiable_vjp else 1
                check_op(op, args, attrs, order=highest, seed=seed, rtol=rtol, atol=atol)
            except Exception as e:  # noqa: BLE001 - every failure becomes a row
                error = f"sample {k} {_attrs(attrs)}: {type(e).__name__}: {_first_line(e)}"
                break
        results.append(CheckResult(name, op.plugin, len(cases), error))
    return results


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else ""


def _attrs(attrs: dict) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in attrs.items()) + ")" if attrs else "()"


def check_library(
    op: str | Op,
    args: Sequence[Any],
    attrs: dict | None = None,
    library: Any = "dask",
    *,
    seed: int = 0,
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> None:
    """Check that ``op`` runs on another array library as it runs on NumPy, through a Graph.

    The same graph (the op, then ``sum(w * y)`` for a random ``w``) runs once on NumPy arrays
    and once on ``library``'s: the value, the message to every differentiable argument and,
    where the op has forward mode, the tangent must stay in ``library`` (no silent copy to
    NumPy) and equal NumPy's. NumPy's messages are checked against finite differences by
    :func:`check_op`, so equal messages are right messages. A function the library does not
    implement, which Dask would compute through NumPy with a ``FutureWarning``, fails.

    Parameters
    ----------
    op : str or Op
    args : sequence
        The array arguments, as NumPy arrays.
    attrs : dict, optional
    library : str or module
        ``"dask"`` (the CPU stand-in the suite uses), ``"cupy"``, ...
    seed : int
    rtol, atol : float

    Raises
    ------
    AssertionError
        A value left the library, or differs from NumPy's.

    See also
    --------
    check_op, mpgraph.Graph.to

    Examples
    --------
    >>> import numpy as np
    >>> check_library("tanh", [np.array([0.5, -1.0])], library="dask")
    """
    op = get_op(op)
    lib = library_named(library)
    attrs = dict(attrs or {})
    args = [np.asarray(a) if not np.isscalar(a) else a for a in args]
    diff = [
        k
        for k, a in enumerate(args)
        if np.asarray(a).dtype.kind == "f" and (op.variadic or op.vjp[k] is not None)
    ]
    tangent = [k for k in diff if op.carries_tangent(k)]
    rng = np.random.default_rng(seed)
    out = np.asarray(op.forward(*args, **attrs))
    w = rng.standard_normal(out.shape)
    vs = {k: rng.standard_normal(np.shape(args[k])) for k in tangent}

    def run_on(target):
        g = Graph()
        nodes = [
            g.input(f"a{k}", np.shape(a), np.asarray(a).dtype) if k in diff else g.constant(a)
            for k, a in enumerate(args)
        ]
        y = g.apply(op, nodes, {**op.attr_defaults, **attrs}, name="y")
        loss = g.apply("sum", [g.apply("multiply", [y, w])])
        feed = {nodes[k]: target.asarray(args[k]) for k in diff}
        g.to(target)
        run = g.forward([y, loss], feed)
        found = {"value": run[y]}
        if diff:
            run.backward(loss, wrt=[nodes[k] for k in diff])
            found.update({f"message to argument {k}": run.grad(nodes[k]) for k in diff})
        if tangent:
            run = g.forward(y, feed).jvp({nodes[k]: target.asarray(vs[k]) for k in tangent})
            found["tangent"] = run.tangent(y)
        return found

    want = run_on(NUMPY)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # Dask's silent trip through NumPy
        got = run_on(lib)
    for what, value in got.items():
        if value is None and want[what] is None:
            continue
        where = library_of(value)
        if where != lib and np.ndim(want[what]) > 0:
            raise AssertionError(
                f"mpgraph: op '{op.name}' on {lib.name}: its {what} is a "
                f"{type(value).__module__}.{type(value).__name__}, not a {lib.name} array"
            )
        np.testing.assert_allclose(
            to_numpy(value),
            want[what],
            rtol=rtol,
            atol=atol,
            err_msg=f"mpgraph: op '{op.name}' on {lib.name}: its {what} differs from NumPy's",
        )
