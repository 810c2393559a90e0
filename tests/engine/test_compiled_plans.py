"""A plan that runs again and again is compiled into one function (mpgraph.engine.compiled):
its gradients, values and error signals are the loops' to the bit, and its errors the loops'."""

import numpy as np
import pytest

import mpgraph as mg
import mpgraph.engine.run as run_module
from mpgraph.errors import OpError, ShapeError
from mpgraph.hooks.manager import ops
from mpgraph.testing import samples


@pytest.fixture(autouse=True)
def _compile_soon(monkeypatch):
    """Compile a plan after three runs rather than a hundred: the same code, sooner."""
    monkeypatch.setattr(run_module, "COMPILE_AFTER", 3)


def _plan(g, loss):
    (plan,) = g.schedule(loss)._plans.values()
    return plan


def _looped_then_compiled(g, loss, wrt, feed):
    """The gradients of the first run (loops) and of a run after the plan was compiled."""
    first = g.grad(loss, wrt=wrt, feed=feed)
    assert _plan(g, loss).compiled is None
    for _ in range(run_module.COMPILE_AFTER):
        g.grad(loss, wrt=wrt, feed=feed)
    assert _plan(g, loss).compiled is not None
    return first, g.grad(loss, wrt=wrt, feed=feed)


def _same(a, b):
    assert type(a) is type(b)
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def _mlp(dtype):
    rng = np.random.default_rng(0)
    g = mg.Graph()
    x = g.input("x", shape=(None, 5), dtype=dtype)
    t = g.input("t", shape=(None,))
    ws, a = [], x
    for k, (n_in, n_out) in enumerate([(5, 7), (7, 7), (7, 3)]):
        W = g.param(f"W{k}", (rng.standard_normal((n_in, n_out)) / 3).astype(dtype))
        b = g.param(f"b{k}", np.zeros(n_out, dtype))
        ws += [W, b]
        a = a @ W + b
        a = mg.ops.tanh(a) if k < 2 else a
    loss = mg.ops.softmax_cross_entropy(a, t)  # a residual: the softmax
    feed = {"x": rng.standard_normal((8, 5)).astype(dtype), "t": rng.integers(0, 3, 8)}
    return g, loss, ws, feed


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_mlp_gets_the_loops_gradients_to_the_bit(dtype):
    g, loss, ws, feed = _mlp(dtype)
    first, compiled = _looped_then_compiled(g, loss, ws, feed)
    for a, b in zip(first, compiled):
        _same(a, b)
        assert b.dtype == dtype


def test_fan_out_sums_messages_as_the_loops_do_and_hands_out_fresh_arrays():
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    total = None
    for c in (0.5, 1.0, 1.5, 2.0):  # x fans out; its signal is a sum of four messages
        branch = mg.ops.sum(mg.ops.sin(x * c))
        total = branch if total is None else total + branch
    feed = {"x": np.linspace(-1, 1, 4)}
    first, compiled = _looped_then_compiled(g, total, x, feed)
    _same(first, compiled)
    closed = sum(c * np.cos(c * feed["x"]) for c in (0.5, 1.0, 1.5, 2.0))
    np.testing.assert_allclose(compiled, closed, rtol=1e-12)
    again = g.grad(total, wrt=x, feed=feed)
    again += 1  # the caller's array: the next run's gradient is not it
    _same(g.grad(total, wrt=x, feed=feed), compiled)


def test_a_compiled_run_keeps_what_a_run_of_the_loops_keeps():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.array([1.0, -2.0, 0.5]))
    u = x * w
    h = mg.ops.where(u > 0, u, 0.1 * u)  # a comparison: no message to its arguments
    y = mg.ops.sum(mg.ops.exp(h))
    feed = {"x": np.array([1.0, 2.0, 3.0])}
    sched = g.schedule(y)
    runs = [mg.Run.for_gradients(sched, y, [w], feed) for _ in range(run_module.COMPILE_AFTER + 2)]
    assert _plan(g, y).compiled is not None
    looped, compiled = runs[0], runs[-1]
    for node in (x, w, u, h, y):
        _same(looped[node], compiled[node])  # freed values are the same stand-ins
    _same(looped.grad(w), compiled.grad(w))
    with pytest.raises(mg.MpgraphError, match="freed"):
        compiled.grad(u)
    np.testing.assert_allclose(
        compiled.grad(w),
        np.exp(np.where(feed["x"] * w.value > 0, 1, 0.1) * feed["x"] * w.value)
        * np.where(feed["x"] * w.value > 0, 1, 0.1)
        * feed["x"],
    )


def test_a_run_with_an_observer_uses_the_loops_and_sees_every_value():
    g = mg.Graph()
    x = g.input("x", shape=())
    y = mg.ops.tanh(x * 2.0)
    for _ in range(run_module.COMPILE_AFTER + 1):
        g.grad(y, wrt=x, feed={"x": 0.5})
    seen = []

    class Watch:
        @mg.hookimpl
        def mpgraph_node_value(self, run, node, value):
            seen.append(node.name)

    mg.plugins.register(Watch(), name="compiled-watch")
    try:
        dx = g.grad(y, wrt=x, feed={"x": 0.5})
    finally:
        mg.plugins.unregister("compiled-watch")
    assert seen == [n.name for n in g]
    assert np.isclose(dx, 2 * (1 - np.tanh(1.0) ** 2))


def _flaky_plugin():
    """An op whose vjp returns a wrong shape when its input is negative, and whose forward
    raises when it is over 100."""

    def forward(x):
        if x.max() > 100:
            raise ValueError("over 100")
        return x**3

    def vjp(g, ans, x):
        return g * np.ones(x.shape + (2,)) if x.min() < 0 else g * 3 * x * x

    class Flaky:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [mg.Op("compiled_cube", forward, vjp=(vjp,), shape=lambda s: s)]

    return Flaky()


def test_an_error_in_a_compiled_run_names_the_node_as_the_loops_do():
    mg.plugins.register(_flaky_plugin(), name="compiled-flaky")
    try:
        g = mg.Graph()
        x = g.input("x", shape=(2,))
        y = mg.ops.sum(mg.ops.compiled_cube(x, name="cube"))
        first, compiled = _looped_then_compiled(g, y, x, {"x": np.array([1.0, 2.0])})
        _same(first, compiled)
        with pytest.raises(ShapeError, match="node 'cube'.*shape \\(2, 2\\); expected \\(2,\\)"):
            g.grad(y, wrt=x, feed={"x": np.array([-1.0, 2.0])})
        with pytest.raises(OpError, match="node 'cube': forward raised ValueError: over 100"):
            g.grad(y, wrt=x, feed={"x": np.array([1.0, 200.0])})
        _same(g.grad(y, wrt=x, feed={"x": np.array([1.0, 2.0])}), compiled)
    finally:
        mg.plugins.unregister("compiled-flaky")


def _differentiable(op, args):
    return [
        k
        for k, a in enumerate(args)
        if np.asarray(a).dtype.kind == "f" and (op.variadic or op.vjp[k] is not None)
    ]


def _cases():
    """Each op's first sample with a float argument that carries a gradient."""
    rng = np.random.default_rng(0)
    for name, op in sorted(ops().items()):
        for args, attrs in samples(op, rng):
            if _differentiable(op, args):
                yield pytest.param(name, args, attrs, id=name)
                break


@pytest.mark.parametrize("name, args, attrs", list(_cases()))
def test_every_op_gets_the_loops_gradients_when_compiled(name, args, attrs):
    op = ops()[name]
    diff = _differentiable(op, args)
    g = mg.Graph()
    nodes = [
        g.input(f"a{k}", np.shape(a), np.asarray(a).dtype) if k in diff else g.constant(a)
        for k, a in enumerate(args)
    ]
    out = g.apply(op, nodes, {**op.attr_defaults, **attrs})
    loss = mg.ops.sum(out * np.random.default_rng(1).standard_normal(out.shape))
    feed = {nodes[k]: args[k] for k in diff}
    first, compiled = _looped_then_compiled(g, loss, [nodes[k] for k in diff], feed)
    for a, b in zip(first, compiled):
        _same(a, b)


def test_by_default_a_small_plan_is_compiled_after_its_hundredth_run_and_a_large_one_never(
    monkeypatch,
):
    monkeypatch.undo()  # the defaults
    assert (run_module.COMPILE_AFTER, run_module.COMPILE_STEPS) == (100, 200)
    for steps, compiled in ((10, True), (100, False)):  # 30 and 300 op nodes
        g = mg.Graph()
        x = g.input("x", shape=())
        y = x
        for _ in range(steps):
            y = mg.ops.tanh(y * -0.9 + 0.1)
        grads = [g.grad(y, wrt=x, feed={"x": 0.3}) for _ in range(100)]
        assert _plan(g, y).compiled is None
        grads.append(g.grad(y, wrt=x, feed={"x": 0.3}))
        assert (_plan(g, y).compiled is not None) is compiled
        _same(grads[0], grads[-1])
