"""Regression tests for the silent wrong results of issue 16: each once gave a plausible
number (or no error) where the right answer differs."""

import sys
import threading

import numpy as np
import pytest

import mpgraph as mg

W = np.array([[1.0, 2.0], [3.0, 4.0]])


# -- norm: NumPy's value or a refusal ----------------------------------------------------------


def test_norm_ord2_of_a_matrix_node_is_refused_not_frobenius():
    g = mg.Graph()
    w = g.param("W", W)
    with pytest.raises(mg.ShapeError, match="spectral norm"):
        np.linalg.norm(w, 2)
    with pytest.raises(mg.ShapeError, match="matrix norm"):
        mg.ops.norm(w, 1)


def test_norm_on_plain_arrays_refuses_what_it_cannot_compute_as_numpy():
    with pytest.raises(mg.ShapeError, match="got 3"):
        mg.ops.norm(np.array([3.0, 4.0, -12.0]), ord=3)
    with pytest.raises(mg.ShapeError, match="matrix norm"):
        mg.ops.norm(W, ord=1)
    with pytest.raises(mg.ShapeError, match="spectral"):
        mg.ops.norm(W, ord=2)


def test_norm_gives_numpys_value_wherever_it_answers():
    v = np.array([3.0, 4.0, -12.0])
    for x, kw in [
        (v, {}),
        (v, {"ord": 1}),
        (v, {"ord": 2}),
        (W, {}),
        (W, {"ord": "fro"}),
        (W, {"ord": 1, "axis": 0}),
        (W, {"ord": 2, "axis": 1}),
    ]:
        assert np.allclose(mg.ops.norm(x, **kw), np.linalg.norm(x, **kw)), kw
        g = mg.Graph()
        node = g.param("x", x)
        assert np.allclose(
            g.forward(mg.ops.norm(node, **kw))[g.schedule(list(g)[-1]).nodes[-1]],
            np.linalg.norm(x, **kw),
        ), kw


def test_norm_ord1_of_a_vector_has_the_sign_gradient():
    v = np.array([3.0, -4.0, 0.5])
    assert np.allclose(mg.grad(lambda x: mg.ops.norm(x, 1))(v), np.sign(v))


# -- a run answers only for its own graph's nodes ----------------------------------------------


def _two_graphs():
    g1, g2 = mg.Graph(), mg.Graph()
    x1, x2 = g1.input("x"), g2.input("x")
    y1 = x1 * 2.0
    return g1, x1, y1, x2


def test_run_grad_and_value_of_another_graphs_node_are_refused():
    g1, x1, y1, x2 = _two_graphs()
    run = g1.forward(y1, {"x": 1.0}).backward()
    assert float(run.grad(x1)) == 2.0
    with pytest.raises(mg.GraphError, match="another graph"):
        run.grad(x2)
    with pytest.raises(mg.GraphError, match="another graph"):
        run[x2]
    with pytest.raises(mg.GraphError, match="another graph"):
        run.value(x2)


def test_a_feed_keyed_by_another_graphs_input_is_refused():
    g1, x1, y1, x2 = _two_graphs()
    with pytest.raises(mg.FeedError, match="another graph"):
        g1.forward(y1, {x2: 1.0})
    with pytest.raises(mg.FeedError, match="another graph"):
        g1.grad(y1, wrt=x1, feed={x2: 1.0})


def test_backward_wrt_another_graphs_node_is_refused():
    g1, x1, y1, x2 = _two_graphs()
    run = g1.forward(y1, {"x": 1.0})
    with pytest.raises(mg.GraphError, match="another graph"):
        run.backward(y1, wrt=[x2])


# -- returned gradients are the caller's own arrays ---------------------------------------------


class _PassY:
    """An op whose vjp to y returns y itself, as a vjp may."""

    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op(
                "rel_pass_y",
                lambda x, y: x + 0.0 * y,
                vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: y),
                shape=lambda a, b: a,
            )
        ]


def test_g_grad_never_hands_back_the_callers_feed():
    name = mg.plugins.register(_PassY())
    try:
        g = mg.Graph()
        x, y = g.input("x", shape=(3,)), g.input("y", shape=(3,))
        L = mg.ops.sum(mg.ops.rel_pass_y(x, y))
        Y = np.array([1.0, 2.0, 3.0])
        dy = g.grad(L, wrt=y, feed={"x": np.ones(3), "y": Y})
        assert not np.shares_memory(dy, Y)
        dy += 100.0  # updating the gradient in place leaves the feed alone
        assert Y.tolist() == [1.0, 2.0, 3.0]
        (dy2,) = mg.grad(lambda x, y: mg.ops.sum(mg.ops.rel_pass_y(x, y)), argnums=(1,))(
            np.ones(3), Y
        )
        assert not np.shares_memory(dy2, Y)
    finally:
        mg.plugins.unregister(name)


# -- float32 stays float32: the weak-constant rule ---------------------------------------------

X32 = np.array([0.5, 1.0, 2.0], np.float32)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: mg.ops.sum(2.0**x),
        lambda x: mg.ops.sum(x * np.float64(0.5)),
        lambda x: mg.ops.sum(x * np.array(0.5)),
        lambda x: mg.ops.sum(x + np.int64(3)),
        lambda x: mg.ops.sum(np.float64(3.0) ** x),
    ],
)
def test_scalar_constants_keep_a_float32_graph_in_float32(f):
    value, dx = mg.value_and_grad(f)(X32)
    assert np.asarray(value).dtype == np.float32
    assert dx.dtype == np.float32
    want = mg.grad(f)(X32.astype(np.float64))
    assert np.allclose(dx, want, rtol=1e-5)


def test_power_gradient_to_the_exponent_is_float32_and_right():
    dx = mg.grad(lambda x: mg.ops.sum(2.0**x))(X32)
    assert dx.dtype == np.float32
    assert np.allclose(dx, 2.0 ** X32.astype(np.float64) * np.log(2.0), rtol=1e-6)


def test_explicit_float32_and_array_constants_keep_their_dtype():
    g = mg.Graph()
    c = g.constant(np.float32(0.5))
    assert c.dtype == np.float32
    v = g.constant(np.array([1.0, 2.0]))  # an array of one or more dims keeps float64
    assert v.dtype == np.float64
    w = g.constant(np.float64(0.5))  # weak, like 0.5
    assert w.dtype is None and type(w.value) is float


def test_a_float64_vjp_message_is_cast_to_its_float32_parent():
    class Up:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [
                mg.Op(
                    "rel_up",
                    lambda x: x * 2,
                    vjp=(lambda g, ans, x: (g * 2).astype(np.float64),),
                    shape=lambda s: s,
                )
            ]

    name = mg.plugins.register(Up())
    try:
        dx = mg.grad(lambda x: mg.ops.sum(mg.ops.rel_up(x) * x))(X32)
        assert dx.dtype == np.float32
        assert np.allclose(dx, 4 * X32)
    finally:
        mg.plugins.unregister(name)


# -- a wrong needs is named ---------------------------------------------------------------------


def test_check_op_names_needs_when_only_the_freeing_path_is_wrong():
    bad = mg.Op(
        "rel_bad_needs",
        lambda x: np.exp(x) * 1.0,
        vjp=(lambda g, ans, x: g * np.exp(x),),
        shape=lambda s: s,
        needs=("ans",),
    )  # the vjp reads x, not ans
    with pytest.raises(AssertionError, match="needs is the likely cause"):
        mg.testing.check_op(bad, [np.array([0.1, 0.2, 0.3])])


# -- building from several threads ---------------------------------------------------------------


def test_building_one_graph_from_several_threads_gives_distinct_nodes():
    g = mg.Graph()
    x = g.input("x", shape=())
    per_thread, threads = 400, 6
    outs: list = [None] * threads
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:

        def build(t):
            y = x
            for _ in range(per_thread):
                y = y * 1.0 + 0.0
            outs[t] = y

        ts = [threading.Thread(target=build, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    nodes = list(g)
    assert len(nodes) == 1 + threads * per_thread * 4  # x; two ops and two constants per step
    assert sorted(n.index for n in nodes) == list(range(len(nodes)))
    assert len({n.name for n in nodes}) == len(nodes)
    run = g.forward(outs, {"x": 3.0})
    assert all(float(run[o]) == 3.0 for o in outs)


# -- arrays of nodes -------------------------------------------------------------------------------


def test_an_object_array_of_nodes_is_built_with_stack():
    # autograd's test_1d_array: np.array([x, x * 1.0, x + 2.5]), here through tanh
    f = lambda x: mg.ops.sum(mg.ops.tanh(np.array([x, x * 1.0, x + 2.5])))  # noqa: E731
    d = lambda z: 1 - np.tanh(z) ** 2  # noqa: E731
    assert float(mg.grad(f)(0.3)) == pytest.approx(2 * d(0.3) + d(2.8))


def test_an_object_array_of_nodes_used_with_a_node_is_not_a_constant():
    f = lambda x: mg.ops.sum(x * np.array([x, 2 * x]))  # 3 x^2  # noqa: E731
    assert float(mg.grad(f)(1.5)) == pytest.approx(9.0)


def test_autograd_style_array_of_boxes_inside_nested_grad():
    inner = lambda y: mg.ops.sum(y * np.array([y, 2 * y]))  # 3 y^2  # noqa: E731
    outer = lambda x: mg.grad(inner)(x) * x  # 6 x^2  # noqa: E731
    value, dx = mg.value_and_grad(outer)(1.5)
    assert float(value) == pytest.approx(6 * 1.5**2)
    assert float(dx) == pytest.approx(12 * 1.5)


def test_an_array_from_arrays_of_nodes():
    # autograd's test_array_from_arrays: np.array([x, x]) for a (3, 2) x
    A = np.linspace(-1, 1, 6).reshape(3, 2)
    value, dA = mg.value_and_grad(lambda x: mg.ops.sum(mg.ops.tanh(np.array([x, x]))))(A)
    assert float(value) == pytest.approx(2 * np.tanh(A).sum())
    assert np.allclose(dA, 2 * (1 - np.tanh(A) ** 2))


def test_a_list_of_nodes_where_an_array_is_expected():
    assert float(mg.grad(lambda x: mg.ops.sum([x, 2 * x, 1.0]))(1.0)) == 3.0
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    v = x * [x[0], 1.0]  # x0^2, x1
    assert g.grad(mg.ops.sum(v), wrt=x, feed={"x": np.array([3.0, 5.0])}).tolist() == [6.0, 1.0]


def test_an_array_of_nodes_returned_by_the_function_is_its_loss():
    assert float(mg.grad(lambda x: np.array(x * x))(3.0)) == 6.0


# -- complex is refused ---------------------------------------------------------------------------


def test_complex_constants_inputs_params_and_feeds_are_refused():
    with pytest.raises(mg.GraphError, match="complex"):
        mg.grad(lambda x: x * (1 + 0.2j))(1.0)
    with pytest.raises(mg.MpgraphError, match="complex"):
        mg.grad(lambda x: mg.ops.sum(x * 2.0))(np.array([1 + 1j]))
    g = mg.Graph()
    with pytest.raises(mg.GraphError, match="complex"):
        g.param("w", np.array([1j]))
    with pytest.raises(mg.GraphError, match="real"):
        g.input("z", dtype=np.complex128)
    x = g.input("x")
    with pytest.raises(mg.FeedError, match="complex"):
        g.forward(x * 2.0, {"x": np.array(1j)})
    assert float(g.forward(x * 2.0, {"x": 1.5})[list(g)[-1]]) == 3.0  # still usable
