"""Products and decompositions of the second catalogue against NumPy and closed forms; their
gradients against finite differences are checked registry-wide."""

import numpy as np

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
