"""mg.custom_vjp, mg.custom_jvp and mg.checkpoint on pytrees (dicts, lists, tuples and
namedtuples of arrays in and out), against finite differences and closed forms."""

import collections

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import numerical_grad
from mpgraph.tree import tree_flatten, tree_unflatten

Out = collections.namedtuple("Out", "h s")


def fd_tree(f, tree, eps=1e-6):
    """Central differences of scalar f with respect to every leaf of ``tree``."""
    leaves, d = tree_flatten(tree)
    grads = []
    for i in range(len(leaves)):

        def at_leaf(v, i=i):
            return float(f(tree_unflatten(d, leaves[:i] + [v] + leaves[i + 1 :])))

        grads.append(numerical_grad(at_leaf, [np.asarray(leaves[i], float)], 0, eps))
    return tree_unflatten(d, grads)


def assert_trees_close(a, b, **kw):
    la, da = tree_flatten(a)
    lb, db = tree_flatten(b)
    assert da == db, (da, db)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(x, y, **kw)


def _layer(p, x):
    """h = tanh(W x + b) and s = sum(x^2), and [2 x]."""
    h = mg.ops.tanh(p["W"] @ x + p["b"])
    return Out(h, mg.ops.sum(x * x)), [x * 2.0]


layer = mg.custom_vjp(_layer)
bwd_calls = []


def _layer_fwd(p, x):
    out = layer(p, x)
    return out, (p, x, out[0].h)


def _layer_bwd(res, g):
    bwd_calls.append(1)
    p, x, h = res
    (out_g, (twice_g,)) = g
    dz = out_g.h * (1 - h * h)
    dp = {"W": mg.ops.outer(dz, x), "b": dz}
    dx = p["W"].T @ dz + 2 * out_g.s * x + 2.0 * twice_g
    return dp, dx


layer.defvjp(_layer_fwd, _layer_bwd)

rng = np.random.default_rng(7)
P = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(3)}
X = rng.standard_normal(2)
C = np.array([1.0, -2.0, 0.5])


def _loss(f):
    def loss(p, x):
        out, (twice,) = f(p, x)
        return mg.ops.sum(out.h * C) + 3.0 * out.s + mg.ops.sum(twice**2)

    return loss


def test_custom_vjp_takes_and_returns_pytrees_and_bwd_runs_once():
    bwd_calls.clear()
    dp, dx = mg.grad(_loss(layer), argnums=(0, 1))(P, X)
    assert len(bwd_calls) == 1
    assert sorted(dp) == ["W", "b"] and dp["W"].shape == (3, 2)
    assert_trees_close(dp, fd_tree(lambda p: _loss(_layer)(p, X), P), rtol=1e-6)
    np.testing.assert_allclose(dx, numerical_grad(lambda x: _loss(_layer)(P, x), [X], 0), rtol=1e-6)
    out, (twice,) = layer(P, X)  # on arrays it simply runs
    assert isinstance(out, Out)
    np.testing.assert_allclose(out.h, np.tanh(P["W"] @ X + P["b"]))
    np.testing.assert_allclose(twice, 2 * X)


def test_a_pytree_custom_vjp_is_one_node_whose_outputs_are_cut_from_it():
    g = mg.Graph()
    p = {"W": g.param("W", P["W"]), "b": g.param("b", P["b"])}
    x = g.input("x", shape=(2,))
    out, (twice,) = layer(p, x)
    assert type(out) is Out
    (node,) = [n for n in g if n.kind == "op" and n.op.name == "_layer"]
    assert [a.name for a in node.args] == ["W", "b", "x"]  # one argument per leaf, by key
    assert node.shape == (3 + 1 + 2,)
    assert (out.h.shape, out.s.shape, twice.shape) == ((3,), (), (2,))
    L = _loss(lambda p, x: (out, [twice]))(p, x)
    grads = g.grad(L, wrt=[p["W"], p["b"], x], feed={"x": X})
    want = mg.grad(_loss(_layer), argnums=(0, 1))(P, X)
    np.testing.assert_allclose(grads[0], want[0]["W"], rtol=1e-12)
    np.testing.assert_allclose(grads[2], want[1], rtol=1e-12)


def test_pytree_custom_vjp_has_forward_mode_and_second_derivatives():
    v = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(3)}
    vx = rng.standard_normal(2)
    f = lambda p, x: _loss(layer)(p, x)  # noqa: E731
    ref = lambda p, x: _loss(_layer)(p, x)  # noqa: E731
    # forward mode transposes bwd: J v against a directional central difference
    eps = 1e-6
    plus = ref({k: P[k] + eps * v[k] for k in P}, X + eps * vx)
    minus = ref({k: P[k] - eps * v[k] for k in P}, X - eps * vx)
    _, t = mg.jvp(f, (P, X), (v, vx))
    np.testing.assert_allclose(t, (plus - minus) / (2 * eps), rtol=1e-6)
    # bwd is written with mg.ops: differentiate the gradient with respect to x again
    hx = mg.hessian(f, argnums=1)(P, X)
    np.testing.assert_allclose(hx, mg.hessian(ref, argnums=1)(P, X), rtol=1e-10)


def test_custom_vjp_output_leaves_keep_their_own_dtypes():
    @mg.custom_vjp
    def pair(x):
        return {"lo": mg.ops.astype(x, np.float32), "hi": x * 2.0}

    pair.defvjp(
        lambda x: (pair(x), None),
        lambda r, g: (mg.ops.astype(g["lo"], np.float64) + 2.0 * g["hi"],),
    )
    g = mg.Graph()
    x = g.input("x", shape=(3,), dtype=np.float64)
    out = pair(x)
    assert out["lo"].dtype == np.float32 and out["hi"].dtype == np.float64
    run = g.forward([out["lo"], out["hi"]], {"x": np.arange(3.0)})
    assert run[out["lo"]].dtype == np.float32
    np.testing.assert_array_equal(run[out["hi"]], 2 * np.arange(3.0))
    d = mg.grad(lambda x: mg.ops.sum(pair(x)["lo"] * 5.0) + mg.ops.sum(pair(x)["hi"]))(np.ones(3))
    np.testing.assert_allclose(d, np.full(3, 7.0))


# -- custom_jvp on pytrees ----------------------------------------------------------------------


@mg.custom_jvp
def polar(p):
    """(r, theta) of the point {"x": x, "y": y}, x > 0."""
    return (mg.ops.sqrt(p["x"] ** 2 + p["y"] ** 2), mg.ops.arctan(p["y"] / p["x"]))


def _polar_rule(primals, tangents):
    ((p,), (t,)) = primals, tangents
    r, theta = polar(p)
    dr = (p["x"] * t["x"] + p["y"] * t["y"]) / r
    dtheta = (p["x"] * t["y"] - p["y"] * t["x"]) / (r * r)
    return (r, theta), (dr, dtheta)


polar.defjvp(_polar_rule)


def test_custom_jvp_on_pytrees_forward_and_transposed():
    p = {"x": np.array([3.0, 1.0]), "y": np.array([4.0, -1.0])}
    v = {"x": np.array([0.5, 1.0]), "y": np.array([-1.0, 2.0])}
    (r, theta), (dr, dtheta) = mg.jvp(polar, (p,), (v,))
    np.testing.assert_allclose(r, [5.0, np.sqrt(2)])
    # closed form: dr = (x dx + y dy) / r, dtheta = (x dy - y dx) / r^2
    np.testing.assert_allclose(dr, (p["x"] * v["x"] + p["y"] * v["y"]) / r, rtol=1e-12)
    np.testing.assert_allclose(dtheta, (p["x"] * v["y"] - p["y"] * v["x"]) / r**2, rtol=1e-12)

    def loss(p):
        r, theta = polar(p)
        return mg.ops.sum(r * theta)

    def ref(p):
        r = np.sqrt(p["x"] ** 2 + p["y"] ** 2)
        return np.sum(r * np.arctan(p["y"] / p["x"]))

    assert_trees_close(mg.grad(loss)(p), fd_tree(ref, p), rtol=1e-6)
    # second order through the transposed rule
    h = mg.hessian(lambda x: loss({"x": x, "y": p["y"]}))(p["x"])
    fd = np.stack(
        [
            numerical_grad(
                lambda x, i=i: mg.grad(lambda x: loss({"x": x, "y": p["y"]}))(x)[i], [p["x"]], 0
            )
            for i in range(2)
        ]
    )
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-8)


# -- checkpoint on pytrees ----------------------------------------------------------------------


def _block(p, state):
    h = mg.ops.tanh(state["h"] @ p["w"] + p["b"])
    return {"h": h, "sum": state["sum"] + mg.ops.sum(h)}


def test_checkpoint_takes_and_returns_pytrees():
    block = mg.checkpoint(_block)
    params = [
        {"w": rng.standard_normal((4, 4)) * 0.5, "b": rng.standard_normal(4)} for _ in range(3)
    ]
    h0 = rng.standard_normal((2, 4))

    def run(blk):
        def loss(params, h0):
            state = {"h": h0, "sum": 0.0}
            for p in params:
                state = blk(p, state)
            return mg.ops.sum(state["h"] ** 2) + state["sum"]

        return loss

    grads, dh = mg.grad(run(block), argnums=(0, 1))(params, h0)
    assert_trees_close(grads, fd_tree(lambda ps: run(_block)(ps, h0), params), rtol=1e-6)
    np.testing.assert_allclose(
        dh, numerical_grad(lambda h: run(_block)(params, h), [h0], 0), rtol=1e-6
    )


# -- errors ---------------------------------------------------------------------------------------


def test_non_array_leaves_and_wrong_structures_are_refused_by_name():
    with pytest.raises(
        mg.MpgraphError,
        match=r"argument 0 leaf \['act'\] of _layer \(a custom_vjp function\) is str",
    ):
        mg.grad(lambda x: mg.ops.sum(layer({"W": x, "b": x, "act": "relu"}, X)[0].h))(
            np.ones((3, 2))
        )

    @mg.custom_vjp
    def labelled(x):
        return {"y": x * 2.0, "name": "double"}

    labelled.defvjp(lambda x: (labelled(x), None), lambda r, g: (2.0 * g["y"],))
    with pytest.raises(mg.MpgraphError, match=r"output leaf \['name'\] of labelled .* is str"):
        mg.grad(lambda x: mg.ops.sum(labelled(x)["y"]))(np.ones(2))

    @mg.custom_vjp
    def both(p):
        return p["a"] * p["b"]

    both.defvjp(lambda p: (both(p), p), lambda p, g: ({"a": g * p["b"]},))  # "b" missing
    with pytest.raises(
        mg.MpgraphError,
        match=r"bwd of both: entry 0 must have the structure of argument 0 .*"
        r"expected a dict with keys \['a', 'b'\], got a dict with keys \['a'\]",
    ):
        mg.grad(lambda p: both(p))({"a": 1.0, "b": 2.0})
    both.defvjp(lambda p: (both(p), p), lambda p, g: ({"a": g * p["b"], "b": None},))
    assert mg.grad(lambda p: both(p))({"a": 1.0, "b": 2.0}) == {"a": 2.0, "b": 0.0}

    @mg.custom_vjp
    def twice(x):
        return x * 2.0

    twice.defvjp(lambda x: ((twice(x), x), None), lambda r, g: (2.0 * g,))
    with pytest.raises(
        mg.MpgraphError,
        match=r"the output of fwd of twice .* does not have the structure of its output",
    ):
        mg.grad(lambda x: mg.ops.sum(twice(x)))(np.ones(2))
