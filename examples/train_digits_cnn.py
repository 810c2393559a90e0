"""A small CNN on scikit-learn's digits with the conv plugin (mg.ops.conv2d, max_pool2d) and Adam.

PYTHONPATH=$PWD python examples/train_digits_cnn.py          # --fast: one epoch
"""

import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mpgraph as mg
from mpgraph.training.fit import accuracy


def build(rng, channels=8):
    """conv 3x3 (padding 1) -> relu -> 2x2 max-pool -> dense 10."""
    g = mg.Graph()
    x = g.input("x", shape=(None, 1, 8, 8))
    y = g.input("y", shape=(None,))
    with g.scope("conv"):
        k = g.param("W", mg.nn_init.he_normal((channels, 1, 3, 3), rng))
        b = g.param("b", np.zeros((1, channels, 1, 1)))
        h = mg.ops.max_pool2d(mg.ops.relu(mg.ops.conv2d(x, k, padding=1) + b), 2)
    with g.scope("dense"):
        flat = mg.ops.reshape(h, (-1, channels * 16))
        W = g.param("W", mg.nn_init.glorot_uniform((channels * 16, 10), rng))
        logits = flat @ W + g.param("b", np.zeros(10))
    return g, logits, mg.ops.softmax_cross_entropy(logits, y)


def main(epochs=30, progress=True):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    rng = np.random.default_rng(0)
    g, logits, loss = build(rng)
    opt = mg.optim.Optimizer.for_graph(mg.optim.adam(3e-3), g)
    start = time.perf_counter()
    hist = mg.fit(
        opt,
        loss,
        (Xtr, ytr),
        inputs=("x", "y"),
        epochs=epochs,
        batch_size=32,
        rng=rng,
        val=(Xte, yte),
        progress=progress,
        metrics={"acc": lambda f: accuracy(g.forward(logits, f)[logits], f["y"])},
    )
    acc = hist["val_acc"][-1]
    print(f"held-out accuracy {acc:.4f} in {time.perf_counter() - start:.2f} s")
    return acc, hist


if __name__ == "__main__":
    main(epochs=1 if "--fast" in sys.argv else 30)
