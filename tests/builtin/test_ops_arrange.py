"""Stacking, splitting, rotating and cumulative ops: NumPy's results on arrays and on graph
nodes (through NumPy's own function names), gradients against hand computations."""

import numpy as np
import pytest

import mpgraph as mg


def test_numpy_functions_on_nodes_build_the_ops_and_match_numpy():
    rng = np.random.default_rng(0)
    a, b, m = rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((3, 4))
    g = mg.Graph()
    A, B, M = g.input("a", (2, 3)), g.input("b", (3,)), g.input("m", (3, 4))
    pairs = [
        (np.vstack([A, B]), np.vstack([a, b])),
        (np.hstack([B, B]), np.hstack([b, b])),
        (np.dstack([A, A]), np.dstack([a, a])),
        (np.column_stack([B, M]), np.column_stack([b, m])),
        (np.append(A, B), np.append(a, b)),
        (np.atleast_3d(B), np.atleast_3d(b)),
        (np.ravel(M), np.ravel(m)),
        (np.swapaxes(M, 0, 1), np.swapaxes(m, 0, 1)),
        (np.moveaxis(A, 0, -1), np.moveaxis(a, 0, -1)),
        (np.rollaxis(M, 1), np.rollaxis(m, 1)),
        (np.flipud(M), np.flipud(m)),
        (np.fliplr(M), np.fliplr(m)),
        (np.rot90(M), np.rot90(m)),
        (np.roll(M, 2), np.roll(m, 2)),
        (np.tril(M, 1), np.tril(m, 1)),
        (np.triu(M), np.triu(m)),
        (np.diag(B, 1), np.diag(b, 1)),
        (np.diag(M, -1), np.diag(m, -1)),
        (np.diagonal(M, 1), np.diagonal(m, 1)),
        (np.cumsum(M, axis=0), np.cumsum(m, axis=0)),
        (np.cumprod(A), np.cumprod(a)),
        (np.diff(M, 2), np.diff(m, 2)),
    ]
    run = g.forward([node for node, _ in pairs], {A: a, B: b, M: m})
    for node, want in pairs:
        assert node.shape == want.shape, node
        np.testing.assert_array_equal(run[node], want, err_msg=node.name)
    pieces = np.array_split(M, 3, axis=1)
    assert [p.shape for p in pieces] == [(3, 2), (3, 1), (3, 1)]
    run = g.forward(pieces, {M: m})
    for p, want in zip(pieces, np.array_split(m, 3, axis=1)):
        np.testing.assert_array_equal(run[p], want)
    assert [p.shape for p in np.hsplit(M, 2)] == [(3, 2), (3, 2)]


def test_cumprod_gradient_is_exact_at_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0])
    d = mg.grad(lambda v: mg.ops.sum(mg.ops.cumprod(v)))(x)
    # y = (x0, x0 x1, x0 x1 x2, x0 x1 x2 x3): dy/dx1 sums x0 + x0 x2 + x0 x2 x3 = 2 + 6 + 0
    np.testing.assert_array_equal(d, [1.0, 8.0, 0.0, 0.0])


def test_diagonal_and_diag_messages_sit_on_the_diagonal():
    m = np.arange(12.0).reshape(3, 4)
    d = mg.grad(lambda v: mg.ops.sum(mg.ops.diagonal(v, 1) * np.array([1.0, 2.0, 3.0])))(m)
    want = np.zeros((3, 4))
    want[[0, 1, 2], [1, 2, 3]] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(d, want)
    d = mg.grad(lambda v: mg.ops.sum(mg.ops.diag(v, -1)))(m)
    want = np.zeros((3, 4))
    want[[1, 2], [0, 1]] = 1
    np.testing.assert_array_equal(d, want)


def test_array_methods_on_nodes():
    g = mg.Graph()
    x = g.input("x", (2, 1, 3))
    assert x.size == 6 and x.ndim == 3 and g.input("u", (None, 3)).size is None
    xv = np.arange(6.0).reshape(2, 1, 3)
    nodes = [
        x.ravel(),
        x.flatten(),
        x.squeeze(),
        x.squeeze(axis=1),
        x.sum(axis=2),
        x.mean(),
        x.reshape(3, 2),
    ]
    run = g.forward(nodes, {x: xv})
    wants = [
        xv.ravel(),
        xv.flatten(),
        xv.squeeze(),
        xv.squeeze(axis=1),
        xv.sum(axis=2),
        xv.mean(),
        xv.reshape(3, 2),
    ]
    for node, want in zip(nodes, wants):
        np.testing.assert_array_equal(run[node], want)


def test_select_partition_gradient_and_linspace_with_node_endpoints():
    g = mg.Graph()
    x = g.input("x", (5,))
    lo, hi = g.input("lo", ()), g.input("hi", ())
    xv = np.array([-2.0, 0.5, 3.0, -0.1, 1.5])
    sel = np.select([x < 0, x > 1], [x * 2, x * x], default=7.0)
    part = np.partition(x, 2)
    grad = np.gradient(x, 0.5)
    line = np.linspace(lo, hi, 4)
    feed = {x: xv, lo: 1.0, hi: 4.0}
    run = g.forward([sel, part, grad, line], feed)
    np.testing.assert_array_equal(run[sel], np.select([xv < 0, xv > 1], [xv * 2, xv * xv], 7.0))
    assert run[part][2] == np.sort(xv)[2]
    np.testing.assert_allclose(run[grad], np.gradient(xv, 0.5))
    np.testing.assert_allclose(run[line], [1.0, 2.0, 3.0, 4.0])
    dx = g.grad(mg.ops.sum(sel), wrt=x, feed=feed)
    np.testing.assert_array_equal(dx, np.select([xv < 0, xv > 1], [2.0, 2 * xv], 0.0))
    dlo, dhi = g.grad(mg.ops.sum(line * np.arange(4.0)), wrt=[lo, hi], feed=feed)
    t = np.linspace(0, 1, 4)
    np.testing.assert_allclose(
        [dlo, dhi], [np.sum((1 - t) * np.arange(4)), np.sum(t * np.arange(4))]
    )
    grads = mg.ops.gradient(np.arange(12.0).reshape(3, 4) ** 2)
    assert len(grads) == 2


def test_astype_on_nodes_casts_values_and_messages():
    g = mg.Graph()
    x = g.input("x", (3,), np.float64)
    xv = np.array([0.5, -1.5, 2.0])
    y = x.astype(np.float32)
    mask = (x > 0).astype(np.float32)
    assert y.dtype == np.float32 and mask.dtype == np.float32
    run = g.forward([y, mask], {x: xv})
    assert run[y].dtype == np.float32
    np.testing.assert_array_equal(run[mask], [1, 0, 1])
    loss = mg.ops.sum(y * y * mask)
    d = g.grad(loss, wrt=x, feed={x: xv})
    assert d.dtype == np.float64  # the message is converted back to x's dtype
    np.testing.assert_allclose(d, 2 * xv * (xv > 0))
    d = g.grad(mg.ops.sum(x.astype(np.int64) * 3.0 + x), wrt=x, feed={x: xv})
    np.testing.assert_array_equal(d, [1.0, 1.0, 1.0])  # the integer cast sends 0


def test_r_and_c_take_nodes_with_numpys_rules():
    g = mg.Graph()
    x, m = g.input("x", (3,)), g.input("m", (3, 2))
    xv, mv = np.arange(3.0), np.arange(6.0).reshape(3, 2)
    pairs = [
        (mg.c_[x, m], np.c_[xv, mv]),
        (mg.r_["0,2", x, x], np.r_["0,2", xv, xv]),
        (mg.r_["0,2,0", x, x], np.r_["0,2,0", xv, xv]),
        (mg.r_["1,2,0", x, m], np.r_["1,2,0", xv, mv]),
        (mg.r_[x, 1:4, 7.0], np.r_[xv, 1:4, 7.0]),
    ]
    run = g.forward([n for n, _ in pairs], {x: xv, m: mv})
    for node, want in pairs:
        assert node.shape == want.shape
        np.testing.assert_array_equal(run[node], want)
    d = g.grad(
        mg.ops.sum(mg.c_[x, m] * np.arange(9.0).reshape(3, 3)), wrt=[x, m], feed={x: xv, m: mv}
    )
    np.testing.assert_array_equal(d[0], [0.0, 3.0, 6.0])
    np.testing.assert_array_equal(d[1], [[1.0, 2.0], [4.0, 5.0], [7.0, 8.0]])
    np.testing.assert_array_equal(mg.r_[1:3, [5]], np.r_[1:3, [5]])  # no node: NumPy's own
    with pytest.raises(mg.ShapeError, match="directive"):
        mg.r_["r", x]


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("spacing", [1.0, 0.25])
def test_gradient_with_second_order_edges_matches_numpy_and_finite_differences(axis, spacing):
    from mpgraph.testing import check_grads

    rng = np.random.default_rng(13)
    x, w = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    got = mg.ops.gradient(x, spacing, axis=axis, edge_order=2)
    np.testing.assert_allclose(got, np.gradient(x, spacing, axis=axis, edge_order=2), rtol=1e-12)
    g = mg.Graph()
    node = g.input("x", (3, 5))
    both = np.gradient(node, spacing, edge_order=2)  # NumPy's call on a node: one per axis
    run = g.forward(both, {node: x})
    for k, want in enumerate(np.gradient(x, spacing, edge_order=2)):
        np.testing.assert_allclose(run[both[k]], want, rtol=1e-12)

    def f(v):
        return mg.ops.sum(w * mg.ops.gradient(v, spacing, axis=axis, edge_order=2) ** 2)

    check_grads(f, x)
    v1 = rng.standard_normal(x.shape)
    check_grads(lambda v: mg.ops.sum(v1 * mg.grad(f)(v)), x, rtol=1e-4, atol=1e-6)
    with pytest.raises(mg.ShapeError, match="edge_order=2 needs at least 3 elements"):
        mg.ops.gradient(x[:2], axis=0, edge_order=2)
    with pytest.raises(mg.ShapeError, match="edge_order must be 1 or 2, got 3"):
        mg.ops.gradient(x, edge_order=3)


def test_diff_with_prepend_and_append_matches_numpy_and_sends_them_their_messages():
    from mpgraph.testing import check_grads

    rng = np.random.default_rng(14)
    x, row, w = (
        rng.standard_normal((4, 3)),
        rng.standard_normal((2, 3)),
        rng.standard_normal((5, 3)),
    )
    for kw in ({"prepend": 0.5}, {"append": row}, {"prepend": row[:1], "append": -1.0}):
        np.testing.assert_allclose(
            mg.ops.diff(x, 2, axis=0, **kw), np.diff(x, 2, axis=0, **kw), rtol=1e-12
        )
    np.testing.assert_allclose(mg.ops.diff(x, prepend=0.5), np.diff(x, prepend=0.5))  # axis -1
    np.testing.assert_array_equal(mg.ops.diff(x, 0, prepend=0.5), np.diff(x, 0, prepend=0.5))
    g = mg.Graph()
    node = g.input("x", (4, 3))
    y = np.diff(node, axis=0, prepend=0.5, append=row)  # NumPy's call on a node
    np.testing.assert_allclose(
        g.forward(y, {node: x})[y], np.diff(x, axis=0, prepend=0.5, append=row), rtol=1e-12
    )

    def f(a, p, q):
        return mg.ops.sum(w * mg.ops.diff(a, 2, axis=0, prepend=p, append=q) ** 2)

    check_grads(f, x, rng.standard_normal((1, 3)), row)  # the message reaches prepend and append
    v = rng.standard_normal(x.shape)
    check_grads(lambda a: mg.ops.sum(v * mg.grad(lambda b: f(b, 0.5, row))(a)), x, rtol=1e-4)
