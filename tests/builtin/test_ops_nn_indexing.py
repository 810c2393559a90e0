"""The indexing and neural-network ops of the second catalogue against independent NumPy
computations; their gradients are checked registry-wide (test_registry_gradcheck.py)."""

import numpy as np
import pytest

import mpgraph as mg


def _log_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


# -- indices as graph inputs -------------------------------------------------------------------


def test_fed_integer_ids_gather_rows_and_repeated_rows_sum_their_messages():
    g = mg.Graph()
    table = g.param("E", np.arange(12.0).reshape(4, 3))
    ids = g.input("ids", (None,), np.int64)
    rows = table[ids]
    assert rows.op.name == "take" and rows.shape == (None, 3)
    loss = mg.ops.sum(rows * np.array([1.0, 2.0, 3.0]))
    for fed in ([0, 0, 3], [2]):
        d = g.grad(loss, wrt=table, feed={ids: np.array(fed)})
        want = np.zeros((4, 3))
        np.add.at(want, np.array(fed), [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(d, want)
    cols = table[:, ids]
    assert cols.shape == (4, None)
    np.testing.assert_array_equal(
        g.forward(cols, {ids: np.array([2, 0])})[cols], np.arange(12.0).reshape(4, 3)[:, [2, 0]]
    )


def test_float_indices_are_refused_when_the_node_is_built():
    g = mg.Graph()
    x = g.input("x", (4, 3))
    with pytest.raises(mg.GraphError, match="op 'take' at node 'take_1': indices must be integers"):
        mg.ops.take(x, g.input("i", (2,), np.float64), axis=0)
    with pytest.raises(mg.GraphError, match="nll_loss expects integer class labels"):
        mg.ops.nll_loss(x, g.input("labels", (4,), np.float64))
    with pytest.raises(mg.GraphError, match="ids must be integers"):
        mg.ops.embedding(g.input("ids", (2,), np.float32), x)


def test_embedding_padding_rows_give_zeros_and_get_no_message():
    table = np.arange(6.0).reshape(3, 2)
    ids = np.array([[1, 0], [2, 1]])
    out = mg.ops.embedding(ids, table, padding_idx=0)
    np.testing.assert_array_equal(out, [[[2, 3], [0, 0]], [[4, 5], [2, 3]]])
    d = mg.grad(lambda t: mg.ops.sum(mg.ops.embedding(ids, t, padding_idx=0)), argnums=0)(table)
    np.testing.assert_array_equal(d, [[0, 0], [2, 2], [1, 1]])


def test_index_add_and_scatter_add_accumulate_like_add_at():
    a = np.zeros((3, 2))
    got = mg.ops.index_add(a, np.array([2, 0, 2]), np.ones((3, 2)), axis=0)
    np.testing.assert_array_equal(got, [[1, 1], [0, 0], [2, 2]])
    assert np.all(a == 0)  # the argument is not mutated
    idx = np.array([[1, 1], [0, 2]])
    got = mg.ops.scatter_add(np.zeros((2, 3)), idx, np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    np.testing.assert_array_equal(got, [[0, 3, 0], [3, 0, 4]])


def test_sort_sends_each_element_its_slot_and_topk_returns_values_and_indices():
    x = np.array([[3.0, 1.0, 2.0], [0.5, 0.5, -1.0]])
    w = np.array([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]])
    d = mg.grad(lambda v: mg.ops.sum(mg.ops.sort(v) * w))(x)
    # sorted positions: row 0: 1 -> slot 0, 2 -> slot 1, 3 -> slot 2; row 1 (stable): -1, 0.5, 0.5
    np.testing.assert_array_equal(d, [[30, 10, 20], [2, 3, 1]])
    values, indices = mg.ops.topk(x, 2)
    np.testing.assert_array_equal(values, [[3, 2], [0.5, 0.5]])
    np.testing.assert_array_equal(indices, [[0, 2], [0, 1]])
    np.testing.assert_array_equal(mg.ops.argmax(x, axis=1), [0, 0])  # first of a tie
    np.testing.assert_array_equal(mg.ops.argsort(x[1]), [2, 0, 1])
    np.testing.assert_array_equal(mg.ops.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


# -- normalisation -----------------------------------------------------------------------------


def test_layer_norm_and_group_norm_match_hand_computations():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(
        mg.ops.layer_norm(x, 4, w, b), (x - mu) / np.sqrt(var + 1e-5) * w + b
    )
    np.testing.assert_allclose(mg.ops.layer_norm(x, (4,)), (x - mu) / np.sqrt(var + 1e-5))
    x = rng.standard_normal((2, 6, 3))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    groups = x.reshape(2, 3, 6)
    xhat = (
        (groups - groups.mean(-1, keepdims=True)) / np.sqrt(groups.var(-1, keepdims=True) + 1e-5)
    ).reshape(x.shape)
    np.testing.assert_allclose(
        mg.ops.group_norm(x, 3, w, b), xhat * w[:, None] + b[:, None], rtol=1e-12
    )


def test_batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3, 2))
    rm, rv = np.zeros(3), np.ones(3)
    w, b = np.full(3, 2.0), np.full(3, 0.5)
    train = mg.ops.batch_norm(x, rm, rv, w, b, training=True)
    mean, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    np.testing.assert_allclose(train, (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-5) * 2 + 0.5)
    stats = mg.ops.batch_norm_update(x, rm, rv, momentum=0.1)
    np.testing.assert_allclose(stats[0], 0.1 * mean)
    np.testing.assert_allclose(stats[1], 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1))
    evaluate = mg.ops.batch_norm(x, stats[0], stats[1], w, b)
    np.testing.assert_allclose(
        evaluate, (x - stats[0][:, None]) / np.sqrt(stats[1][:, None] + 1e-5) * 2 + 0.5
    )
    assert np.all(rm == 0) and np.all(rv == 1)  # the running statistics are not mutated


# -- attention ---------------------------------------------------------------------------------


def test_attention_matches_a_hand_softmax_with_masks():
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 5))
    mask = rng.random((3, 4)) > 0.3
    mask[:, 0] = True
    s = q @ k.T / np.sqrt(2)
    s = np.where(mask, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(mg.ops.scaled_dot_product_attention(q, k, v, attn_mask=mask), p @ v)
    causal = mg.ops.scaled_dot_product_attention(q, k[:3], v[:3], is_causal=True)
    np.testing.assert_allclose(
        causal,
        mg.ops.scaled_dot_product_attention(
            q, k[:3], v[:3], attn_mask=np.tril(np.ones((3, 3), bool))
        ),
    )
    additive = rng.standard_normal((3, 4))
    s = q @ k.T * 0.3 + additive
    p = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
    np.testing.assert_allclose(
        mg.ops.scaled_dot_product_attention(q, k, v, additive, scale=0.3), p @ v
    )


# -- losses ------------------------------------------------------------------------------------


def test_cross_entropy_with_label_smoothing_and_ignore_index_follows_pytorch():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 3))
    t = np.array([2, -100, 0, 1])
    logp = _log_softmax(z, 1)
    eps = 0.2
    per = -(1 - eps) * logp[np.arange(4), np.maximum(t, 0)] - eps * logp.mean(1)
    keep = t != -100
    np.testing.assert_allclose(
        mg.ops.cross_entropy(z, t, label_smoothing=eps), per[keep].sum() / keep.sum()
    )
    np.testing.assert_allclose(
        mg.ops.cross_entropy(z, t, reduction="none"),
        np.where(keep, -logp[np.arange(4), np.maximum(t, 0)], 0),
    )
    np.testing.assert_allclose(mg.ops.nll_loss(logp, t), mg.ops.cross_entropy(z, t))
    # classes on axis 1, as PyTorch: (N, C, L) logits with (N, L) targets
    z3, t3 = rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))
    lp3 = _log_softmax(z3, 1)
    want = -np.take_along_axis(lp3, t3[:, None], 1)[:, 0].mean()
    np.testing.assert_allclose(mg.ops.cross_entropy(z3, t3), want)
    probs = np.exp(_log_softmax(rng.standard_normal((4, 3)), 1))
    np.testing.assert_allclose(mg.ops.cross_entropy(z, probs), -(probs * logp).sum(1).mean())


def _weighted_cross_entropy_by_loops(z, t, w, eps, ignore_index, reduction):
    """PyTorch's F.cross_entropy with class weights, one example at a time: (1 - eps) times
    the weighted negative log-likelihood plus eps / C times the weighted sum over classes,
    'mean' dividing by the sum of the weights of the targets that count."""
    per, total = [], 0.0
    for zn, tn in zip(z, t):
        logp = zn - zn.max() - np.log(np.exp(zn - zn.max()).sum())
        if tn == ignore_index:
            per.append(0.0)
            continue
        smooth = sum(-w[c] * logp[c] for c in range(len(zn))) / len(zn)
        per.append((1 - eps) * -w[tn] * logp[tn] + eps * smooth)
        total += w[tn]
    if reduction == "none":
        return np.array(per)
    return sum(per) / total if reduction == "mean" else sum(per)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_cross_entropy_class_weights_follow_pytorch_by_hand_and_by_finite_differences(
    eps, reduction
):
    from mpgraph.testing import check_grads

    rng = np.random.default_rng(11)
    z, w = rng.standard_normal((6, 4)), np.array([0.5, 2.0, 1.0, 3.0])
    t = np.array([3, 0, -1, 1, 3, 2])
    want = _weighted_cross_entropy_by_loops(z, t, w, eps, -1, reduction)
    kw = {"weight": w, "ignore_index": -1, "label_smoothing": eps, "reduction": reduction}
    np.testing.assert_allclose(mg.ops.cross_entropy(z, t, **kw), want, rtol=1e-12)
    assert np.all(w == [0.5, 2.0, 1.0, 3.0])  # the weights are not mutated
    u = rng.standard_normal(6)

    def loss(v):
        out = mg.ops.cross_entropy(v, t, **kw)
        return mg.ops.sum(out * u) if reduction == "none" else out

    check_grads(loss, z)
    v1 = rng.standard_normal(z.shape)
    check_grads(lambda x: mg.ops.sum(mg.grad(loss)(x) * v1), z, rtol=1e-4, atol=1e-6)
    # nll_loss on log-probabilities with the same weights is the unsmoothed loss
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    kw.pop("label_smoothing")
    np.testing.assert_allclose(
        mg.ops.nll_loss(logp, t, **kw),
        _weighted_cross_entropy_by_loops(z, t, w, 0.0, -1, reduction),
        rtol=1e-12,
    )


def test_cross_entropy_weights_probability_targets_and_keeps_the_example_count():
    """With probabilities PyTorch weights each class's term and 'mean' still divides by the
    number of examples."""
    rng = np.random.default_rng(12)
    z, w = rng.standard_normal((3, 4)), rng.random(4) + 0.5
    q = rng.random((3, 4))
    q /= q.sum(1, keepdims=True)
    logp = _log_softmax(z, 1)
    smoothed = 0.8 * q + 0.2 / 4
    want = sum(-sum(w[c] * smoothed[n, c] * logp[n, c] for c in range(4)) for n in range(3)) / 3
    got = mg.ops.cross_entropy(z, q, weight=w, label_smoothing=0.2)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    from mpgraph.testing import check_grads

    check_grads(lambda a, b: mg.ops.cross_entropy(a, b, weight=w, label_smoothing=0.2), z, q)


def test_weighted_smoothed_cross_entropy_stays_finite_for_logits_of_size_1000():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    t, w = np.array([1, 2]), np.array([2.0, 1.0, 0.5])
    kw = {"weight": w, "label_smoothing": 0.1}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = mg.ops.cross_entropy(z, t, **kw)
        d = mg.grad(lambda v: mg.ops.cross_entropy(v, t, **kw))(z)
    # example 0: -log p_1 = 2000, -log p_2 = 1000, -log p_0 = 0; example 1: log 3 each
    smooth0 = (2.0 * 0 + 1.0 * 2000 + 0.5 * 1000) / 3
    smooth1 = (2.0 + 1.0 + 0.5) * np.log(3) / 3
    want = (0.9 * 1.0 * 2000 + 0.1 * smooth0 + 0.9 * 0.5 * np.log(3) + 0.1 * smooth1) / 1.5
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    assert np.isfinite(d).all()


def test_class_weights_of_the_wrong_shape_are_refused_when_the_node_is_built():
    g = mg.Graph()
    z = g.input("z", (4, 3))
    with pytest.raises(
        mg.ShapeError, match=r"one weight per class, shape \(3,\), got shape \(4,\)"
    ):
        mg.ops.cross_entropy(z, np.array([0, 1, 2, 0]), weight=np.ones(4))
    with pytest.raises(mg.ShapeError, match="one weight per class"):
        mg.ops.nll_loss(z, np.array([0, 1, 2, 0]), weight=np.ones((3, 1)))


def test_huber_and_kl_div_match_their_formulas():
    a, b = np.array([0.0, 0.5, 3.0, -4.0]), np.zeros(4)
    np.testing.assert_allclose(
        mg.ops.huber_loss(a, b, reduction="none", delta=1.0), [0.0, 0.125, 2.5, 3.5]
    )
    d = mg.grad(lambda x: mg.ops.huber_loss(x, b, reduction="sum"))(a)
    np.testing.assert_allclose(d, [0.0, 0.5, 1.0, -1.0])
    logq = _log_softmax(np.array([[0.1, 0.7, -0.3], [1.0, 0.0, 0.0]]), 1)
    p = np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]])
    with np.errstate(all="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - logq), 0)
    np.testing.assert_allclose(mg.ops.kl_div(logq, p, reduction="batchmean"), terms.sum() / 2)
    np.testing.assert_allclose(
        mg.ops.kl_div(logq, np.log(p[1]), reduction="sum", log_target=True),
        (p[1] * (np.log(p[1]) - logq)).sum(),
    )


def test_float_class_labels_are_refused_with_a_message_about_integers():
    for f in (mg.ops.cross_entropy, mg.ops.softmax_cross_entropy, mg.ops.nll_loss):
        g = mg.Graph()
        logits = g.input("z", (3, 3))
        name = f.op.name
        # 3 examples, 3 classes: the float labels would broadcast against the logits
        with pytest.raises(
            mg.GraphError,
            match=f"op '{name}' at node '{name}_1': {name} expects integer class labels",
        ):
            f(logits, np.array([0.0, 2.0, 1.0]))
        with pytest.raises(mg.GraphError, match="expects integer class labels"):
            f(logits, g.input("labels", (None,), np.float32))  # a fed input of unknown length
    g = mg.Graph()
    logits = g.input("z", (3, 3))
    assert mg.ops.cross_entropy(logits, g.input("p", (3, 3), np.float64)).shape == ()
    g = mg.Graph()
    with pytest.raises(mg.ShapeError, match="the new shape must be an int or a sequence of ints"):
        mg.ops.reshape(g.input("x", (2, 3)), (3, 2.0))
