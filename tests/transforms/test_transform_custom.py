"""stop_gradient, mg.custom_vjp, mg.custom_jvp, and residuals (Op.fwd), against closed forms
and finite differences."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import check_grads, numerical_grad

# -- stop_gradient -------------------------------------------------------------------------------


def test_stop_gradient_passes_the_value_and_no_message_nor_tangent():
    f = lambda x: mg.ops.sum(x * mg.ops.stop_gradient(x))  # noqa: E731 - d/dx = x, not 2x
    x = np.array([1.0, -2.0, 3.0])
    assert float(f(x)) == pytest.approx(14.0)
    np.testing.assert_allclose(mg.grad(f)(x), x)
    np.testing.assert_allclose(mg.jvp(f, (x,), (np.ones(3),))[1], np.sum(x))
    assert mg.ops.stop_gradient(x) is not x  # never the caller's array
    np.testing.assert_array_equal(
        mg.grad(lambda x: mg.ops.sum(mg.ops.stop_gradient(x)))(x), np.zeros(3)
    )


# -- custom_vjp -----------------------------------------------------------------------------------


@mg.custom_vjp
def clip_gradient(x, lo, hi):
    """The identity, with its gradient clipped to [lo, hi]."""
    return x * 1.0


def _clip_fwd(x, lo, hi):
    return clip_gradient(x, lo, hi), (lo, hi)


calls = {"bwd": 0}


def _clip_bwd(res, g):
    calls["bwd"] += 1
    lo, hi = res
    return mg.ops.clip(g, lo, hi), None, None


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_uses_the_users_rule_once_per_node_and_is_one_node():
    x = np.array([0.5, -2.0, 3.0])
    f = lambda x: mg.ops.sum(clip_gradient(x, -1.0, 1.0) ** 2)  # noqa: E731
    calls["bwd"] = 0
    np.testing.assert_allclose(mg.grad(f)(x), np.clip(2 * x, -1, 1))  # not 2x
    assert calls["bwd"] == 1
    g = mg.Graph()
    xn = g.input("x", shape=(3,))
    y = clip_gradient(xn, -1.0, 1.0)
    assert y.op.name == "clip_gradient" and [p.kind for p in y.args] == ["input", "const", "const"]
    np.testing.assert_array_equal(clip_gradient(x, -1.0, 1.0), x)  # eager: just runs


@mg.custom_vjp
def logexp(x):
    return mg.ops.log1p(mg.ops.exp(x))


logexp.defvjp(lambda x: (logexp(x), x), lambda x, g: (g * mg.ops.sigmoid(x),))


def test_custom_vjp_is_differentiable_again_and_has_forward_mode():
    x = np.array([-1.0, 0.3, 2.0])
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(mg.grad(lambda x: mg.ops.sum(logexp(x)))(x), s)
    # second order through bwd: d/dx sum(v * sigmoid(x)) = v s (1 - s)
    v = np.array([1.0, 2.0, -1.0])
    h = lambda x: mg.ops.sum(v * mg.grad(lambda y: mg.ops.sum(logexp(y)))(x))  # noqa: E731
    np.testing.assert_allclose(mg.grad(h)(x), v * s * (1 - s), rtol=1e-10)
    check_grads(h, x)
    # forward mode transposes bwd
    np.testing.assert_allclose(mg.jvp(logexp, (x,), (v,))[1], s * v, rtol=1e-12)


def test_custom_vjp_errors_name_the_function():
    @mg.custom_vjp
    def f(x):
        return x * 2.0

    with pytest.raises(mg.MpgraphError, match=r"custom_vjp function f has no rule: call f.defvjp"):
        mg.grad(lambda x: mg.ops.sum(f(x)))(np.ones(2))
    f.defvjp(lambda x: (f(x), None), lambda res, g: g * 2.0)
    with pytest.raises(
        mg.MpgraphError,
        match=r"bwd of f must return a tuple with one entry per "
        r"argument \(1\)",
    ):
        mg.grad(lambda x: mg.ops.sum(f(x)))(np.ones(2))


# -- custom_jvp -----------------------------------------------------------------------------------


@mg.custom_jvp
def safe_norm(x):
    return mg.ops.sqrt(mg.ops.sum(x * x))


def _safe_norm_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    n = safe_norm(x)
    return n, mg.ops.sum(x * t) / mg.ops.maximum(n, 1e-12)


safe_norm.defjvp(_safe_norm_jvp)


def test_custom_jvp_gives_forward_mode_and_reverse_mode_by_transposing_it():
    x = np.array([3.0, -4.0])
    out, t = mg.jvp(safe_norm, (x,), (np.array([1.0, 1.0]),))
    assert float(out) == pytest.approx(5.0) and float(t) == pytest.approx(-1 / 5)
    np.testing.assert_allclose(mg.grad(safe_norm)(x), x / 5)
    np.testing.assert_allclose(mg.grad(safe_norm)(np.zeros(2)), np.zeros(2))  # no 0/0
    # the transposed rule is differentiable: the Hessian of the norm, (I - x x^T / n^2) / n
    np.testing.assert_allclose(
        mg.hessian(safe_norm)(x), (np.eye(2) - np.outer(x, x) / 25) / 5, rtol=1e-10
    )


# -- residuals -------------------------------------------------------------------------------------


def test_an_op_with_fwd_runs_it_once_and_its_vjps_read_the_residuals():
    seen = {"fwd": 0}

    def fwd(x):
        seen["fwd"] += 1
        e = np.exp(x)
        return np.log1p(e), e / (1 + e)  # softplus, saving its derivative

    op = mg.Op(
        "test_softplus_res",
        lambda x: np.log1p(np.exp(x)),
        (lambda g, ans, x, res=None: g * res,),
        fwd=fwd,
        needs=("",),
        jvp=(lambda t, ans, x, res=None: t * res,),
    )
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    y = g.apply(op, [mg.ops.multiply(x, 2.0)])
    L = mg.ops.sum(y)
    xs = np.array([-1.0, 0.0, 2.0])
    s = 1 / (1 + np.exp(-2 * xs))
    np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": xs}), 2 * s)
    assert seen["fwd"] == 1
    run = g.forward(L, {"x": xs})
    np.testing.assert_allclose(run.residuals[run.schedule.slot[y.name]], s)
    np.testing.assert_allclose(run.jvp({x: np.ones(3)}).tangent(y), 2 * s)
    run = mg.Run.for_gradients(g.schedule(L), L, [x], {"x": xs})
    assert run.residuals == {}  # freed once the node's vjps have run
    np.testing.assert_allclose(run.grad(x), 2 * s)


def test_cross_entropy_keeps_its_softmax_and_frees_its_logits():
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    g = mg.Graph()
    x = g.input("x", shape=(4, 3))
    logits = x * 2.0
    L = mg.ops.softmax_cross_entropy(logits, labels)
    run = g.forward(L, {"x": z})
    p = np.exp(2 * z) / np.exp(2 * z).sum(1, keepdims=True)
    np.testing.assert_allclose(run.residuals[run.schedule.slot[L.name]], p)
    run = mg.Run.for_gradients(g.schedule(L), L, [x], {"x": z})
    assert run[logits].strides == (0, 0)  # the logits were freed: the vjp reads p
    want = numerical_grad(lambda v: float(mg.ops.softmax_cross_entropy(2 * v, labels)), [z], 0)
    np.testing.assert_allclose(run.grad(x), want, rtol=1e-6)


# -- checkpoint -----------------------------------------------------------------------------------


def _peak(fn):
    import gc
    import tracemalloc

    fn()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return peak


def _segment(x, w):
    for _ in range(8):  # eight tanh values, each kept by its vjp unless rematerialised
        x = mg.ops.tanh(x * w)
    return x


def test_checkpoint_gives_the_same_gradient_with_a_lower_peak_memory():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((256, 256)), rng.uniform(0.5, 1.0, 256)
    seg = mg.checkpoint(_segment)

    def plain(w, x):
        for _ in range(4):
            x = _segment(x, w)
        return mg.ops.sum(x)

    def remat(w, x):
        for _ in range(4):
            x = seg(x, w)
        return mg.ops.sum(x)

    want = mg.grad(plain)(w, x)
    np.testing.assert_allclose(mg.grad(remat)(w, x), want, rtol=1e-12)
    # 32 kept values of 512 KiB each, against 4 segment outputs plus one segment's 8 values
    low, high = _peak(lambda: mg.grad(remat)(w, x)), _peak(lambda: mg.grad(plain)(w, x))
    assert high > 14 * 2**20 and low < 0.6 * high, (low / 2**20, high / 2**20)
    # a second derivative through a checkpointed segment (bwd traced as nodes)
    small = rng.standard_normal((3, 4))
    check_grads(lambda w: mg.ops.sum(mg.grad(remat)(w, small) ** 2), w[:4] * 1.0)


def test_solve_det_and_slogdet_keep_their_lu_factors_for_the_backward_pass():
    from scipy.linalg import lu_factor

    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    B = rng.standard_normal((4, 2))
    g = mg.Graph()
    a, b = g.input("a", shape=(4, 4)), g.input("b", shape=(4, 2))
    x = mg.ops.linalg.solve(a, b)
    d = mg.ops.linalg.det(a)
    logabs = mg.ops.linalg.slogdet(a)[1]
    L = mg.ops.sum(x * x) + d + logabs
    run = g.forward(L, {"a": A, "b": B})
    lu, piv = lu_factor(A)
    for node in (x, d, logabs):  # each node holds the factors of A, from its forward pass
        kept = run.residuals[run.schedule.slot[node.name]]
        np.testing.assert_allclose(kept[0], lu, rtol=1e-14)
        np.testing.assert_array_equal(kept[1], piv)
    run.backward(L, wrt=[a, b])
    # closed forms: d/dB sum(X^2) = 2 A^-T X; d/dA = -(A^-T 2X) X^T + det(A) A^-T + A^-T
    X = np.linalg.solve(A, B)
    inv_t = np.linalg.inv(A).T
    np.testing.assert_allclose(run.grad(b), inv_t @ (2 * X), rtol=1e-10)
    want_a = -(inv_t @ (2 * X)) @ X.T + np.linalg.det(A) * inv_t + inv_t
    np.testing.assert_allclose(run.grad(a), want_a, rtol=1e-10)
    # a singular matrix is refused as NumPy refuses it
    with pytest.raises(mg.OpError, match="Singular matrix"):
        g.forward(x, {"a": np.ones((4, 4)), "b": B})
    assert float(g.forward(d, {"a": np.ones((4, 4))})[d]) == 0.0
