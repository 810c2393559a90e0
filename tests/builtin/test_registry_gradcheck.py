"""Every registered op, built-in or from a plugin, against central finite differences.

The cases come from each op's ``samples``; an op added later is checked without a new test.
"""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.hooks.manager import BUILTIN, ops
from mpgraph.testing import check_grads, check_op, samples


def _cases():
    rng = np.random.default_rng(0)
    for name, op in sorted(ops().items()):
        for k, (args, attrs) in enumerate(samples(op, rng)):
            yield pytest.param(name, args, attrs, id=f"{name}-{k}")


@pytest.mark.parametrize("name, args, attrs", list(_cases()))
def test_op_gradients_match_finite_differences(name, args, attrs):
    check_op(name, args, attrs)


def test_every_op_has_a_public_function_and_a_doc():
    for name, op in ops().items():
        f = mg.ops
        for part in name.split("."):
            f = getattr(f, part)
        assert f.op is op
        assert op.doc.strip(), f"op '{name}' has no docstring"


def _float32(value):
    """float64 arrays (and float attributes that are arrays) as float32; the rest unchanged."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value.astype(np.float32)
    return value


@pytest.mark.parametrize("name, args, attrs", list(_cases()))
def test_float32_in_gives_float32_values_and_error_signals(name, args, attrs):
    """A smoke check with float32 data: the value, the dtype the node announces, every error
    signal and every message stay float32, and the gradients agree with float64's loosely."""
    op = ops()[name]
    args32 = [_float32(a) for a in args]
    attrs32 = {k: _float32(v) for k, v in attrs.items()}
    g = mg.Graph()
    diff = [
        k
        for k, a in enumerate(args32)
        if np.asarray(a).dtype == np.float32 and (op.variadic or op.vjp[k] is not None)
    ]
    nodes = [
        g.input(f"a{k}", np.shape(a), np.float32) if k in diff else g.constant(a)
        for k, a in enumerate(args32)
    ]
    y = g.apply(op, nodes, {**op.attr_defaults, **attrs32}, name="y")
    run = g.forward(y, {nodes[k]: args32[k] for k in diff})
    value = np.asarray(run[y])
    if value.dtype.kind != "f":
        return
    assert value.dtype == np.float32, f"op '{name}' turned float32 into {value.dtype}"
    assert y.dtype in (None, np.float32), f"op '{name}' announces {y.dtype}, computes float32"
    if not diff:
        return
    w = np.random.default_rng(1).standard_normal(value.shape).astype(np.float32)
    loss = mg.ops.sum(y * w)
    run = g.forward(loss, {nodes[k]: args32[k] for k in diff})
    run.backward(loss, keep_messages=True)
    for node, signal in run.error_signals.items():
        assert np.result_type(signal) == np.float32, (
            f"op '{name}': the error signal of '{node}' is {np.result_type(signal)}"
        )
    for edge, message in run.messages.items():
        assert np.result_type(message) == np.float32, (
            f"op '{name}': the message on {edge} is {np.result_type(message)}"
        )
    want = mg.Graph()
    nodes64 = [
        want.input(f"a{k}", np.shape(a)) if k in diff else want.constant(a)
        for k, a in enumerate(args)
    ]
    y64 = want.apply(op, nodes64, {**op.attr_defaults, **attrs}, name="y")
    loss64 = mg.ops.sum(y64 * w.astype(np.float64))
    grads64 = want.grad(
        loss64, wrt=[nodes64[k] for k in diff], feed={nodes64[k]: args[k] for k in diff}
    )
    for k, g64 in zip(diff, grads64):
        np.testing.assert_allclose(
            run.grad(nodes[k]),
            g64,
            rtol=2e-3,
            atol=2e-3 * (1 + np.max(np.abs(g64), initial=0)),
            err_msg=f"op '{name}' argument {k} in float32",
        )


def _differentiable_cases():
    rng = np.random.default_rng(2)
    for name, op in sorted(ops().items()):
        if op.differentiable_vjp:
            for k, (args, attrs) in enumerate(samples(op, rng)):
                yield pytest.param(name, args, attrs, id=f"{name}-{k}")


@pytest.mark.parametrize("name, args, attrs", list(_differentiable_cases()))
def test_a_differentiable_vjp_builds_the_same_messages_on_graph_nodes(name, args, attrs):
    """``differentiable_vjp=True`` promises a vjp written with operators, NumPy functions that
    nodes dispatch to ops, and ``mg.ops``: called on nodes, it builds a graph of the message."""
    op = ops()[name]
    args = [np.asarray(a) for a in args]
    ans = np.asarray(op.forward(*args, **attrs))
    g_value = np.random.default_rng(3).standard_normal(ans.shape)
    g = mg.Graph()
    floats = [k for k, a in enumerate(args) if a.dtype.kind == "f"]
    nodes = [
        g.input(f"a{k}", a.shape, a.dtype) if k in floats else g.constant(a)
        for k, a in enumerate(args)
    ]
    g_node, ans_node = g.input("g", ans.shape, ans.dtype), g.input("ans", ans.shape, ans.dtype)
    feed = {g_node: g_value, ans_node: ans, **{nodes[k]: args[k] for k in floats}}
    for k in floats:
        if op.variadic:
            want = op.vjp(k, g_value, ans, *args, **attrs)
            got = op.vjp(k, g_node, ans_node, *nodes, **attrs)
        elif op.vjp[k] is not None:
            want = op.vjp[k](g_value, ans, *args, **attrs)
            got = op.vjp[k](g_node, ans_node, *nodes, **attrs)
        else:
            continue
        assert isinstance(got, mg.Node), f"op '{name}': vjp {k} on nodes gave {type(got)}"
        np.testing.assert_allclose(
            g.forward(got, feed)[got],
            want,
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"op '{name}': vjp {k} on nodes",
        )


def _builtin_cases():
    rng = np.random.default_rng(4)
    for name, op in sorted(ops().items()):
        if op.plugin in BUILTIN:
            for k, (args, attrs) in enumerate(samples(op, rng)):
                yield pytest.param(name, args, attrs, id=f"{name}-{k}")


@pytest.mark.parametrize("unknown", ["first", "all"])
@pytest.mark.parametrize("name, args, attrs", list(_builtin_cases()))
def test_shape_rules_accept_unknown_dims_and_agree_with_forward(name, args, attrs, unknown):
    """Inputs whose first (or every) dim is unknown: the shape rule gives the right number of
    dims, and every dim it claims to know is the one forward computes."""
    op = ops()[name]
    args = [np.asarray(a) for a in args]
    want = np.shape(op.forward(*args, **attrs))
    g = mg.Graph()
    nodes = [
        g.input(f"a{k}", (None,) + a.shape[1:] if unknown == "first" else (None,) * a.ndim, a.dtype)
        if a.ndim and a.dtype.kind == "f"
        else g.constant(a)
        for k, a in enumerate(args)
    ]
    if name == "squeeze" and attrs.get("axis") is None:
        with pytest.raises(mg.ShapeError, match="squeeze without axis needs known dims"):
            g.apply(op, nodes, {**op.attr_defaults, **attrs})
        return
    y = g.apply(op, nodes, {**op.attr_defaults, **attrs})
    assert y.shape is not None and len(y.shape) == len(want), f"op '{name}': {y.shape} vs {want}"
    assert all(d is None or d == n for d, n in zip(y.shape, want)), (
        f"op '{name}': {y.shape} vs {want}"
    )


def _second_order_cases():
    rng = np.random.default_rng(2)
    for name, op in sorted(ops().items()):
        if not op.differentiable_vjp:
            continue
        args, attrs = samples(op, rng)[0]
        if any(_differentiable(op, k, a) for k, a in enumerate(args)):
            yield pytest.param(name, args, attrs, id=name)


def _differentiable(op, k, arg):
    return np.asarray(arg).dtype.kind == "f" and (op.variadic or op.vjp[k] is not None)


@pytest.mark.parametrize("name, args, attrs", list(_second_order_cases()))
def test_differentiable_vjps_give_second_derivatives(name, args, attrs):
    """An op that declares ``differentiable_vjp`` is differentiated twice: the gradient of
    ``sum(v * grad(sum(w * op)))``, built by nesting mg.grad, against central differences."""
    op = ops()[name]
    diff = tuple(k for k, a in enumerate(args) if _differentiable(op, k, a))
    rng = np.random.default_rng(3)
    w = rng.standard_normal(np.shape(op.forward(*args, **attrs)))
    vs = [rng.standard_normal(np.shape(args[k])) for k in diff]

    def call(*a):
        node = next((x for x in a if type(x) is mg.Node), None)
        return op.forward(*a, **attrs) if node is None else node.graph.apply(op, a, attrs)

    first = mg.grad(lambda *a: mg.ops.sum(w * call(*a)), argnums=diff)

    def h(*a):
        return sum(mg.ops.sum(v * d) for v, d in zip(vs, first(*a)))

    check_grads(h, *args, argnums=diff, rtol=1e-4, atol=1e-6)
