"""The lecture examples against the slides' numbers and a hand-written NumPy backprop."""

import runpy

import numpy as np

lee = runpy.run_path("examples/lee_network.py", run_name="lee")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_lee_network_forward_values_are_the_slides():
    run, _, acts = lee["main"]()
    shown = [np.round(run[a], 2).tolist() for a in acts]
    assert shown == [[0.98, 0.12], [0.86, 0.11], [0.62, 0.83]]


def test_lee_network_error_signals_match_a_hand_backward_pass(capsys):
    run, zs, _ = lee["main"]()
    assert "dl/dz" in capsys.readouterr().out
    a, cache = np.array([1.0, -1.0]), []
    for W, b in lee["LAYERS"]:
        z = a @ W + b
        a = _sigmoid(z)
        cache.append((W, z))
    delta = _sigmoid(cache[-1][1]) * (1 - _sigmoid(cache[-1][1]))  # dl/dy = 1 for l = y1 + y2
    hand = [delta]
    for (W_next, _), (_, z) in zip(reversed(cache[1:]), reversed(cache[:-1])):
        delta = (W_next @ delta) * _sigmoid(z) * (1 - _sigmoid(z))
        hand.insert(0, delta)
    for z, expected in zip(zs, hand):
        np.testing.assert_allclose(run.grad(z), expected, rtol=1e-12)


newton = runpy.run_path("examples/newton.py", run_name="newton")
vi = runpy.run_path("examples/variational_regression.py", run_name="vi")


def test_hessian_vector_products_match_the_closed_form():
    x, v = np.array([0.3, -0.7]), np.array([1.5, -2.0])
    H = np.diag(np.exp(x)) + newton["A"]
    np.testing.assert_allclose(newton["hvp"](x, v), H @ v, rtol=1e-12)


def test_newton_finds_the_stationary_point():
    x = newton["newton"](np.zeros(2), steps=6)
    np.testing.assert_allclose(np.exp(x) + newton["A"] @ x - newton["B"], 0, atol=1e-12)


def test_variational_regression_finds_the_exact_mean_field_posterior():
    X, y = vi["data"]()
    p = vi["train"](X, y, steps=3000)
    noise = vi["NOISE"]
    # mean-field optimum: mu solves (I + X^T X / noise) mu = X^T y / noise; var_j as below
    mu = np.linalg.solve(np.eye(3) + X.T @ X / noise, X.T @ y / noise)
    np.testing.assert_allclose(p["mu"], mu, atol=1e-4)
    np.testing.assert_allclose(np.exp(2 * p["rho"]), 1 / (1 + np.sum(X * X, 0) / noise), rtol=1e-4)


grosse = runpy.run_path("examples/grosse_lectures.py", run_name="grosse")


def test_logistic_least_squares_gradient_is_the_lectures_formula():
    g, losses = grosse["logistic_least_squares"](steps=100)
    assert losses[-1] < losses[0] / 3
    x = np.linspace(-1, 1, 7)
    t = (x > 0).astype(float)
    w, b = float(g["w"].value), float(g["b"].value)
    y = _sigmoid(w * x + b)
    zbar = (y - t) * y * (1 - y) / len(x)  # lecture 6: z̄ = ȳ σ'(z), mean loss
    L = next(n for n in g if n.op is not None and n.op.name == "mean")
    gw, gb = g.grad(L, wrt=["w", "b"], feed={"x": x, "t": t})
    np.testing.assert_allclose([gw, gb], [np.sum(zbar * x), np.sum(zbar)], rtol=1e-12)


def test_ridge_regression_reaches_the_closed_form():
    X, t, g = grosse["ridge_regression"](lam=0.1, steps=2000)
    n = len(t)
    # stationarity: X^T r / n + lam w = 0 and mean(r) = 0, with r = X w + b - t
    A = np.block(
        [[X.T @ X / n + 0.1 * np.eye(4), X.mean(0)[:, None]], [X.mean(0)[None, :], np.ones((1, 1))]]
    )
    sol = np.linalg.solve(A, np.concatenate([X.T @ t / n, [t.mean()]]))
    np.testing.assert_allclose(g["w"].value, sol[:4], atol=1e-8)
    np.testing.assert_allclose(g["b"].value, sol[4], atol=1e-8)


def test_multiclass_logistic_and_mlp_learn_the_digits():
    hist, acc = grosse["multiclass_logistic"](epochs=5)
    assert acc > 0.8 and hist["loss"][-1] < hist["loss"][0]
    hist, acc = grosse["vectorised_mlp"](epochs=5)
    assert acc > 0.8 and hist["loss"][-1] < hist["loss"][0]
