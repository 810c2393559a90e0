"""Products and decompositions of the second catalogue against NumPy and closed forms; their
gradients against finite differences are checked registry-wide."""

import numpy as np
import pytest

import mpgraph as mg


def test_products_match_numpy_on_nodes():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 2))
    g = mg.Graph()
    A, B = g.input("a", a.shape), g.input("b", b.shape)
    v, w = g.input("v", (3,)), g.input("w", (3,))
    nodes = [
        np.tensordot(A, B, axes=([1, 2], [1, 0])),
        np.inner(A, A),
        np.kron(v, w),
        np.cross(v, w),
    ]
    vv, ww = rng.standard_normal(3), rng.standard_normal(3)
    run = g.forward(nodes, {A: a, B: b, v: vv, w: ww})
    wants = [
        np.tensordot(a, b, axes=([1, 2], [1, 0])),
        np.inner(a, a),
        np.kron(vv, ww),
        np.cross(vv, ww),
    ]
    for node, want in zip(nodes, wants):
        assert node.shape == want.shape
        np.testing.assert_allclose(run[node], want, rtol=1e-12)


def test_cholesky_symmetrizes_its_input_as_jax_does():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((3, 3))
    spd = m @ m.T + 3 * np.eye(3)
    lower = np.tril(rng.standard_normal((3, 3)), -1)
    np.testing.assert_allclose(
        mg.ops.linalg.cholesky(spd + lower - lower.T), np.linalg.cholesky(spd), rtol=1e-12
    )
    d = mg.grad(lambda x: mg.ops.sum(mg.ops.linalg.cholesky(x)))(spd)
    np.testing.assert_allclose(d, d.T, rtol=1e-12)  # the message is symmetric


def test_slogdet_gradient_is_the_inverse_transpose():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    sign, logdet = mg.ops.linalg.slogdet(-a)
    want = np.linalg.slogdet(-a)
    assert sign == want[0] and np.isclose(logdet, want[1])
    d = mg.grad(lambda x: mg.ops.linalg.slogdet(x)[1])(a)
    np.testing.assert_allclose(d, np.linalg.inv(a).T, rtol=1e-12)


def test_eigh_and_svd_reconstruct_and_give_known_gradients():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    a = q @ np.diag([1.0, 2.0, 4.0]) @ q.T
    w, v = mg.ops.linalg.eigh(a)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, a, atol=1e-12)
    # d(sum of eigenvalues)/dA = d trace/dA = I
    np.testing.assert_allclose(
        mg.grad(lambda x: mg.ops.sum(mg.ops.linalg.eigh(x)[0]))(a), np.eye(3), atol=1e-12
    )
    m = rng.standard_normal((4, 3))
    u, s, vh = mg.ops.linalg.svd(m, full_matrices=False)
    np.testing.assert_allclose(u * s @ vh, m, atol=1e-12)
    # d(largest singular value)/dA = u1 v1^T
    d = mg.grad(lambda x: mg.ops.linalg.svd(x, full_matrices=False)[1][0])(m)
    np.testing.assert_allclose(d, np.outer(u[:, 0], vh[0]), atol=1e-12)


def test_matrix_power_pinv_lstsq_and_solve_triangular_match_numpy():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    np.testing.assert_allclose(
        mg.ops.linalg.matrix_power(a, -2), np.linalg.inv(a) @ np.linalg.inv(a), rtol=1e-12
    )
    tall, b = rng.standard_normal((5, 3)), rng.standard_normal(5)
    np.testing.assert_allclose(mg.ops.linalg.pinv(tall), np.linalg.pinv(tall), rtol=1e-12)
    x, res, rank, s = mg.ops.linalg.lstsq(tall, b)
    want = np.linalg.lstsq(tall, b)
    np.testing.assert_allclose(x, want[0], rtol=1e-12)
    np.testing.assert_allclose(res, want[1], rtol=1e-12)
    assert rank == 3
    np.testing.assert_allclose(
        mg.ops.linalg.solve_triangular(a, b[:3], lower=True),
        np.linalg.solve(np.tril(a), b[:3]),
        rtol=1e-12,
    )
    # only the triangle that is read receives a message
    d = mg.grad(lambda t: mg.ops.sum(mg.ops.linalg.solve_triangular(t, b[:3])))(a)
    assert np.all(np.tril(d, -1) == 0)


def test_einsum_takes_numpys_list_of_indices_form():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(mg.ops.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    np.testing.assert_allclose(mg.ops.einsum(a, [Ellipsis, 1], b, [1, 2]), a @ b)
    g = mg.Graph()
    A = g.input("a", (2, 3))
    y = np.einsum(A, [0, 1], [1])
    assert y.shape == (3,)
    np.testing.assert_allclose(
        g.grad(mg.ops.sum(y * np.arange(3.0)), wrt=A, feed={A: a}), np.tile(np.arange(3.0), (2, 1))
    )


def _second_order(f, *args):
    """f's gradient, then the gradient of <v, that>, both against central differences."""
    from mpgraph.testing import check_grads

    check_grads(f, *args)
    rng = np.random.default_rng(20)
    vs = [rng.standard_normal(np.shape(a)) for a in args]
    argnums = tuple(range(len(args)))

    def h(*a):
        return sum(mg.ops.sum(v * d) for v, d in zip(vs, mg.grad(f, argnums=argnums)(*a)))

    check_grads(h, *args, rtol=1e-4, atol=1e-6)


def test_qr_of_a_wide_matrix_is_numpys_reduced_qr_and_differentiable_twice():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 5)) + np.eye(3, 5)
    q, r = mg.ops.linalg.qr(a)
    want_q, want_r = np.linalg.qr(a, mode="reduced")
    assert q.shape == (3, 3) and r.shape == (3, 5)
    np.testing.assert_allclose(q, want_q, rtol=1e-12)
    np.testing.assert_allclose(r, want_r, rtol=1e-12)
    g = mg.Graph()
    assert [n.shape for n in mg.ops.linalg.qr(g.input("a", (3, 5)))] == [(3, 3), (3, 5)]
    np.testing.assert_allclose(mg.ops.linalg.qr(a, mode="r"), np.linalg.qr(a, mode="r"))
    with pytest.raises(mg.GraphError, match="mode must be 'reduced' or 'r', got 'complete'"):
        mg.ops.linalg.qr(a, mode="complete")
    wq, wr = rng.standard_normal((3, 3)), rng.standard_normal((3, 5))

    def loss(x):
        q, r = mg.ops.linalg.qr(x)
        return mg.ops.sum(wq * q) + mg.ops.sum(wr * r**2)

    _second_order(loss, a)


def test_full_svd_has_numpys_shapes_and_the_derivative_of_its_leading_vectors():
    rng = np.random.default_rng(7)
    for a in (rng.standard_normal((4, 2)), rng.standard_normal((2, 4))):
        u, s, vh = mg.ops.linalg.svd(a)  # full_matrices=True, NumPy's default
        want = np.linalg.svd(a)
        assert (u.shape, s.shape, vh.shape) == tuple(w.shape for w in want)
        np.testing.assert_allclose(np.abs(u), np.abs(want[0]), atol=1e-12)
        np.testing.assert_allclose(np.abs(vh), np.abs(want[2]), atol=1e-12)
        k = min(a.shape)
        wu, wv = rng.standard_normal((a.shape[0], k)), rng.standard_normal((k, a.shape[1]))

        def loss(x, full=True, wu=wu, wv=wv, k=k):
            u, s, vh = mg.ops.linalg.svd(x, full_matrices=full)
            return mg.ops.sum(wu * u[:, :k] ** 2) + mg.ops.sum(wv * vh[:k] ** 2) + s[0]

        np.testing.assert_allclose(
            mg.grad(loss)(a), mg.grad(lambda x: loss(x, full=False))(a), rtol=1e-12
        )
        _second_order(loss, a)


def test_a_signal_on_the_extra_columns_of_a_full_svd_is_refused():
    a = np.random.default_rng(8).standard_normal((4, 2))
    with pytest.raises(mg.OpError, match=r"no derivative is defined for the columns 2: of U"):
        mg.grad(lambda x: mg.ops.sum(mg.ops.linalg.svd(x)[0] ** 2))(a)
    with pytest.raises(mg.OpError, match=r"no derivative is defined for the rows 2: of Vh"):
        mg.grad(lambda x: mg.ops.sum(mg.ops.linalg.svd(x)[2] ** 2))(a.T)


def test_lstsq_of_a_wide_matrix_is_the_least_norm_solution_differentiable_twice():
    rng = np.random.default_rng(9)
    a, b, bb = rng.standard_normal((2, 4)), rng.standard_normal(2), rng.standard_normal((2, 3))
    x = mg.ops.linalg.lstsq(a, b)[0]
    np.testing.assert_allclose(x, np.linalg.lstsq(a, b)[0], rtol=1e-12)
    np.testing.assert_allclose(x, np.linalg.pinv(a) @ b, rtol=1e-12)
    w = rng.standard_normal((4, 3))
    _second_order(lambda m, v: mg.ops.sum(mg.ops.linalg.lstsq(m, v)[0] ** 3), a, b)
    _second_order(lambda m, v: mg.ops.sum(w * mg.ops.linalg.lstsq(m, v)[0] ** 2), a, bb)
    tall, bt = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))

    def both(m, v):
        x, res, _, s = mg.ops.linalg.lstsq(m, v)
        return mg.ops.sum(x**3) + mg.ops.sum(res) + mg.ops.sum(s**2)

    _second_order(both, tall, bt)


@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T", "C"])
@pytest.mark.parametrize("lower", [False, True])
def test_solve_triangular_trans_follows_scipy_and_is_differentiable_twice(trans, lower):
    import scipy.linalg

    rng = np.random.default_rng(10)
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal((3, 2))
    got = mg.ops.linalg.solve_triangular(a, b, trans, lower)
    np.testing.assert_allclose(
        got, scipy.linalg.solve_triangular(a, b, trans=trans, lower=lower), rtol=1e-12
    )
    _second_order(
        lambda m, v: mg.ops.sum(
            mg.ops.linalg.solve_triangular(m, v, trans=trans, lower=lower) ** 2
        ),
        a,
        b,
    )
    d = mg.grad(lambda m: mg.ops.sum(mg.ops.linalg.solve_triangular(m, b, trans, lower)))(a)
    assert np.all((np.triu(d, 1) if lower else np.tril(d, -1)) == 0)  # the unread triangle


def test_solve_triangular_refuses_an_unknown_trans():
    with pytest.raises(mg.ShapeError, match="trans must be 0, 1, 2, 'N', 'T' or 'C', got 'X'"):
        mg.ops.linalg.solve_triangular(np.eye(2), np.ones(2), trans="X")
