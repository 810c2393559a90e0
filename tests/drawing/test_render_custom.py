"""Custom-derivative nodes in pictures: one box saying whose derivative it runs, and with
expand=, the function traced inside it; checked on the DOT source."""

import re

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.drawing.dot import pipe


@mg.custom_vjp
def softplus(x):
    return mg.ops.log1p(mg.ops.exp(x))


softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g * mg.ops.sigmoid(x),))


def _graph():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.ones(3))
    L = mg.ops.sum(softplus(x * w), name="L")
    run = g.forward(L, {"x": np.array([1.0, 2.0, 3.0])}).backward(L, keep_messages=True)
    return g, run


def _cluster(source, item_id):
    """The body of the expanded cluster of box ``item_id``, and the source without it."""
    start = source.index(f"subgraph cluster_inside_{item_id} {{")
    end = source.index("\n\t}", start)
    return source[start:end], source[:start] + source[end:]


def _id(g, name):
    return f"n{g[name].index}"


def test_a_custom_node_is_one_box_that_says_whose_derivative_it_runs():
    g, run = _graph()
    src = mg.render(g, run).source
    box = _id(g, "softplus_1")
    line = next(li for li in src.splitlines() if li.strip().startswith(f"{box} [label="))
    assert "custom_vjp · vjp by hand · 2 nodes inside" in line
    assert "∂L/∂softplus_1 = [1, 1, 1]" in line  # its error signal, as any node's
    assert "cluster_inside" not in src and "exp_1" not in src and "log1p" not in src


def test_expand_draws_the_traced_inside_beside_the_box_in_one_cluster():
    g, run = _graph()
    box, arg = _id(g, "softplus_1"), _id(g, "multiply_1")
    src = mg.render(g, run, expand=["softplus_1"]).source
    cluster, rest = _cluster(src, box)
    assert "softplus_1: inside (custom_vjp; its derivative is vjp by hand)" in cluster
    assert re.search(
        rf"\n\t\t{box} \[label=.*custom_vjp · vjp by hand<", cluster
    )  # the box, no count
    inner = dict(re.findall(rf"\n\t\t({box}_i\d+) \[label=<.*?POINT-SIZE=\"10\">([^<]+)<", cluster))
    assert sorted(inner.values()) == ["exp_1", "log1p_1", "x"]
    ids = {v: k for k, v in inner.items()}
    assert (
        f"{ids['x']} -> {ids['exp_1']}" in cluster
        and f"{ids['exp_1']} -> {ids['log1p_1']}" in cluster
    )
    # the argument feeds the inside's input, the inside's output feeds the box: drawn at the top
    # level, so that the argument's box stays outside the cluster
    assert re.search(rf"\n\t{arg} -> {ids['x']} \[.*dotted", rest)
    assert re.search(rf"\n\t{ids['log1p_1']} -> {box} \[.*dotted", rest)
    assert f"\n\t\t{arg} " not in cluster
    back = mg.render(g, run, view="backward", expand=True).source
    assert f"{ids['log1p_1']} -> {ids['exp_1']}" in back and f"{box} -> {ids['log1p_1']}" in back
    assert pipe(back, "svg").startswith(b"<?xml")  # graphviz lays it out


def test_expand_on_a_checkpoint_of_a_pytree_in_a_scope():
    block = mg.checkpoint(lambda p, x: mg.ops.tanh(x @ p["w"] + p["b"]))
    g = mg.Graph()
    x = g.input("x", shape=(4, 3))
    p = {"w": g.param("w", np.eye(3)), "b": g.param("b", np.zeros(3))}
    with g.scope("layer1"):
        h = block(p, x)
    src = mg.render(g, expand=[h.name]).source
    box = _id(g, h.name)
    cluster, rest = _cluster(src, box)
    assert "checkpoint · recomputed for the vjp" in cluster
    assert src.index("subgraph cluster_layer1") < src.index(f"cluster_inside_{box}")  # nested
    inner = dict(
        re.findall(rf"\n\t\t\t({box}_i\d+) \[label=<.*?POINT-SIZE=\"10\">([^<]+)<", cluster)
    )
    assert sorted(inner.values()) == ["add_1", "matmul_1", "p.b", "p.w", "tanh_1", "x"]
    ids = {v: k for k, v in inner.items()}
    for outer, leaf in (("w", "p.w"), ("b", "p.b"), ("x", "x")):  # each argument to its leaf
        assert re.search(rf"\n\t{_id(g, outer)} -> {ids[leaf]} \[.*dotted", rest)


def test_expand_names_custom_nodes_only_and_untraceable_functions_say_so():
    g, run = _graph()
    with pytest.raises(
        mg.GraphError,
        match=r"expand names 'L', which is not a custom_vjp.*\(those are: softplus_1\)",
    ):
        mg.render(g, run, expand=["L"])

    @mg.custom_jvp
    def cube(x):
        return np.asarray(x) ** 3  # NumPy directly: runs on arrays, cannot be traced

    cube.defjvp(lambda p, t: (cube(p[0]), 3 * p[0] ** 2 * t[0]))
    np.testing.assert_allclose(
        mg.grad(lambda x: mg.ops.sum(cube(x)))(np.array([1.0, 2.0])), [3.0, 12.0]
    )
    h = mg.Graph()
    y = cube(h.input("x", shape=(2,)))
    src = mg.render(h, expand=True).source
    assert "custom_jvp · jvp by hand, transposed for the vjp<" in src  # no count: nothing traced
    cluster, _ = _cluster(src, _id(h, y.name))
    assert "not traceable on graph nodes" in cluster
