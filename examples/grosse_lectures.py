"""Grosse's CSC321 lecture examples trained with mg.optim, each graph built once.

- univariate logistic least squares: y = sigmoid(wx + b), L = (y - t)^2 / 2
- L2-regularised linear regression: L = ||Xw + b - t||^2 / (2N) + lam ||w||^2 / 2
- multiclass logistic regression: softmax cross-entropy on scikit-learn's digits
- the vectorised MLP: H = tanh(X W1 + b1), logits = H W2 + b2

    PYTHONPATH=$PWD python examples/grosse_lectures.py          # --fast: fewer steps
"""

import sys

import numpy as np

import mpgraph as mg


def logistic_least_squares(steps=500):
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    t = (x > 0.3).astype(float)
    g = mg.Graph()
    xi, ti = g.input("x", shape=(None,)), g.input("t", shape=(None,))
    w, b = g.param("w", 0.0), g.param("b", 0.0)
    y = mg.ops.sigmoid(w * xi + b)
    L = mg.ops.mean(0.5 * (y - ti) * (y - ti))
    opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(2.0), g)
    losses = [opt.minimize(L, {"x": x, "t": t}) for _ in range(steps)]
    return g, losses


def ridge_regression(lam=0.1, steps=2000):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    t = X @ np.array([1.0, -1.0, 2.0, 0.0]) + 0.5 + 0.1 * rng.normal(size=30)
    g = mg.Graph()
    Xi, ti = g.input("X", shape=(None, 4)), g.input("t", shape=(None,))
    w, b = g.param("w", np.zeros(4)), g.param("b", 0.0)
    r = Xi @ w + b - ti
    L = mg.ops.mean(r * r) / 2 + lam / 2 * mg.ops.sum(w * w)
    opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(0.1, momentum=0.9), g)
    for _ in range(steps):
        opt.minimize(L, {"X": X, "t": t})
    return X, t, g


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def multiclass_logistic(epochs=10):
    X, y = _digits()
    g = mg.Graph()
    Xi, yi = g.input("X", shape=(None, 64)), g.input("y", shape=(None,))
    W, b = g.param("W", np.zeros((64, 10))), g.param("b", np.zeros(10))
    logits = Xi @ W + b
    loss = mg.ops.softmax_cross_entropy(logits, yi)
    opt = mg.optim.Optimizer.for_graph(mg.optim.adam(1e-2), g)
    hist = mg.fit(
        opt,
        loss,
        (X[:1400], y[:1400]),
        inputs=("X", "y"),
        epochs=epochs,
        batch_size=64,
        rng=np.random.default_rng(0),
        progress=False,
    )
    acc = mg.training.accuracy(g.forward(logits, {"X": X[1400:]})[logits], y[1400:])
    return hist, acc


def vectorised_mlp(epochs=10, hidden=32):
    X, y = _digits()
    rng = np.random.default_rng(2)
    g = mg.Graph()
    Xi, yi = g.input("X", shape=(None, 64)), g.input("y", shape=(None,))
    with g.scope("hidden"):
        H = mg.ops.tanh(
            Xi @ g.param("W1", mg.nn_init.glorot_uniform((64, hidden), rng))
            + g.param("b1", np.zeros(hidden))
        )
    with g.scope("output"):
        logits = H @ g.param("W2", mg.nn_init.glorot_uniform((hidden, 10), rng)) + g.param(
            "b2", np.zeros(10)
        )
    loss = mg.ops.softmax_cross_entropy(logits, yi)
    opt = mg.optim.Optimizer.for_graph(mg.optim.adam(3e-3), g)
    hist = mg.fit(
        opt,
        loss,
        (X[:1400], y[:1400]),
        inputs=("X", "y"),
        epochs=epochs,
        batch_size=32,
        rng=rng,
        progress=False,
    )
    acc = mg.training.accuracy(g.forward(logits, {"X": X[1400:]})[logits], y[1400:])
    return hist, acc


if __name__ == "__main__":
    fast = "--fast" in sys.argv
    _, losses = logistic_least_squares(50 if fast else 500)
    print(f"logistic least squares: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    X, t, g = ridge_regression(steps=100 if fast else 2000)
    print(f"ridge regression: w = {np.round(g['w'].value, 4)}, b = {float(g['b'].value):.4f}")
    _, acc = multiclass_logistic(1 if fast else 10)
    print(f"multiclass logistic regression: held-out accuracy {acc:.3f}")
    _, acc = vectorised_mlp(1 if fast else 10)
    print(f"vectorised MLP: held-out accuracy {acc:.3f}")
