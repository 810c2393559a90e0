"""The op catalogue beyond finite differences: conventions at kinks, large inputs, dtypes,
NumPy's calling conventions, errors at build time, dropout, and mg.grad on whole models."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import check_grads

ops = mg.ops


def grad_at(f, x):
    return mg.grad(f)(np.asarray(x, dtype=float))


# -- PyTorch's conventions where there is no derivative -----------------------------------------


def test_relu_abs_and_leaky_relu_at_zero_follow_pytorch():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad_at(lambda v: ops.sum(ops.relu(v)), x), [0, 0, 1])
    np.testing.assert_array_equal(grad_at(lambda v: ops.sum(ops.abs(v)), x), [-1, 0, 1])
    np.testing.assert_array_equal(
        grad_at(lambda v: ops.sum(ops.leaky_relu(v, 0.1)), x), [0.1, 0.1, 1]
    )
    np.testing.assert_array_equal(grad_at(lambda v: ops.sum(ops.elu(v, alpha=0.5)), [0.0]), [0.5])


def test_relu_sends_no_message_where_x_is_not_positive_even_for_an_infinite_signal():
    # the error signal inf or NaN from downstream must not leak through an off unit as NaN
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    y = ops.relu(x)
    run = g.forward(y, {"x": np.array([-1.0, 0.0, 2.0, -3.0], np.float32)})
    signal = np.array([np.inf, np.nan, 5.0, 1.0], np.float32)
    got = run.backward(y, seed=signal).grad(x)
    np.testing.assert_array_equal(got, np.array([0.0, 0.0, 5.0, 0.0], np.float32))
    assert got.dtype == np.float32
    finite = run.backward(y, seed=np.array([1.0, 2.0, 3.0, 4.0])).grad(x)
    np.testing.assert_array_equal(finite, [0.0, 0.0, 3.0, 0.0])


def test_ties_share_the_signal_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    np.testing.assert_array_equal(
        grad_at(lambda v: ops.sum(ops.max(v, axis=1)), x), [[0, 0.5, 0.5], [0.5, 0, 0.5]]
    )
    np.testing.assert_array_equal(grad_at(lambda v: ops.min(v), x), [[0, 0, 0], [0, 1, 0]])
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    da, db = mg.grad(lambda u, v: ops.sum(ops.maximum(u, v)), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(da, [0.5, 0, 1])
    np.testing.assert_array_equal(db, [0.5, 1, 0])


def test_clip_passes_the_signal_at_its_bounds_and_zero_size_corners():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(
        grad_at(lambda v: ops.sum(ops.clip(v, -1.0, 1.0)), x), [0, 1, 1, 1, 0]
    )
    # std of a constant and norm of zero: 0, not NaN (PyTorch's subgradient)
    np.testing.assert_array_equal(grad_at(lambda v: ops.std(v), np.ones(3)), [0, 0, 0])
    np.testing.assert_array_equal(grad_at(lambda v: ops.norm(v), np.zeros(3)), [0, 0, 0])
    # x ** 0 is flat in x, even at 0; 0 ** y is flat in y
    np.testing.assert_array_equal(grad_at(lambda v: ops.sum(v**0), [0.0, 2.0]), [0, 0])
    dy = mg.grad(lambda y: ops.sum(ops.power(np.zeros(2), y)))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(dy, [0, 0])


def test_prod_is_exact_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 4.0, 0.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(
        grad_at(lambda v: ops.sum(ops.prod(v, axis=1)), x), [[0, 6, 0], [0, 0, 0], [6, 3, 2]]
    )


# -- large inputs ------------------------------------------------------------------------------

BIG = np.array([-1000.0, -1.0, 0.0, 1000.0])


@pytest.mark.parametrize(
    "f, value, slope",
    [
        (
            ops.softplus,
            [0.0, np.log1p(np.exp(-1.0)), np.log(2.0), 1000.0],
            [0.0, 1 / (1 + np.e), 0.5, 1.0],
        ),
        (ops.sigmoid, [0.0, 1 / (1 + np.e), 0.5, 1.0], [0.0, np.e / (1 + np.e) ** 2, 0.25, 0.0]),
    ],
)
def test_softplus_and_sigmoid_are_exact_for_inputs_of_size_1000(f, value, slope):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(f(BIG), value, rtol=1e-12, atol=0)
        np.testing.assert_allclose(grad_at(lambda v: ops.sum(f(v)), BIG), slope, rtol=1e-12, atol=0)


def test_logsumexp_log_softmax_and_bce_stay_finite_for_inputs_of_size_1000():
    z = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        lse = ops.logsumexp(z, axis=1)
        np.testing.assert_allclose(lse, [1000 + np.log1p(np.exp(-1.0)), -1000 + np.log(3.0)])
        d = grad_at(lambda v: ops.sum(ops.logsumexp(v, axis=1)), z)
        np.testing.assert_allclose(d, [[1 / (1 + np.exp(-1)), 1 / (1 + np.e), 0], [1 / 3] * 3])
        logp = ops.log_softmax(z)
        np.testing.assert_allclose(logp[1], [-np.log(3.0)] * 3)
        assert np.isfinite(logp).all()
        d = grad_at(lambda v: ops.sum(ops.log_softmax(v)[:, 0]), z)
        assert np.isfinite(d).all()
        t = np.array([1.0, 0.0, 1.0, 0.0])
        loss = ops.binary_cross_entropy_with_logits(BIG, t, reduction="none")
        np.testing.assert_allclose(loss, [1000.0, np.log1p(np.e**-1), np.log(2.0), 1000.0])
        d = mg.grad(lambda v: ops.binary_cross_entropy_with_logits(v, t, reduction="sum"))(BIG)
        np.testing.assert_allclose(d, [-1.0, 1 / (1 + np.e), -0.5, 1.0])


def test_softmax_cross_entropy_with_labels_and_with_one_hot_targets_agree():
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    one_hot = np.eye(4)[labels]
    want = -np.mean(np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True))[np.arange(5), labels])
    assert np.isclose(ops.softmax_cross_entropy(z, labels), want)
    assert np.isclose(ops.softmax_cross_entropy(z, one_hot), want)
    d1 = mg.grad(lambda v: ops.softmax_cross_entropy(v, labels))(z)
    d2 = mg.grad(lambda v: ops.softmax_cross_entropy(v, one_hot))(z)
    np.testing.assert_allclose(d1, (np.exp(z) / np.exp(z).sum(1, keepdims=True) - one_hot) / 5)
    np.testing.assert_allclose(d1, d2)


def test_class_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\), got values from -1"):
        ops.softmax_cross_entropy(np.zeros((2, 3)), np.array([-1, 2]))


# -- dtypes ------------------------------------------------------------------------------------


def test_float32_model_gives_float32_gradients():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4)).astype(np.float32)
    x = rng.standard_normal((5, 3)).astype(np.float32)

    def loss(W):
        h = ops.tanh(x @ W)
        return ops.mean(ops.logsumexp(h, axis=1)) + 0.5 * ops.sum(ops.square(W))

    value, dW = mg.value_and_grad(loss)(W)
    assert np.result_type(value) == np.float32 and dW.dtype == np.float32
    dW64 = mg.grad(loss)(W.astype(np.float64))
    np.testing.assert_allclose(dW, dW64, rtol=1e-4, atol=1e-5)


def test_integer_inputs_to_float_ops_are_converted_to_float64_as_numpy_does():
    assert ops.exp(np.arange(3)).dtype == np.float64
    g = mg.Graph()
    k = g.constant(np.arange(3))
    for y in (ops.exp(k), ops.mean(k), ops.sigmoid(k), ops.softmax(k), ops.std(k)):
        assert y.dtype == np.float64
        assert g.forward(y)[y].dtype == np.float64
    assert ops.negative(k).dtype == np.dtype(int)  # ops defined on integers keep them


# -- NumPy's calling conventions ---------------------------------------------------------------


def test_numpy_functions_on_nodes_become_ops_of_the_same_name():
    g = mg.Graph()
    a, b = g.input("a", (3, 3)), g.input("b", (3, 2))
    nodes = [
        np.einsum("ij,jk->ik", a, b),
        np.linalg.inv(a),
        np.linalg.solve(a, b),
        np.abs(a),
        np.max(a, axis=0),
        np.concatenate([a, a], axis=1),
        np.linalg.det(a),
        np.linalg.norm(b),
        np.where(a > 0, a, 0),
        np.clip(a, -1, 1),
    ]
    assert [n.op.name for n in nodes] == [
        "einsum",
        "linalg.inv",
        "linalg.solve",
        "abs",
        "max",
        "concatenate",
        "linalg.det",
        "norm",
        "where",
        "clip",
    ]
    assert [n.shape for n in np.split(b, [1], axis=1)] == [(3, 1), (3, 1)]


def test_einsum_split_and_concatenate_take_numpys_arguments_eagerly_and_on_nodes():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(ops.einsum("ij,jk->ik", a, b), a @ b)
    pieces = ops.split(np.arange(7.0), [2, 5])
    assert [p.tolist() for p in pieces] == [[0, 1], [2, 3, 4], [5, 6]]
    np.testing.assert_array_equal(ops.concatenate([a, a], 1), np.concatenate([a, a], 1))
    g = mg.Graph()
    x = g.input("x", (6, 2))
    first, second = ops.split(x, 2, name="half")
    assert (first.name, second.name, first.shape) == ("half_0", "half_1", (3, 2))
    value = rng.standard_normal((6, 2))

    def f(v):
        top, bottom = ops.split(v, 2)
        return ops.einsum("ij,ij->", top, ops.stack([bottom[:, 0], bottom[:, 1]], axis=1))

    dv = check_grads(f, value)[0]
    np.testing.assert_allclose(dv, np.concatenate([value[3:], value[:3]]))


def test_repeated_indices_accumulate_their_messages():
    x = np.arange(4.0)
    np.testing.assert_array_equal(
        grad_at(lambda v: ops.sum(v[np.array([0, 0, 2, 0])]), x), [3, 0, 1, 0]
    )
    np.testing.assert_array_equal(grad_at(lambda v: ops.sum(v[x > 1.5] * 2), x), [0, 0, 2, 2])
    g = mg.Graph()
    v = g.input("v", (4,))
    with pytest.raises(
        mg.ShapeError,
        match="the index is a graph node .'greater_1'.; "
        "indices must be concrete arrays: use mg.ops.where",
    ):
        v[v > 1.5]


def test_a_comparison_carries_no_gradient_and_where_routes_it():
    x = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(
        grad_at(lambda v: ops.sum(ops.where(v > 0, v * 3, v * v)), x), [-2, 3]
    )
    # a step's derivative is zero almost everywhere: mg.grad says so, as JAX does ...
    np.testing.assert_array_equal(grad_at(lambda v: ops.sum(ops.where(v > 0, 1.0, 0.0)), x), [0, 0])
    g = mg.Graph()  # ... while naming such an input in g.grad is refused, naming the op
    v = g.input("v", (2,))
    with pytest.raises(mg.GraphError, match="op 'greater' .* is not differentiable"):
        g.grad(ops.sum(ops.where(v > 0, 1.0, 0.0)), wrt=[v], feed={v: x})


# -- errors when the node is built --------------------------------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda x, y: ops.sum(x, axis=2, name="s"), "op 'sum' at node 's': axis 2 is out of range"),
        (
            lambda x, y: ops.add(x, y, name="z"),
            r"op 'add' at node 'z': shapes \(None, 3\), \(4, 2\) "
            "do not broadcast",
        ),
        (
            lambda x, y: ops.einsum("ij,jk->ik", x, y, name="e"),
            r"op 'einsum' at node 'e': label 'j' has sizes 3, 4",
        ),
        (lambda x, y: ops.einsum("ij->ijk", x, name="e"), "output label 'k' is in no operand"),
        (lambda x, y: ops.einsum("ijk->i", x, name="e"), "operand 0 has 2 dimension"),
        (lambda x, y: ops.matmul(x, y, name="m"), r"shapes \(None, 3\) and \(4, 2\) do not align"),
        (lambda x, y: ops.concatenate([x, y], axis=0, name="c"), "arrays 0 and 1 differ on axis 1"),
        (lambda x, y: ops.squeeze(y, axis=0, name="q"), "cannot squeeze axis 0"),
        (lambda x, y: ops.split(y, 3, name="p"), "4 elements do not split into 3 equal sections"),
        (lambda x, y: ops.softmax(x, axis=-3, name="sm"), "axis -3 is out of range"),
        (lambda x, y: ops.linalg.inv(y, name="i"), r"needs square matrices"),
        (lambda x, y: ops.pad(y, 1, mode="reflect", name="p"), "only mode='constant'"),
        (lambda x, y: ops.norm(y, ord=3, name="n"), "norm supports ord"),
        (lambda x, y: ops.dropout(x, 1.0, np.random.default_rng(), name="d"), r"rate must be in"),
    ],
)
def test_bad_arguments_are_refused_when_the_node_is_built_naming_it(build, message):
    g = mg.Graph()
    x, y = g.input("x", (None, 3)), g.input("y", (4, 2))
    with pytest.raises(mg.ShapeError, match=message):
        build(x, y)


# -- dropout -----------------------------------------------------------------------------------


def test_dropout_with_a_generator_draws_a_new_mask_each_run_and_backprops_through_it():
    g = mg.Graph()
    x = g.input("x", (200,))
    y = ops.dropout(x, 0.25, np.random.default_rng(0))
    loss = ops.sum(y * y)
    value = np.linspace(1.0, 2.0, 200)
    masks = []
    for _ in range(2):
        run = g.forward(loss, {x: value}).backward(loss)
        kept = run[y] != 0
        assert 100 < kept.sum() < 200
        np.testing.assert_allclose(run[y], np.where(kept, value / 0.75, 0))
        np.testing.assert_allclose(run.grad(x), np.where(kept, 2 * value / 0.75**2, 0))
        masks.append(kept)
    assert (masks[0] != masks[1]).any()


def test_dropout_with_an_int_seed_repeats_its_mask_and_rate_zero_is_the_identity():
    x = np.ones(50)
    np.testing.assert_array_equal(ops.dropout(x, 0.5, 3), ops.dropout(x, 0.5, 3))
    np.testing.assert_array_equal(ops.dropout(x, 0.0, np.random.default_rng()), x)
    d = mg.grad(lambda v: ops.sum(ops.dropout(v, 0.5, 3)))(np.zeros(50))  # zeros in, mask kept
    np.testing.assert_array_equal(d, ops.dropout(x, 0.5, 3))


# -- mg.grad on whole models ------------------------------------------------------------------


def test_mlp_with_dropout_free_layers_and_cross_entropy_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((6, 4)), np.array([0, 2, 1, 2, 0, 1])
    W1, b1, W2 = rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal((5, 3))

    def loss(W1, b1, W2):
        h = ops.elu(x @ W1 + b1)
        h = (h - ops.mean(h, axis=1, keepdims=True)) / ops.sqrt(
            ops.var(h, axis=1, keepdims=True) + 1e-5
        )
        return ops.softmax_cross_entropy(h @ W2, labels) + 1e-2 * ops.norm(W1) ** 2

    check_grads(loss, W1, b1, W2, rtol=1e-5, atol=1e-7)


def test_attention_and_gaussian_log_likelihood_match_finite_differences():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))

    def attention(q, k, v):
        scores = ops.einsum("bqd,bkd->bqk", q, k) / np.sqrt(4.0)
        out = ops.einsum("bqk,bkd->bqd", ops.softmax(scores, axis=-1), v)
        return ops.sum(ops.tanh(out) * np.arange(4.0))

    check_grads(attention, q, k, v)
    L = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    xs, mu = rng.standard_normal((5, 3)), rng.standard_normal(3)

    def neg_log_likelihood(L, mu):
        cov = L @ ops.transpose(L) + np.eye(3)
        d = xs - mu
        maha = ops.einsum("ni,ni->", d, ops.transpose(ops.linalg.solve(cov, ops.transpose(d))))
        return 0.5 * maha + 2.5 * ops.log(ops.linalg.det(cov))

    check_grads(neg_log_likelihood, L, mu)


def test_arctan2_and_hypot_match_closed_forms_and_take_zero_at_the_origin():
    y, x = np.array([1.0, -2.0, 0.0]), np.array([2.0, 0.5, 0.0])
    r2 = np.where(x * x + y * y == 0, 1.0, x * x + y * y)
    dy, dx = mg.grad(lambda a, b: ops.sum(ops.arctan2(a, b)), argnums=(0, 1))(y, x)
    np.testing.assert_allclose(dy, x / r2, rtol=1e-14)
    np.testing.assert_allclose(dx, -y / r2, rtol=1e-14)
    h = np.where(np.hypot(y, x) == 0, 1.0, np.hypot(y, x))
    da, db = mg.grad(lambda a, b: ops.sum(ops.hypot(a, b)), argnums=(0, 1))(y, x)
    np.testing.assert_allclose(da, y / h, rtol=1e-14)
    np.testing.assert_allclose(db, x / h, rtol=1e-14)
    assert da[2] == db[2] == dy[2] == dx[2] == 0.0  # the origin
    big = np.array([1e200])  # hypot does not overflow where the squares would
    np.testing.assert_allclose(ops.hypot(big, big), np.sqrt(2) * 1e200, rtol=1e-14)
