"""The shortcuts the engine takes for speed behave exactly like the general paths."""

import threading

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.errors import GraphError


def _cube_plugin(scale):
    class Cube:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [
                mg.Op(
                    "fastpath_cube",
                    lambda x: scale * x**3,
                    vjp=(lambda g, ans, x: g * 3 * scale * x**2,),
                    shape=lambda s: s,
                )
            ]

    return Cube()


def test_the_cached_op_functions_follow_the_registry():
    with pytest.raises(AttributeError):
        mg.ops.fastpath_cube
    mg.plugins.register(_cube_plugin(1.0), name="fastpath-cube")
    try:
        assert mg.ops.fastpath_cube(2.0) == 8.0
        assert mg.ops.fastpath_cube(2.0) == 8.0  # the cached attribute
    finally:
        mg.plugins.unregister("fastpath-cube")
    with pytest.raises(AttributeError):
        mg.ops.fastpath_cube  # gone with its plugin
    mg.plugins.register(_cube_plugin(10.0), name="fastpath-cube")
    try:
        assert mg.ops.fastpath_cube(2.0) == 80.0  # the new definition, not a stale one
    finally:
        mg.plugins.unregister("fastpath-cube")


def test_operators_build_the_same_nodes_as_the_op_functions():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.arange(3.0))
    pairs = [
        (x * w, mg.ops.multiply(x, w)),
        (2.0 - x, mg.ops.subtract(2.0, x)),
        (x / 4, mg.ops.divide(x, 4)),
        (w @ x, mg.ops.matmul(w, x)),
        (x**2, mg.ops.power(x, 2)),
    ]
    for a, b in pairs:
        assert (a.op, a.attrs, a.shape, a.dtype) == (b.op, b.attrs, b.shape, b.dtype)
        assert [p.kind for p in a.args] == [p.kind for p in b.args]
        run = g.forward([a, b], {"x": np.array([1.0, -2.0, 0.5])})
        np.testing.assert_array_equal(run[a], run[b])


def test_operators_refuse_a_node_of_another_graph_and_keep_numpy_promotion():
    g, h = mg.Graph(), mg.Graph()
    x, y = g.input("x"), h.input("y")
    with pytest.raises(GraphError, match="belongs to another graph"):
        x * y
    z = g.input("z", shape=(2,), dtype=np.float32)
    assert (z * 0.5).dtype == np.float32 and (z * 2).dtype == np.float32
    assert (z + np.ones(2)).dtype == np.float64
    assert (True * x).args[0].value is True  # a bool stays a bool constant


def test_a_schedule_holds_only_the_outputs_ancestors():
    g = mg.Graph()
    x, u = g.input("x"), g.input("unused")
    a = mg.ops.exp(x)
    mg.ops.sin(u)  # not an ancestor of b
    b = a * 3.0
    sched = g.schedule(b)
    assert [n.name for n in sched.nodes] == ["x", a.name, "const_1", b.name]
    run = g.forward(b, {"x": 0.0})  # "unused" need not be fed
    assert float(run[b]) == 3.0


def test_the_networkx_view_is_complete_when_read_from_several_threads():
    g = mg.Graph()
    y = g.input("x")
    for _ in range(300):
        y = mg.ops.tanh(y * 0.5)
    views = []
    threads = [
        threading.Thread(
            target=lambda: views.append((g.nx.number_of_nodes(), g.nx.number_of_edges()))
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert views == [(len(g), 900)] * 4  # x * 0.5: two edges a step, tanh: one


def test_freed_scalars_are_left_in_place():
    # A 0-d value is not worth a stand-in; the gradient is the same either way.
    dy = mg.grad(lambda y: mg.ops.tanh(mg.ops.tanh(y * 2.0) * 3.0))(0.1)
    t1 = np.tanh(0.2)
    assert dy == pytest.approx((1 - np.tanh(3 * t1) ** 2) * 3 * (1 - t1**2) * 2)


def test_scope_names_are_per_thread_while_another_thread_has_a_scope_open():
    g = mg.Graph()
    x = g.input("x", shape=())
    inside, leave = threading.Event(), threading.Event()
    names = {}

    def other():
        with g.scope("worker"):
            inside.set()
            leave.wait(5)
            names["worker"] = mg.ops.tanh(x).name

    t = threading.Thread(target=other)
    t.start()
    inside.wait(5)
    names["main"] = mg.ops.tanh(x).name  # no scope open in this thread
    with g.scope("main"):
        names["main scoped"] = mg.ops.tanh(x).name
    leave.set()
    t.join()
    assert names == {"main": "tanh_1", "main scoped": "main/tanh_1", "worker": "worker/tanh_1"}
    with pytest.raises(ValueError):
        with g.scope("failed"):
            raise ValueError
    assert mg.ops.tanh(x).name == "tanh_2"  # the scope closed with the exception


def test_generated_names_skip_names_given_explicitly():
    g = mg.Graph()
    x = g.input("x", shape=())
    mg.ops.tanh(x, name="tanh_2")
    assert [mg.ops.tanh(x).name for _ in range(2)] == ["tanh_1", "tanh_3"]
    assert (x * 2.0).args[1].name == "const_1"


def test_a_full_reductions_message_is_read_only_and_the_gradient_is_the_callers():
    g = mg.Graph()
    x = g.input("x", shape=(3, 2), dtype=np.float32)
    L = mg.ops.sum(x)
    run = g.forward(L, {"x": np.ones((3, 2), np.float32)}).backward(L)
    signal = run.grad(x)
    assert signal.shape == (3, 2) and signal.dtype == np.float32
    assert not signal.flags.writeable  # a view of one number: no writes through it
    dx = g.grad(L, wrt=x, feed={"x": np.ones((3, 2), np.float32)})
    dx += 1  # the caller's own array
    np.testing.assert_array_equal(dx, np.full((3, 2), 2.0, np.float32))
    np.testing.assert_array_equal(mg.grad(lambda x: mg.ops.mean(x))(np.ones(4)), np.full(4, 0.25))


def _traced_graph(fn, *args):
    """The graph ``mg.grad`` traces ``fn`` into, and the gradient it returns."""
    seen = {}

    def spy(*xs):
        seen["g"] = xs[0].graph
        return fn(*xs)

    return seen, mg.grad(spy)(*args)


def test_a_trace_makes_one_constant_node_per_python_number():
    seen, dx = _traced_graph(lambda x: mg.ops.tanh(x * 0.5 + 1.0) * 0.5 + 1.0 + x * 0.5, 0.3)
    consts = [n for n in seen["g"] if n.kind == "const"]
    assert sorted(n.fixed for n in consts) == [0.5, 1.0]
    t = np.tanh(0.3 * 0.5 + 1.0)
    assert np.isclose(dx, 0.5 * (1 - t * t) * 0.5 + 0.5)


def test_a_trace_keeps_the_numbers_it_cannot_tell_apart_by_equality():
    # 1 and 1.0 are equal dict keys and so are 0.0 and -0.0; each keeps its own node, since
    # an int and a float give NumPy different result types and -0.0 flips the sign of 1 / x
    with np.errstate(divide="ignore", invalid="ignore"):
        seen, dx = _traced_graph(
            lambda x: 1.0 / (x * 0.0 + -0.0) + x * 1 + x * 1.0, np.float32(2.0)
        )
    consts = [n.fixed for n in seen["g"] if n.kind == "const"]
    assert len(consts) == 4 and {repr(c) for c in consts} == {"0.0", "-0.0", "1", "1.0"}
    assert np.isnan(dx)  # d/dx 1 / (0 x - 0) at x = 2: -0 / 0


def test_a_built_graph_keeps_one_constant_node_per_use():
    g = mg.Graph()
    x = g.input("x", shape=())
    y = x * 0.5 + x * 0.5
    assert [n.kind for n in g].count("const") == 2
    assert float(g.grad(y, wrt=x, feed={"x": 3.0})) == 1.0
