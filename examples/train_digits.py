"""Train an MLP on scikit-learn's handwritten digits with Adam; save its learning curve (PNG)
and a picture of the trained network's graph with the error signals of one batch (SVG).

    PYTHONPATH=$PWD python examples/train_digits.py            # full run, prints accuracy and time
    PYTHONPATH=$PWD python examples/train_digits.py --fast     # two epochs (the tests run this)
    PYTHONPATH=$PWD python examples/train_digits.py --plot docs/digits_learning_curve.png \
        --picture docs/digits_graph.svg                        # the pictures of docs/training.md
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mpgraph as mg
from mpgraph.training.fit import accuracy


def build(rng, hidden=64):
    """The MLP graph, built once: x -> tanh(x W1 + b1) -> W2 + b2 -> cross-entropy, with
    Glorot-initialised layers ``mlp/layer1`` and ``mlp/layer2`` (mg.layers.MLP)."""
    g = mg.Graph()
    x = g.input("x", shape=(None, 64))
    y = g.input("y", shape=(None,))
    logits = mg.layers.MLP([64, hidden, 10], rng=rng, activation=mg.ops.tanh, name="mlp")(x)
    loss = mg.ops.softmax_cross_entropy(logits, y, name="loss")
    return g, logits, loss


def draw(g, loss, feed, path):
    """The trained network's graph with the error signals of one batch (format from the suffix)."""
    from mpgraph.drawing.dot import write  # Graphviz's dot, or graphviz-pure without it

    run = g.forward(loss, feed).backward(loss, keep_messages=True)
    write(mg.render(g, run, view="backward"), path)


def main(epochs=30, plot="out/digits_learning_curve.png", progress=True, picture=None):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
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
        metrics={"acc": lambda feed: accuracy(g.forward(logits, feed)[logits], feed["y"])},
    )
    seconds = time.perf_counter() - start
    acc = hist["val_acc"][-1]
    print(f"held-out accuracy {acc:.4f} after {len(hist['loss'])} epochs in {seconds:.2f} s")
    if plot:
        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        hist.plot(plot)
    if picture:
        draw(g, loss, {"x": Xte[:8], "y": yte[:8]}, picture)
    return acc, seconds, hist


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true")
    # out/ (ignored by git) unless told otherwise: a run leaves nothing in the working tree
    ap.add_argument("--plot", default="out/digits_learning_curve.png")
    ap.add_argument("--picture", default="out/digits_graph.svg")
    a = ap.parse_args()
    for path in (a.plot, a.picture):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    main(epochs=2 if a.fast else 30, plot=a.plot, picture=a.picture)
