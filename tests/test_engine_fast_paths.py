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
            return [mg.Op("fastpath_cube", lambda x: scale * x ** 3,
                          vjp=(lambda g, ans, x: g * 3 * scale * x ** 2,), shape=lambda s: s)]
    return Cube()


def test_the_cached_op_functions_follow_the_registry():
    with pytest.raises(AttributeError):
        mg.ops.fastpath_cube
    mg.plugins.register(_cube_plugin(1.0), name="fastpath-cube")
    try:
        assert mg.ops.fastpath_cube(2.0) == 8.0
        assert mg.ops.fastpath_cube(2.0) == 8.0      # the cached attribute
    finally:
        mg.plugins.unregister("fastpath-cube")
    with pytest.raises(AttributeError):
        mg.ops.fastpath_cube                        # gone with its plugin
    mg.plugins.register(_cube_plugin(10.0), name="fastpath-cube")
    try:
        assert mg.ops.fastpath_cube(2.0) == 80.0    # the new definition, not a stale one
    finally:
        mg.plugins.unregister("fastpath-cube")


def test_operators_build_the_same_nodes_as_the_op_functions():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.arange(3.0))
    pairs = [(x * w, mg.ops.multiply(x, w)), (2.0 - x, mg.ops.subtract(2.0, x)),
             (x / 4, mg.ops.divide(x, 4)), (w @ x, mg.ops.matmul(w, x)), (x ** 2, mg.ops.power(x, 2))]
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
    assert (True * x).args[0].value is True         # a bool stays a bool constant


def test_a_schedule_holds_only_the_outputs_ancestors():
    g = mg.Graph()
    x, u = g.input("x"), g.input("unused")
    a = mg.ops.exp(x)
    mg.ops.sin(u)                                   # not an ancestor of b
    b = a * 3.0
    sched = g.schedule(b)
    assert [n.name for n in sched.nodes] == ["x", a.name, "const_1", b.name]
    run = g.forward(b, {"x": 0.0})                  # "unused" need not be fed
    assert float(run[b]) == 3.0


def test_the_networkx_view_is_complete_when_read_from_several_threads():
    g = mg.Graph()
    y = g.input("x")
    for _ in range(300):
        y = mg.ops.tanh(y * 0.5)
    views = []
    threads = [threading.Thread(target=lambda: views.append(
        (g.nx.number_of_nodes(), g.nx.number_of_edges()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert views == [(len(g), 900)] * 4   # x * 0.5: two edges a step, tanh: one


def test_freed_scalars_are_left_in_place():
    # A 0-d value is not worth a stand-in; the gradient is the same either way.
    dy = mg.grad(lambda y: mg.ops.tanh(mg.ops.tanh(y * 2.0) * 3.0))(0.1)
    t1 = np.tanh(0.2)
    assert dy == pytest.approx((1 - np.tanh(3 * t1) ** 2) * 3 * (1 - t1 ** 2) * 2)
