"""The fit loop on real data (scikit-learn's digits), checkpoints, and the digits example."""

import runpy
import sys

import matplotlib
import numpy as np

import mpgraph as mg
from mpgraph.training.fit import load_checkpoint, save_checkpoint

matplotlib.use("Agg")
sys.path.insert(0, "examples")
digits = runpy.run_path("examples/train_digits.py", run_name="digits")


def test_digits_mlp_reaches_97_percent_and_plots(tmp_path):
    acc, _, hist = digits["main"](
        epochs=30, plot=str(tmp_path / "lc.png"), progress=False, picture=str(tmp_path / "g.svg")
    )
    svg = (tmp_path / "g.svg").read_text()
    assert "softmax_cross_entropy" in svg and "layer1" in svg
    assert acc >= 0.97
    assert hist["loss"][-1] < hist["loss"][0] / 5
    assert (tmp_path / "lc.png").read_bytes()[:4] == b"\x89PNG"


def _train(g, loss, opt, X, y, rng, epochs):
    return mg.fit(
        opt, loss, (X, y), inputs=("x", "y"), epochs=epochs, batch_size=32, rng=rng, progress=False
    )["loss"]


def test_checkpoint_resumes_with_the_same_losses(tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    g, _, loss = digits["build"](np.random.default_rng(1), hidden=16)
    opt = mg.optim.Optimizer.for_graph(mg.optim.adam(1e-2), g)
    rng = np.random.default_rng(2)
    _train(g, loss, opt, X, y, rng, 2)
    save_checkpoint(tmp_path / "ck.pkl", opt, rng=rng.bit_generator.state)
    straight = _train(g, loss, opt, X, y, rng, 3)

    g2, _, loss2 = digits["build"](np.random.default_rng(99), hidden=16)
    opt2 = mg.optim.Optimizer.for_graph(mg.optim.adam(1e-2), g2)
    extra = load_checkpoint(tmp_path / "ck.pkl", opt2)
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = extra["rng"]
    resumed = _train(g2, loss2, opt2, X, y, rng2, 3)
    assert resumed == straight


def test_fast_mode_of_the_example_runs(tmp_path, capsys):
    digits["main"](epochs=2, plot=str(tmp_path / "p.png"), progress=False)
    assert "held-out accuracy" in capsys.readouterr().out


def test_early_stopping_stops_when_validation_stalls():
    g = mg.Graph()
    x, y = g.input("x", shape=(None,)), g.input("y", shape=(None,))
    w = g.param("w", 0.0)
    loss = mg.ops.mean((w * x - y) * (w * x - y))
    X = np.linspace(-1, 1, 16)
    opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(0.5), g)
    # validation targets no w can fit better than the first epochs do: it stalls at once
    hist = mg.fit(
        opt,
        loss,
        (X, 2 * X),
        inputs=("x", "y"),
        epochs=50,
        batch_size=16,
        val=(X, -2 * X),
        patience=3,
        progress=False,
    )
    assert len(hist["loss"]) == 4


def test_digits_cnn_with_the_conv_plugin_reaches_97_percent():
    cnn = runpy.run_path("examples/train_digits_cnn.py", run_name="cnn")
    acc, hist = cnn["main"](epochs=30, progress=False)
    assert acc >= 0.97 and hist["loss"][-1] < hist["loss"][0] / 5
