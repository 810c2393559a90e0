"""The worked examples of Grosse's lecture 6 and Nielsen's four equations, by message passing,
against closed forms and hand-written NumPy."""

import numpy as np
import pytest

import mpgraph as mg


def sigma(z):
    return 1 / (1 + np.exp(-z))


def test_univariate_logistic_least_squares_error_signals():
    # z = wx + b, y = sigmoid(z), L = (y - t)^2 / 2  (slides 6-10)
    g = mg.Graph()
    x, t = g.input("x"), g.input("t")
    w, b = g.param("w", 0.7), g.param("b", -0.2)
    z = mg.ops.add(w * x, b, name="z")
    y = mg.ops.sigmoid(z, name="y")
    L = mg.ops.multiply(0.5, (y - t) ** 2, name="L")
    run = g.forward(L, {"x": 2.0, "t": 1.0}).backward(L)

    zv = 0.7 * 2.0 - 0.2
    yv = sigma(zv)
    y_bar = yv - 1.0
    z_bar = y_bar * yv * (1 - yv)
    assert run[y] == pytest.approx(yv)
    assert run.grad(L) == 1
    assert run.grad(y) == pytest.approx(y_bar)
    assert run.grad(z) == pytest.approx(z_bar)
    assert run.grad(w) == pytest.approx(z_bar * 2.0)
    assert run.grad(b) == pytest.approx(z_bar)
    assert run.grad(x) == pytest.approx(z_bar * 0.7)


def test_l2_regularised_regression_sums_the_messages_at_the_fan_out():
    # L_reg = L + lambda R with R = w^2 / 2: w has two children (slides 11, 15)
    lam = 0.3
    g = mg.Graph()
    x, t = g.input("x"), g.input("t")
    w, b = g.param("w", -1.1), g.param("b", 0.4)
    z = w * x + b
    y = mg.ops.sigmoid(z)
    L = 0.5 * (y - t) ** 2
    R = 0.5 * w**2
    L_reg = L + lam * R
    run = g.forward(L_reg, {"x": 0.5, "t": 0.0}).backward(keep_messages=True)

    yv = sigma(-1.1 * 0.5 + 0.4)
    z_bar = (yv - 0.0) * yv * (1 - yv)
    R_bar = lam
    assert run.grad(R) == pytest.approx(R_bar)
    assert run.grad(w) == pytest.approx(z_bar * 0.5 + R_bar * -1.1)
    assert run.grad(b) == pytest.approx(z_bar)
    into_w = [m for (parent, _, _), m in run.messages.items() if parent == "w"]
    assert len(into_w) == 2
    assert sum(into_w) == pytest.approx(run.grad(w))


@pytest.mark.parametrize("labels", ["indices", "one-hot"])
def test_multiclass_logistic_regression(labels):
    # z = W x + b, y = softmax(z), L = -sum_k t_k log y_k: W̄ = (y - t) x^T, b̄ = y - t
    rng = np.random.default_rng(1)
    W0, b0, xv = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal(3)
    k = 2
    tv = np.eye(4)[k]
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    W, b = g.param("W", W0), g.param("b", b0)
    z = W @ x + b
    label = np.array([k]) if labels == "indices" else tv[None]
    L = mg.ops.softmax_cross_entropy(mg.ops.reshape(z, (1, 4)), label)
    dW, db = g.grad(L, wrt=[W, b], feed={x: xv})

    yv = np.exp(W0 @ xv + b0) / np.exp(W0 @ xv + b0).sum()
    np.testing.assert_allclose(db, yv - tv, rtol=1e-12)
    np.testing.assert_allclose(dW, np.outer(yv - tv, xv), rtol=1e-12)


def test_multiclass_logistic_regression_written_with_log_and_softmax():
    rng = np.random.default_rng(2)
    W0, xv = rng.standard_normal((3, 5)), rng.standard_normal(5)
    tv = np.array([0.0, 1.0, 0.0])
    g = mg.Graph()
    W = g.param("W", W0)
    y = mg.ops.softmax(W @ xv)
    L = -mg.ops.sum(tv * mg.ops.log(y))
    (dW,) = g.grad(L, wrt=[W])
    yv = np.exp(W0 @ xv) / np.exp(W0 @ xv).sum()
    np.testing.assert_allclose(dW, np.outer(yv - tv, xv), rtol=1e-10)


def test_vectorised_mlp_matches_grosse_slide_17():
    # z = W1 x + b1, h = sigmoid(z), y = W2 h + b2, L = ||t - y||^2 / 2
    rng = np.random.default_rng(3)
    W1, b1 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    W2, b2 = rng.standard_normal((2, 4)), rng.standard_normal(2)
    xv, tv = rng.standard_normal(3), rng.standard_normal(2)
    g = mg.Graph()
    x, t = g.input("x", (3,)), g.input("t", (2,))
    with g.scope("layer1"):
        pW1, pb1 = g.param("W", W1), g.param("b", b1)
        h = mg.ops.sigmoid(pW1 @ x + pb1, name="h")
    with g.scope("layer2"):
        pW2, pb2 = g.param("W", W2), g.param("b", b2)
        y = mg.ops.add(pW2 @ h, pb2, name="y")
    L = 0.5 * mg.ops.sum((t - y) ** 2)
    run = g.forward(L, {x: xv, t: tv}).backward(L)

    hv = sigma(W1 @ xv + b1)
    yv = W2 @ hv + b2
    y_bar = yv - tv
    h_bar = W2.T @ y_bar
    z_bar = h_bar * hv * (1 - hv)
    np.testing.assert_allclose(run.grad(y), y_bar)
    np.testing.assert_allclose(run.grad(h), h_bar)
    np.testing.assert_allclose(run.grad("layer2/W"), np.outer(y_bar, hv))
    np.testing.assert_allclose(run.grad("layer2/b"), y_bar)
    np.testing.assert_allclose(run.grad("layer1/W"), np.outer(z_bar, xv))
    np.testing.assert_allclose(run.grad("layer1/b"), z_bar)


def test_two_layer_mlp_equals_nielsens_four_equations():
    # Batched: columns are examples. C = sum over the batch of ||a2 - y||^2 / 2.
    rng = np.random.default_rng(4)
    n_in, n_hid, n_out, batch = 5, 7, 3, 6
    W1, b1 = rng.standard_normal((n_hid, n_in)), rng.standard_normal((n_hid, 1))
    W2, b2 = rng.standard_normal((n_out, n_hid)), rng.standard_normal((n_out, 1))
    X, Y = rng.standard_normal((n_in, batch)), rng.random((n_out, batch))

    z1 = W1 @ X + b1
    a1 = sigma(z1)
    z2 = W2 @ a1 + b2
    a2 = sigma(z2)
    delta2 = (a2 - Y) * sigma(z2) * (1 - sigma(z2))  # BP1
    delta1 = (W2.T @ delta2) * sigma(z1) * (1 - sigma(z1))  # BP2
    db2, db1 = delta2.sum(1, keepdims=True), delta1.sum(1, keepdims=True)  # BP3
    dW2, dW1 = delta2 @ a1.T, delta1 @ X.T  # BP4

    g = mg.Graph()
    x, y = g.input("X", (n_in, None)), g.input("Y", (n_out, None))
    pW1, pb1, pW2, pb2 = (
        g.param(n, v) for n, v in [("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2)]
    )
    out = mg.ops.sigmoid(pW2 @ mg.ops.sigmoid(pW1 @ x + pb1) + pb2)
    C = mg.ops.sum((out - y) ** 2) / 2
    grads = g.grad(C, wrt=[pW1, pb1, pW2, pb2], feed={"X": X, "Y": Y})
    for got, want in zip(grads, [dW1, db1, dW2, db2]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_lee_forward_pass_dz_dw_is_the_input():
    # z = x1 w1 + x2 w2 + b: the message to w_i is z̄ · x_i, the input the weight connects
    g = mg.Graph()
    x1, x2 = g.input("x1"), g.input("x2")
    w1, w2, b = g.param("w1", 1.0), g.param("w2", -2.0), g.param("b", 1.0)
    z = x1 * w1 + x2 * w2 + b
    a = mg.ops.sigmoid(z)
    run = g.forward(a, {"x1": 1.0, "x2": -1.0}).backward(a)
    z_bar = run.grad(z)
    assert run.grad(w1) == pytest.approx(z_bar * 1.0)
    assert run.grad(w2) == pytest.approx(z_bar * -1.0)
    sv = sigma(1.0 * 1.0 + -1.0 * -2.0 + 1.0)
    assert z_bar == pytest.approx(sv * (1 - sv))  # σ'(z): the multiplier of the reverse network
