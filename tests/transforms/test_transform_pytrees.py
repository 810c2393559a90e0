"""mg.grad and mg.value_and_grad on pytrees of parameters, against finite differences."""

import collections

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import numerical_grad
from mpgraph.tree import tree_flatten, tree_unflatten

Dense = collections.namedtuple("Dense", "w b")


def _mlp(params, x):
    h = mg.ops.tanh(params["layer1"]["w"] @ x + params["layer1"]["b"])
    out = params["layer2"][0].w @ h + params["layer2"][0].b
    return mg.ops.sum(out**2) + params["scale"][1] * mg.ops.sum(h)


def _params(rng):
    return {
        "layer1": {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(3)},
        "layer2": [Dense(rng.standard_normal((2, 3)), rng.standard_normal(2))],
        "scale": (None, 0.5),
    }


def _fd(f, params, *rest):
    """Central differences of ``f(params, *rest)`` leaf by leaf, in the structure of params."""
    leaves, treedef = tree_flatten(params)

    def of_leaf(i):
        def g(leaf):
            return float(f(tree_unflatten(treedef, leaves[:i] + [leaf] + leaves[i + 1 :]), *rest))

        return numerical_grad(g, [np.asarray(leaves[i], float)], 0)

    return tree_unflatten(treedef, [of_leaf(i) for i in range(len(leaves))])


def test_nested_dicts_lists_namedtuples_get_gradients_of_the_same_structure():
    rng = np.random.default_rng(0)
    params, x = _params(rng), rng.standard_normal(4)
    value, grads = mg.value_and_grad(_mlp)(params, x)
    assert float(value) == pytest.approx(float(_mlp(params, x)))
    assert isinstance(grads["layer2"][0], Dense) and grads["scale"][0] is None
    want = _fd(_mlp, params, x)
    for got, exp in zip(tree_flatten(grads)[0], tree_flatten(want)[0]):
        assert np.shape(got) == np.shape(exp)
        np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-8)


def test_argnums_tuple_over_a_tree_and_an_array_and_has_aux():
    rng = np.random.default_rng(1)
    params, x = _params(rng), rng.standard_normal(4)

    def f(p, x):
        return _mlp(p, x), {"h": p["layer1"]["w"] @ x}

    (grads, dx), aux = mg.grad(f, argnums=(0, 1), has_aux=True)(params, x)
    np.testing.assert_allclose(aux["h"], params["layer1"]["w"] @ x)
    np.testing.assert_allclose(
        dx, numerical_grad(lambda x: float(_mlp(params, x)), [x], 0), rtol=1e-6
    )
    np.testing.assert_allclose(grads["layer1"]["b"], _fd(_mlp, params, x)["layer1"]["b"], rtol=1e-6)


def test_the_callers_tree_is_not_mutated():
    rng = np.random.default_rng(2)
    params = _params(rng)
    before = [np.array(leaf, copy=True) for leaf in tree_flatten(params)[0]]
    mg.grad(_mlp)(params, rng.standard_normal(4))
    for a, b in zip(tree_flatten(params)[0], before):
        np.testing.assert_array_equal(a, b)


def test_nested_grad_of_a_dict_gives_a_hessian_vector_product():
    a, v = np.array([0.3, -0.7]), np.array([1.0, 2.0])

    def f(p):
        return mg.ops.sum(mg.ops.tanh(p["a"]) ** 2)

    hvp = mg.grad(lambda p: mg.ops.sum(mg.grad(f)(p)["a"] * v))({"a": a})
    t = np.tanh(a)  # d2/da2 tanh^2 = 2 (1 - t^2)(1 - 3 t^2), diagonal
    np.testing.assert_allclose(hvp["a"], 2 * (1 - t**2) * (1 - 3 * t**2) * v, rtol=1e-10)


def test_a_leaf_that_is_not_an_array_is_named_by_its_path():
    with pytest.raises(
        mg.MpgraphError,
        match=r"argument 0 leaf \['layer1'\]\['w'\] of _mlp is "
        r"str \('oops'\), not an array",
    ):
        mg.grad(_mlp)({"layer1": {"w": "oops", "b": 1.0}}, np.ones(4))
    with pytest.raises(mg.MpgraphError, match=r"argument 1 leaf \[0\] has dtype int64"):
        mg.grad(lambda x, p: mg.ops.sum(p[0]), argnums=1)(1.0, [np.arange(3)])
    with pytest.raises(mg.MpgraphError, match="argument 0 leaf .w of f is object"):

        def f(p):
            return p.w

        mg.grad(f)(Dense(object(), 1.0))
