"""What g.grad and mg.grad free, and that freeing never changes a gradient.

A value that no vjp reads (``Op.needs``) is freed as soon as its last consumer in the forward
pass has run, a value some vjp reads once the last of them has run, an error signal once its
messages are sent. Freed values become read-only stand-ins of their shape and dtype.
"""

import threading
import tracemalloc

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.engine.run import Run
from mpgraph.errors import PluginError
from mpgraph.testing import check_op


def _freed(value) -> bool:
    return isinstance(value, np.ndarray) and value.size > 1 and not any(value.strides)


def _mlp(rng, dtype=np.float64):
    g = mg.Graph()
    x = g.input("x", shape=(None, 6), dtype=dtype)
    t = g.input("t", shape=(None,))
    ws, a = [], x
    for k, (n_in, n_out) in enumerate([(6, 5), (5, 4), (4, 3)]):
        W = g.param(f"W{k}", rng.standard_normal((n_in, n_out)).astype(dtype))
        b = g.param(f"b{k}", rng.standard_normal(n_out).astype(dtype))
        ws += [W, b]
        a = a @ W + b
        a = mg.ops.tanh(a) if k < 2 else a
    loss = mg.ops.softmax_cross_entropy(a, t)
    feed = {"x": rng.standard_normal((7, 6)).astype(dtype), "t": rng.integers(0, 3, 7)}
    return g, loss, ws, feed


def test_freeing_does_not_change_the_gradients():
    g, loss, ws, feed = _mlp(np.random.default_rng(0))
    kept = g.forward(loss, feed).backward(loss, wrt=ws)  # keeps every value and signal
    lean = g.grad(loss, wrt=ws, feed=feed)
    for w, got in zip(ws, lean):
        np.testing.assert_array_equal(got, kept.grad(w))


def test_gradients_of_the_freeing_run_match_finite_differences():
    g, loss, ws, feed = _mlp(np.random.default_rng(1))
    grads = g.grad(loss, wrt=ws, feed=feed)
    eps = 1e-6
    for w, got in zip(ws, grads):
        base = w.value.copy()
        want = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            for sign in (1, -1):
                moved = base.copy()
                moved[idx] += sign * eps
                g.set_param(w, moved)
                want[idx] += sign * float(g.forward(loss, feed)[loss]) / (2 * eps)
        g.set_param(w, base)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_values_no_vjp_reads_are_freed_and_the_rest_survive_until_read():
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    u = x * 2.0  # read by no vjp (exp reads its output): freed at once
    v = mg.ops.exp(u, name="v")  # read by exp's vjp (ans) and by the multiply below
    w = v * v
    loss = mg.ops.sum(w)
    seen = {}

    class Spy:
        @mg.hookimpl
        def mpgraph_node_value(self, run, node):
            seen[node.name] = {
                k: _freed(run.values[run.schedule.slot[k]])
                for k in (u.name, "v")
                if k in run.schedule.slot and run.values[run.schedule.slot[k]] is not None
            }

    with mg.plugins.enabled(Spy()):
        run = Run.for_gradients(g.schedule(loss), loss, [x], {"x": np.linspace(0, 1, 4)})
    assert seen[w.name] == {u.name: True, "v": False}  # u went as soon as exp had run
    assert _freed(run[u]) and _freed(run["v"]) and _freed(run[w])  # all read, then freed
    assert run[u].shape == (4,) and run[u].dtype == np.float64
    assert not _freed(run[x]) and float(run[loss]) == pytest.approx(
        np.sum(np.exp(4 * np.linspace(0, 1, 4)))
    )
    np.testing.assert_allclose(run.grad(x), 4 * np.exp(4 * np.linspace(0, 1, 4)))
    assert set(run.error_signals) == {x.name}  # signals freed once their messages went


def test_a_plain_run_keeps_every_value():
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    u = x * 2.0
    loss = mg.ops.sum(mg.ops.exp(u))
    run = g.forward(loss, {"x": np.ones(4)}).backward(loss, keep=False)
    np.testing.assert_array_equal(run[u], np.full(4, 2.0))


def test_a_value_a_later_vjp_reads_is_intact_when_it_runs():
    """A probe op whose vjp checks it gets the real values it declares it needs."""
    got = []

    def probe_vjp(g, ans, x, y):
        got.append((x.copy(), _freed(y)))
        return g * x

    class Probe:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [
                mg.Op(
                    "probe_mul",
                    np.multiply,
                    (lambda g, ans, x, y: g * y, probe_vjp),
                    lambda a, b: a,
                    needs=("y", "x"),
                )
            ]

    mg.plugins.register(Probe(), name="probe-needs")
    try:
        g = mg.Graph()
        a = g.input("a", shape=(3,))
        b = g.param("b", np.ones(3))
        x = mg.ops.sin(a)  # read by probe's vjp to b, after everything else
        y = mg.ops.sin(b) * 1.0  # probe's vjp to b does not read y: it may be freed
        loss = mg.ops.sum(mg.ops.probe_mul(x, y) * 3.0)
        (gb,) = g.grad(loss, wrt=[b], feed={"a": np.array([0.1, 0.2, 0.3])})
    finally:
        mg.plugins.unregister("probe-needs")
    np.testing.assert_allclose(got[0][0], np.sin([0.1, 0.2, 0.3]))
    assert got[0][1]  # y was freed before the vjp ran
    np.testing.assert_allclose(gb, 3 * np.sin([0.1, 0.2, 0.3]) * np.cos(1.0))


def test_check_op_catches_a_needs_that_leaves_out_what_the_vjp_reads():
    wrong = mg.Op(
        "sin_wrong_needs", np.sin, (lambda g, ans, x: g * np.cos(x),), lambda s: s, needs=("ans",)
    )  # the vjp reads x, not ans
    with pytest.raises(AssertionError, match="sin_wrong_needs"):
        check_op(wrong, [np.array([0.3, -1.2, 2.0])])
    right = mg.Op(
        "sin_right_needs", np.sin, (lambda g, ans, x: g * np.cos(x),), lambda s: s, needs=("x",)
    )
    check_op(right, [np.array([0.3, -1.2, 2.0])])


def test_a_wrong_needs_gives_nan_gradients_not_plausible_zeros():
    wrong = mg.Op(
        "sq_wrong_needs", np.square, (lambda g, ans, x: 2 * g * x,), lambda s: s, needs=("ans",)
    )  # the vjp reads x, which g.grad then frees
    g = mg.Graph()
    w = g.param("w", np.array([0.5, 1.5]))
    loss = mg.ops.sum(g.apply(wrong, [mg.ops.sin(w)]))
    (dw,) = g.grad(loss, wrt=[w])
    assert np.isnan(dw).all()
    run = g.forward(loss).backward(loss)  # a plain run keeps every value: right
    np.testing.assert_allclose(run.grad(w), 2 * np.sin([0.5, 1.5]) * np.cos([0.5, 1.5]))


def test_needs_are_checked_against_the_vjps():
    vjp = (lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
    op = mg.Op("mul2", np.multiply, vjp, needs=("y", "ans x"))
    assert op.reads == ((False, (1,)), (True, (0,)))
    assert mg.Op("mul3", np.multiply, vjp).reads is None
    with pytest.raises(PluginError, match="op 'mul4': needs entry 1 names 'z'"):
        mg.Op("mul4", np.multiply, vjp, needs=("y", "z"))
    with pytest.raises(PluginError, match="op 'mul5': needs must be a tuple with one string"):
        mg.Op("mul5", np.multiply, vjp, needs=("y",))


def test_stand_ins_are_read_only():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    u = x * 2.0
    loss = mg.ops.sum(mg.ops.exp(u))
    run = Run.for_gradients(g.schedule(loss), loss, [x], {"x": np.ones(3)})
    with pytest.raises(ValueError):
        run[u][0] = 1.0


def test_freeing_lowers_the_peak_memory_of_a_gradient():
    rng = np.random.default_rng(2)
    g = mg.Graph()
    x = g.input("x", shape=(64, 256))
    W = g.param("W", rng.standard_normal((256, 256)) / 16)
    a = x
    for _ in range(6):  # each layer: matmul, then tanh
        a = mg.ops.tanh(a @ W)
    loss = mg.ops.sum(a)
    feed = {"x": rng.standard_normal((64, 256))}

    def peak(fn):
        fn()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            fn()
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()

    keeping = peak(lambda: g.forward(loss, feed).backward(loss, wrt=[W]).grad(W))
    freeing = peak(lambda: g.grad(loss, wrt=[W], feed=feed))
    layer = 64 * 256 * 8
    assert keeping >= 12 * layer  # every matmul and tanh output is kept
    assert freeing <= keeping - 10 * layer  # matmul outputs and signals go as soon as used


def test_one_graph_freeing_in_several_threads_at_once():
    g, loss, ws, feed = _mlp(np.random.default_rng(3))
    want = g.grad(loss, wrt=ws, feed=feed)
    errors = []

    def work():
        try:
            for _ in range(30):
                for got, w in zip(g.grad(loss, wrt=ws, feed=feed), want):
                    np.testing.assert_array_equal(got, w)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_user_arrays_are_never_touched():
    g, loss, ws, feed = _mlp(np.random.default_rng(4))
    before = {k: v.copy() for k, v in feed.items()}
    params = [w.value.copy() for w in ws]
    g.grad(loss, wrt=ws, feed=feed)
    for k in feed:
        np.testing.assert_array_equal(feed[k], before[k])
    for w, p in zip(ws, params):
        np.testing.assert_array_equal(w.value, p)


def test_the_networkx_view_follows_the_graph_as_it_grows():
    g = mg.Graph()
    x = g.input("x")
    y = x * x
    assert sorted(g.nx.nodes) == sorted(["x", y.name])
    z = mg.ops.exp(y)
    assert g.nx.has_edge(y.name, z.name) and len(g.nx) == 3
    assert g.nx.nodes[z.name]["handle"] is z
    assert sorted(g.nx.get_edge_data("x", y.name)) == [0, 1]
