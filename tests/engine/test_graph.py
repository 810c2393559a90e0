"""Building graphs: names, scopes, constants, the NetworkX structure, and build-time errors."""

import networkx as nx
import numpy as np
import pytest

import mpgraph as mg


def test_nodes_are_named_from_their_op_and_scope():
    g = mg.Graph()
    x = g.input("x")
    a, b = x * 2, x * 3
    assert (a.name, b.name) == ("multiply_1", "multiply_2")
    with g.scope("layer1"):
        W = g.param("W", np.ones((2, 2)))
        c = mg.ops.tanh(x)
        with g.scope("inner"):
            d = mg.ops.tanh(x, name="act")
    assert (W.name, c.name, d.name) == ("layer1/W", "layer1/tanh_1", "layer1/inner/act")
    assert g["layer1/inner/act"] is d


def test_duplicate_names_are_refused():
    g = mg.Graph()
    g.input("x")
    with pytest.raises(mg.GraphError, match="node name 'x' is already used"):
        g.param("x", 1.0)


def test_same_parent_twice_and_fan_out_are_exact_edges():
    g = mg.Graph()
    x = g.input("x")
    sq = x * x
    s = mg.ops.sin(x) if hasattr(mg.ops, "sin") else mg.ops.exp(x)
    assert isinstance(g.nx, nx.MultiDiGraph)
    assert sorted(g.nx.get_edge_data("x", sq.name)) == [0, 1]
    assert g.nx.has_edge("x", s.name)
    assert sq.args == (x, x)
    assert g.nx.nodes[sq.name]["op"] == "multiply"


def test_numbers_and_arrays_become_constants_and_arrays_are_copied():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    arr = np.array([1.0, 2.0, 3.0])
    y = x * arr + 2.5
    const = y.args[0].args[1]
    assert const.kind == "const"
    arr[0] = 100.0  # the graph keeps its own copy
    assert const.value[0] == 1.0
    assert y.args[1].value == 2.5


def test_params_copy_the_users_array_and_change_only_explicitly():
    g = mg.Graph()
    user = np.array([1, 2, 3])
    p = g.param("p", user)
    assert p.dtype == np.float64 and user.dtype.kind == "i"
    with pytest.raises(ValueError):
        p.value[0] = 5.0  # read-only: a change must go through set_param
    g.set_param(p, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(p.value, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(user, [1, 2, 3])
    with pytest.raises(
        mg.ShapeError, match="parameter 'p' has shape \\(3,\\); the new value has shape \\(2,\\)"
    ):
        p.value = [1.0, 2.0]


def test_unknown_op_is_refused_with_suggestions():
    g = mg.Graph()
    x = g.input("x")
    with pytest.raises(mg.GraphError, match="unknown op 'tanhh' \\(did you mean 'tanh'"):
        g.apply("tanhh", [x])
    with pytest.raises(AttributeError, match="unknown op 'tanhh'"):
        mg.ops.tanhh


def test_wrong_arity_is_refused_naming_the_op():
    g = mg.Graph()
    x = g.input("x")
    with pytest.raises(
        mg.GraphError, match="op 'add' at node 'bad': takes 2 array arguments, got 1"
    ):
        g.apply("add", [x], name="bad")
    with pytest.raises(TypeError, match="op 'add' takes 2 array arguments, got 1"):
        mg.ops.add(x)


def test_shape_mismatch_is_refused_at_build_naming_node_and_op():
    g = mg.Graph()
    a, b = g.input("a", (3, 4)), g.input("b", (5, 2))
    with g.scope("layer1"):
        g.input("pad")
        with pytest.raises(mg.ShapeError) as e:
            mg.ops.matmul(a, b, name="matmul_2")
    assert str(e.value) == (
        "mpgraph: op 'matmul' at node 'layer1/matmul_2': shapes (3, 4) and "
        "(5, 2) do not align (4 != 5)"
    )
    with pytest.raises(
        mg.ShapeError,
        match="op 'add' at node 'add_1': shapes \\(3, 4\\), \\(5, 2\\) do not broadcast",
    ):
        a + b


def test_unknown_dims_propagate_and_known_ones_are_checked():
    g = mg.Graph()
    x = g.input("x", (None, 784))
    W = g.param("W", np.zeros((784, 10)))
    h = x @ W
    assert h.shape == (None, 10)
    assert mg.ops.sum(h, axis=0).shape == (10,)
    with pytest.raises(mg.ShapeError, match="do not align"):
        h @ W


def test_a_cycle_is_refused_naming_its_nodes():
    G = nx.MultiDiGraph()
    G.add_node("x", kind="input")
    G.add_node("a", kind="op", op="tanh")
    G.add_node("b", kind="op", op="exp")
    G.add_edge("x", "a", argnum=0)
    G.add_edge("a", "b", argnum=0)
    G.add_edge("b", "a", argnum=1)
    with pytest.raises(mg.GraphError, match="the graph has a cycle: (a -> b -> a|b -> a -> b)"):
        mg.Graph.from_networkx(G)


def test_from_networkx_rebuilds_a_graph_that_computes_the_same():
    g = mg.Graph()
    x = g.input("x", (2,))
    w = g.param("w", np.array([0.5, -1.0]))
    L = mg.ops.sum(mg.ops.tanh(w * x) * x, name="L")
    G = nx.MultiDiGraph()
    for n in g:
        G.add_node(
            n.name,
            kind=n.kind,
            op=n.op.name if n.op else None,
            attrs=n.attrs,
            shape=n.shape,
            value=n.fixed,
            index=n.index,
        )
    G.add_edges_from(g.nx.edges(keys=True, data=True))
    h = mg.Graph.from_networkx(G)
    feed = {"x": np.array([0.3, 0.8])}
    np.testing.assert_allclose(h.forward("L", feed)["L"], g.forward(L, feed)[L])
    np.testing.assert_allclose(h.grad("L", wrt=["w"], feed=feed), g.grad(L, wrt=[w], feed=feed))


def test_nodes_from_another_graph_are_refused():
    g1, g2 = mg.Graph(), mg.Graph()
    x1, x2 = g1.input("x"), g2.input("x")
    with pytest.raises(mg.GraphError, match="node 'x' belongs to another graph"):
        x1 + x2


def test_numpy_functions_on_nodes_add_the_op_of_the_same_name():
    g = mg.Graph()
    x = g.input("x", (2, 3))
    assert np.exp(x).op.name == "exp"
    assert np.sum(x, axis=1).shape == (2,)
    assert (np.ones(3) + x).op.name == "add"
    with pytest.raises(TypeError, match="numpy.fft_not_an_op|no op named"):
        np.frexp(x)


def test_a_graph_and_its_nodes_sit_in_no_reference_cycle():
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        g = mg.Graph()
        x = g.input("x")
        y = mg.ops.tanh(x * 2.0 + 1.0)
        g.forward(y, {"x": 0.5}).backward(y)
        ref, node_ref = weakref.ref(g), weakref.ref(y)
        del g, x, y
        assert node_ref() is None, "nodes must be freed by reference counting"
        # networkx caches views on its graph object (one cycle per graph, none per node)
        del ref
    finally:
        gc.enable()


def test_small_mistakes_get_clear_errors():
    g = mg.Graph()
    assert g.input("v", shape=3).shape == (3,)  # an int shape, as NumPy takes it
    with pytest.raises(mg.GraphError, match="parameter 'p' needs a numeric value; got NoneType"):
        g.param("p", None)
    with pytest.raises(mg.GraphError, match="forward needs at least one output node"):
        g.forward([])
    with pytest.raises(mg.GraphError, match="node 'v' is an input: its value lives in a Run"):
        g["v"].value
    with pytest.raises(AttributeError, match="unknown op 'ReLU' \\(did you mean 'relu'"):
        mg.ops.ReLU
    with pytest.raises(mg.MpgraphError, match="unknown op"):
        mg.ops.tanhh
    with pytest.raises(mg.MpgraphError, match="takes 2 array arguments, got 1"):
        mg.ops.add(g["v"])


def test_a_plugin_op_with_too_few_vjp_entries_is_named_when_used():
    twoargs = mg.Op("twoargs", lambda x, y: x + y, vjp=(lambda g, ans, x, y: g,))
    assert twoargs.nargs == 1 and twoargs.attr_names == ("y",)
    g = mg.Graph()
    a, b = g.input("a", (2,)), g.input("b", (2,))
    with pytest.raises(
        mg.GraphError,
        match="op 'twoargs' at node 'twoargs_1': attribute 'y' got the "
        "graph node 'b', but attributes are constants.*takes 1 "
        "array argument, one per vjp entry",
    ):
        g.apply(twoargs, [a], {"y": b})
    with pytest.raises(mg.ArityError) as e:
        g.apply(twoargs, [a], {"y": b})
    assert str(e.value).count("mpgraph:") == 1  # not wrapped again as a shape error


def test_a_broken_shape_rule_is_reported_naming_op_node_and_plugin():
    class Beta:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [
                mg.Op(
                    "scaled",
                    lambda x, beta=1.0: x * beta,
                    vjp=(lambda g, ans, x, beta=1.0: g * beta,),
                    shape=lambda s: s,
                )
            ]

    name = mg.plugins.register(Beta())
    try:
        assert name == "Beta"
        g = mg.Graph()
        with pytest.raises(
            mg.GraphError,
            match="op 'scaled' at node 'scaled_1': the shape rule raised "
            "TypeError: .*beta.* \\(plugin 'Beta'\\)",
        ):
            mg.ops.scaled(g.input("x", (2,)))
    finally:
        mg.plugins.unregister(name)


def test_g_grad_by_default_gives_zeros_to_parameters_cut_off_by_a_comparison():
    g = mg.Graph()
    x = g.input("x", (3,))
    thr, w = g.param("thr", 0.5), g.param("w", 2.0)
    L = mg.ops.sum(mg.ops.where(x > thr, w * x, 0.0))
    xv = np.array([0.0, 1.0, 2.0])
    dthr, dw = g.grad(L, feed={x: xv})
    assert dthr == 0.0 and dw == pytest.approx(3.0)
    with pytest.raises(mg.GraphError, match="'thr' reaches the loss only through it"):
        g.grad(L, wrt=[thr], feed={x: xv})


def test_from_networkx_rebuilds_a_long_chain():
    from mpgraph.readwrite.export import to_networkx

    g = mg.Graph()
    x = g.input("x", (2,))
    y = x
    for _ in range(1000):  # 5,000 nodes: the cycle check must be linear, not per node
        y = mg.ops.tanh(y * 0.9 + 0.1)
    h = mg.Graph.from_networkx(to_networkx(g))
    feed = {"x": np.array([0.2, -0.4])}
    np.testing.assert_allclose(h.forward(y.name, feed)[y.name], g.forward(y, feed)[y])


def test_grad_with_respect_to_a_mapping_returns_the_same_keys():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.array([1.0, 2.0, 3.0]))
    b = g.param("b", 0.5)
    loss = mg.ops.sum((w * x + b) ** 2)
    X = np.array([1.0, -1.0, 2.0])
    grads = g.grad(loss, wrt={"layer/w": w, "layer/b": "b"}, feed={"x": X})
    r = w.value * X + 0.5
    assert list(grads) == ["layer/w", "layer/b"]
    np.testing.assert_allclose(grads["layer/w"], 2 * r * X)
    np.testing.assert_allclose(grads["layer/b"], 2 * r.sum())
