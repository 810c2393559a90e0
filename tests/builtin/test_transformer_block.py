"""Done-when test of the op catalogue: a tiny transformer block (embedding by fed token ids,
layer norm, causal multi-head attention, GELU MLP, cross-entropy with label smoothing and a
padding id), its gradients against central differences, then a few steps of training."""

import numpy as np

import mpgraph as mg
from mpgraph.testing import numerical_grad

V, D, H, T, F = 7, 4, 2, 5, 8  # vocabulary, width, heads, tokens, MLP width
PAD = 0


def _block(g, p, ids, targets):
    x = p["E"][ids] + p["pos"]  # (T, D), gathered by fed ids
    h = mg.ops.layer_norm(x, (D,), p["ln1_w"], p["ln1_b"])

    def heads(m):  # (T, D) -> (H, T, D/H)
        return mg.ops.transpose(mg.ops.reshape(m, (T, H, D // H)), (1, 0, 2))

    a = mg.ops.scaled_dot_product_attention(
        heads(h @ p["Wq"]), heads(h @ p["Wk"]), heads(h @ p["Wv"]), is_causal=True
    )
    x = x + mg.ops.reshape(mg.ops.transpose(a, (1, 0, 2)), (T, D)) @ p["Wo"]
    h = mg.ops.layer_norm(x, (D,), p["ln2_w"], p["ln2_b"])
    x = x + mg.ops.gelu(h @ p["W1"] + p["c1"]) @ p["W2"] + p["c2"]
    logits = x @ p["Wout"]
    return mg.ops.cross_entropy(logits, targets, ignore_index=PAD, label_smoothing=0.1)


def _params(rng):
    shapes = {
        "E": (V, D),
        "pos": (T, D),
        "ln1_w": (D,),
        "ln1_b": (D,),
        "Wq": (D, D),
        "Wk": (D, D),
        "Wv": (D, D),
        "Wo": (D, D),
        "ln2_w": (D,),
        "ln2_b": (D,),
        "W1": (D, F),
        "c1": (F,),
        "W2": (F, D),
        "c2": (D,),
        "Wout": (D, V),
    }
    values = {k: 0.5 * rng.standard_normal(s) for k, s in shapes.items()}
    values["ln1_w"] += 1
    values["ln2_w"] += 1
    return values


def _graph(values):
    g = mg.Graph()
    p = {k: g.param(k, v) for k, v in values.items()}
    ids = g.input("ids", (T,), np.int64)
    targets = g.input("targets", (T,), np.int64)
    return g, p, ids, targets, _block(g, p, ids, targets)


def test_transformer_block_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    values = _params(rng)
    g, p, ids, targets, loss = _graph(values)
    feed = {ids: np.array([3, 1, 3, 6, 2]), targets: np.array([1, 3, PAD, 2, 3])}
    grads = g.grad(loss, wrt=list(p.values()), feed=feed)

    def loss_at(name):
        def f(value):
            g.set_param(p[name], value)
            try:
                return float(g.forward(loss, feed)[loss])
            finally:
                g.set_param(p[name], values[name])

        return f

    for name, got in zip(p, grads):
        want = numerical_grad(loss_at(name), [values[name]], 0)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8, err_msg=name)
    # the embedding's message is dense, and zero on the rows no fed id used (0, 4, 5)
    assert np.all(grads[0][[0, 4, 5]] == 0) and np.all(grads[0][[1, 2, 3, 6]] != 0)


def test_transformer_block_trains_on_fed_batches():
    rng = np.random.default_rng(1)
    values = _params(rng)
    g, p, ids, targets, loss = _graph(values)
    batches = [rng.integers(1, V, T) for _ in range(4)]
    feeds = [{ids: b, targets: np.roll(b, -1)} for b in batches]  # predict the next token

    def total():
        return sum(float(g.forward(loss, f)[loss]) for f in feeds)

    before = total()
    for _ in range(60):
        for f in feeds:
            for node, d in zip(p.values(), g.grad(loss, wrt=list(p.values()), feed=f)):
                g.set_param(node, node.value - 0.1 * d)
    assert total() < 0.6 * before


def test_row_sparse_gradient_of_the_embedding_equals_the_dense_one():
    from mpgraph.training.sparse import RowSparse

    values = _params(np.random.default_rng(2))
    g, p, ids, targets, loss = _graph(values)
    rows = next(n for n in g if n.kind == "op" and n.op.name == "take")
    feed = {ids: np.array([3, 1, 3, 6, 2]), targets: np.array([1, 3, PAD, 2, 3])}
    dense, row_grads = g.grad(loss, wrt=[p["E"], rows], feed=feed)
    sparse = RowSparse.from_rows(feed[ids], row_grads, num_rows=V)
    np.testing.assert_array_equal(sparse.indices, [1, 2, 3, 6])
    np.testing.assert_allclose(sparse.dense(), dense, rtol=1e-14, atol=1e-15)
    stepped = sparse.added_to(values["E"], -0.1)
    np.testing.assert_allclose(stepped, values["E"] - 0.1 * dense, rtol=1e-14)
    assert not np.shares_memory(stepped, values["E"])


def test_transformer_block_on_dask_gives_numpy_gradients():
    # the whole block on the CPU stand-in for a GPU library: every op dispatches to Dask
    import dask.array as da

    values = _params(np.random.default_rng(0))
    batch = {"ids": np.array([3, 1, 3, 6, 2]), "targets": np.array([1, 3, PAD, 2, 3])}
    g, p, ids, targets, loss = _graph(values)
    want = g.grad(loss, wrt=list(p.values()), feed=batch)
    g, p, ids, targets, loss = _graph(values)
    got = g.grad(loss, wrt=list(p.values()), feed={k: da.from_array(v) for k, v in batch.items()})
    for name, w, d in zip(p, want, got):
        assert isinstance(d, da.Array), name
        np.testing.assert_allclose(d.compute(), w, rtol=1e-12, atol=1e-14, err_msg=name)
