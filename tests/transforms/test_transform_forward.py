"""Forward mode and Jacobians (mg.jvp, linearize, jacfwd, jacrev, hessian, hvp, Run.jvp)
against central finite differences, closed forms and reverse mode."""

import collections

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.tree import tree_flatten, tree_map

Pair = collections.namedtuple("Pair", "w b")


def _fd_directional(f, primals, tangents, eps=1e-6):
    """(f(x + eps v) - f(x - eps v)) / 2 eps, leaf by leaf of f's output."""
    hi = f(
        *[
            tree_map(lambda x, v: np.asarray(x) + eps * np.asarray(v), p, t)
            for p, t in zip(primals, tangents)
        ]
    )
    lo = f(
        *[
            tree_map(lambda x, v: np.asarray(x) - eps * np.asarray(v), p, t)
            for p, t in zip(primals, tangents)
        ]
    )
    return tree_map(lambda a, b: (np.asarray(a) - np.asarray(b)) / (2 * eps), hi, lo)


def _model(params, x):
    h = mg.ops.tanh(x @ params["w1"] + params["b1"])
    return {
        "out": mg.ops.softmax(h @ params["pair"].w + params["pair"].b),
        "norm": mg.ops.sum(h**2),
    }


def _params(rng):
    return {
        "w1": rng.standard_normal((4, 3)),
        "b1": rng.standard_normal(3),
        "pair": Pair(rng.standard_normal((3, 2)), rng.standard_normal(2)),
    }


def test_jvp_on_pytrees_matches_directional_finite_differences():
    rng = np.random.default_rng(0)
    params, x = _params(rng), rng.standard_normal((5, 4))
    v = tree_map(lambda a: rng.standard_normal(np.shape(a)), params)
    vx = rng.standard_normal(x.shape)
    out, t = mg.jvp(_model, (params, x), (v, vx))
    np.testing.assert_allclose(out["norm"], _model(params, x)["norm"])
    want = _fd_directional(_model, (params, x), (v, vx))
    for got, exp in zip(tree_flatten(t)[0], tree_flatten(want)[0]):
        np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-8)


def test_linearize_reuses_one_run_and_agrees_with_jvp():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3)
    f = lambda x: mg.ops.exp(x) * mg.ops.sum(x**2)  # noqa: E731
    y, f_jvp = mg.linearize(f, x)
    np.testing.assert_allclose(y, np.exp(x) * np.sum(x**2))
    for _ in range(3):
        v = rng.standard_normal(3)
        np.testing.assert_allclose(f_jvp(v), mg.jvp(f, (x,), (v,))[1], rtol=1e-12)
        # closed form: J v = e^x sum(x^2) v + e^x 2 <x, v>
        np.testing.assert_allclose(
            f_jvp(v), np.exp(x) * np.sum(x**2) * v + np.exp(x) * (2 * x @ v), rtol=1e-12
        )


def test_jacfwd_and_jacrev_agree_with_finite_differences_on_pytrees():
    rng = np.random.default_rng(2)
    params, x = _params(rng), rng.standard_normal((2, 4))
    jf = mg.jacfwd(_model)(params, x)
    jr = mg.jacrev(_model)(params, x)
    assert jf["out"]["w1"].shape == (2, 2, 4, 3) and jf["norm"]["pair"].b.shape == (2,)
    for a, b in zip(tree_flatten(jf)[0], tree_flatten(jr)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # one column by finite differences: d out / d w1[1, 2]
    basis = tree_map(np.zeros_like, params)
    basis["w1"][1, 2] = 1.0
    col = _fd_directional(lambda p: _model(p, x), (params,), (basis,))
    np.testing.assert_allclose(jf["out"]["w1"][..., 1, 2], col["out"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jr["norm"]["w1"][1, 2], col["norm"], rtol=1e-6)


def test_jacobians_with_argnums_tuple_and_has_aux():
    def f(a, b):
        return a * mg.ops.sin(b), "aux"

    a, b = np.array([1.0, 2.0]), np.array([0.3, -0.4])
    (da, db), aux = mg.jacrev(f, argnums=(0, 1), has_aux=True)(a, b)
    assert aux == "aux"
    np.testing.assert_allclose(da, np.diag(np.sin(b)))
    np.testing.assert_allclose(db, np.diag(a * np.cos(b)))
    (fa, fb), _ = mg.jacfwd(f, argnums=(0, 1), has_aux=True)(a, b)
    np.testing.assert_allclose(fb, db)


def test_hessian_and_hvp_match_the_closed_form():
    A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 4.0]])
    x = np.array([0.5, -0.2, 0.1])

    def f(x):  # 1/2 x^T A x + sum(x^4) / 4: Hessian A + diag(3 x^2)
        return 0.5 * mg.ops.sum(x * (A @ x)) + mg.ops.sum(x**4) / 4

    H = A + np.diag(3 * x**2)
    np.testing.assert_allclose(mg.hessian(f)(x), H, rtol=1e-12)
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(mg.hvp(f, (x,), (v,)), H @ v, rtol=1e-12)


def test_a_built_graph_carries_tangent_messages_like_lees_forward_pass():
    """Lee's forward pass: with the tangent 1 on w, every node's tangent is d node / dw, and a
    node's tangent is the sum of the tangent messages on its in-edges."""
    g = mg.Graph()
    x, w, b = g.input("x"), g.param("w", 2.0), g.param("b", -1.0)
    z = w * x + b
    y = mg.ops.sigmoid(z, name="y")
    L = mg.ops.multiply(0.5, (y - 1.0) ** 2, name="L")
    run = g.forward(L, {"x": 1.5}).jvp({w: 1.0}, keep_messages=True)
    s = 1 / (1 + np.exp(-(2.0 * 1.5 - 1.0)))
    assert float(run.tangent(z)) == pytest.approx(1.5)  # dz/dw = x
    assert float(run.tangent(y)) == pytest.approx(s * (1 - s) * 1.5)
    assert float(run.tangent(L)) == pytest.approx((s - 1) * s * (1 - s) * 1.5)
    assert float(run.tangent(L)) == pytest.approx(float(g.grad(L, wrt=w, feed={"x": 1.5})))
    assert run.tangent(b) is None  # nothing flows into b
    for node in (z, y, L):
        into = [m for (p, c, k), m in run.tangent_messages.items() if c == node.name]
        assert float(sum(into)) == pytest.approx(float(run.tangent(node)))


def test_forward_mode_errors_are_clear():
    with pytest.raises(mg.MpgraphError, match="jvp takes primals as a tuple"):
        mg.jvp(mg.ops.sin, 1.0, (1.0,))
    with pytest.raises(mg.MpgraphError, match=r"a tangent has shape \(2,\); its primal"):
        mg.jvp(mg.ops.sin, (np.zeros(3),), (np.zeros(2),))
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    run = g.forward(mg.ops.sin(x), {"x": np.zeros(2)})
    with pytest.raises(mg.ShapeError, match=r"the tangent for node 'x' has shape \(3,\)"):
        run.jvp({x: np.zeros(3)})
    with pytest.raises(mg.MpgraphError, match="no tangents yet"):
        g.forward(x, {"x": np.zeros(2)}).tangent(x)
    L = mg.ops.sum(mg.ops.sin(x * 2.0))
    freed = mg.Run.for_gradients(g.schedule(L), L, [x], {"x": np.ones(2)})
    with pytest.raises(mg.GraphError, match="this run freed the values"):
        freed.jvp({x: np.ones(2)})


def test_an_op_without_jvp_rule_transposes_its_differentiable_vjp_and_otherwise_says_why():
    smooth = mg.Op(
        "test_cube_nojvp",
        lambda x: x**3,
        (lambda g, ans, x: g * 3 * x**2,),
        differentiable_vjp=True,
    )
    rough = mg.Op(
        "test_cube_numpy",
        lambda x: x**3,
        (lambda g, ans, x: np.multiply(g, 3 * np.asarray(x) ** 2),),
    )
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    ys = [g.apply(smooth, [x]), g.apply(rough, [x])]
    run = g.forward(ys[0], {"x": np.array([1.0, 2.0])}).jvp({x: np.array([1.0, -1.0])})
    np.testing.assert_allclose(run.tangent(ys[0]), [3.0, -12.0])
    run = g.forward(ys[1], {"x": np.array([1.0, 2.0])})
    with pytest.raises(
        mg.GraphError, match="op 'test_cube_numpy' at node 'test_cube_numpy_1': has no jvp rule"
    ):
        run.jvp({x: np.ones(2)})
    with pytest.raises(mg.PluginError, match="jvp must be a tuple with one function"):
        mg.Op("bad", lambda x: x, (lambda g, ans, x: g,), jvp=(None, None))
