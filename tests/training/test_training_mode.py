"""Training and evaluation mode: dropout drops in training, is the identity in evaluation,
mg.fit validates in evaluation mode, and checkpoints resume dropout's masks exactly."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import mpgraph as mg
from mpgraph.training.fit import load_checkpoint, save_checkpoint


def _dropout_graph(rate=0.5, rng=None):
    g = mg.Graph()
    x = g.input("x", shape=(None, 8))
    y = mg.layers.Dropout(rate, rng=rng if rng is not None else np.random.default_rng(0))(x)
    return g, x, y


def test_dropout_drops_in_training_and_is_the_identity_in_evaluation():
    g, x, y = _dropout_graph()
    X = np.random.default_rng(1).normal(size=(50, 8))
    L = mg.ops.sum(y * y)
    assert mg.layers.is_training(g)  # layers start in training mode
    out = g.forward(y, {"x": X})[y]
    kept = out != 0
    assert 0.4 < kept.mean() < 0.6  # rate 0.5
    np.testing.assert_allclose(out[kept], 2 * X[kept], rtol=1e-15)
    mg.layers.eval(g)
    assert not mg.layers.is_training(g) and g["dropout_1/training"].value is False
    np.testing.assert_array_equal(g.forward(y, {"x": X})[y], X)
    (dx,) = g.grad(L, wrt=[x], feed={"x": X})  # no mask in the gradient either
    np.testing.assert_allclose(dx, 2 * X, rtol=1e-15)
    mg.layers.train(g)
    assert (g.forward(y, {"x": X})[y] == 0).any()


def test_mode_is_graph_wide_and_the_context_restores_it():
    g = mg.Graph()
    x = g.input("x", shape=(None, 4))
    rng = np.random.default_rng(0)
    y = mg.layers.MLP([4, 16, 16, 2], rng=rng, dropout=0.5)(x)
    flags = [n for n in g if n.name.endswith("/training")]
    assert [f.name for f in flags] == ["mlp_1/dropout1/training", "mlp_1/dropout2/training"]
    X = rng.normal(size=(6, 4))
    with mg.layers.mode(g, training=False):
        assert [f.value for f in flags] == [False, False]
        a, b = g.forward(y, {"x": X})[y], g.forward(y, {"x": X})[y]
        np.testing.assert_array_equal(a, b)  # deterministic in evaluation
    assert [f.value for f in flags] == [True, True]
    assert not np.array_equal(g.forward(y, {"x": X})[y], a)
    mg.layers.eval(g)
    z = mg.layers.Dropout(0.5, rng=0)(y)  # a layer added later joins the mode
    assert z.args[0].name == "dropout_1/training" and z.args[0].value is False
    assert mg.layers.is_training(mg.Graph())  # nothing to switch: training


def test_fit_steps_in_training_mode_and_validates_in_evaluation_mode():
    rng = np.random.default_rng(3)
    g = mg.Graph()
    x, t = g.input("x", shape=(None, 3)), g.input("t", shape=(None,))
    h = mg.layers.Dropout(0.5, rng=np.random.default_rng(4))(mg.layers.Linear(3, 8, rng=rng)(x))
    pred = mg.layers.Linear(8, 1, rng=rng)(mg.ops.tanh(h))
    loss = mg.ops.mean((pred[:, 0] - t) ** 2)
    X = rng.normal(size=(40, 3))
    T = X @ np.array([1.0, -2.0, 0.5])
    seen = []

    def metric(feed):
        seen.append(("metric", mg.layers.is_training(g)))
        return float(g.forward(loss, feed)[loss])

    class Watched(mg.optim.Optimizer):
        def minimize(self, loss, feed=None):
            seen.append(("step", mg.layers.is_training(g)))
            return super().minimize(loss, feed)

    opt = Watched.for_graph(mg.optim.adam(1e-2), g)
    mg.layers.eval(g)  # fit trains in training mode anyway
    hist = mg.fit(
        opt,
        loss,
        (X, T),
        inputs=("x", "t"),
        epochs=2,
        batch_size=10,
        rng=rng,
        val=(X, T),
        metrics={"mse": metric},
        progress=False,
    )
    epoch = [("step", True)] * 4 + [("metric", False)]
    assert seen == epoch * 2 and not mg.layers.is_training(g)  # and the mode is restored
    assert hist["val_loss"] == hist["val_mse"]  # validation without dropout: repeatable
    assert hist["val_loss"][-1] == float(g.forward(loss, {"x": X, "t": T})[loss])
    with mg.layers.mode(g, training=True):  # ... and differs from a training run
        assert float(g.forward(loss, {"x": X, "t": T})[loss]) != hist["val_loss"][-1]


def _digits_with_dropout(seed):
    g = mg.Graph()
    x, y = g.input("x", shape=(None, 64)), g.input("y", shape=(None,))
    net = mg.layers.MLP([64, 16, 10], rng=np.random.default_rng(seed), dropout=0.3)
    loss = mg.ops.softmax_cross_entropy(net(x), y)
    return g, loss, mg.optim.Optimizer.for_graph(mg.optim.adam(1e-2), g)


def _train(g, loss, opt, data, rng, epochs):
    return mg.fit(
        opt,
        loss,
        data,
        inputs=("x", "y"),
        epochs=epochs,
        batch_size=32,
        rng=rng,
        val=data,
        progress=False,
    )


def test_resume_with_dropout_gives_the_same_losses(tmp_path):
    X, y = load_digits(return_X_y=True)
    data = (X[:300] / 16.0, y[:300])
    g, loss, opt = _digits_with_dropout(1)
    rng = np.random.default_rng(2)
    _train(g, loss, opt, data, rng, 2)
    save_checkpoint(tmp_path / "ck.pkl", opt, rng=rng.bit_generator.state)
    straight = _train(g, loss, opt, data, rng, 3)

    def resumed(restore_masks):
        g2, loss2, opt2 = _digits_with_dropout(99)  # other weights and mask Generator
        extra = load_checkpoint(tmp_path / "ck.pkl", opt2)
        if not restore_masks:  # what a checkpoint without them does
            g2["mlp_1/dropout1/dropout_1"].attrs["rng"].bit_generator.state = np.random.default_rng(
                99
            ).bit_generator.state
        rng2 = np.random.default_rng()
        rng2.bit_generator.state = extra["rng"]
        return _train(g2, loss2, opt2, data, rng2, 3)

    assert resumed(True) == straight  # loss and val_loss, every epoch
    assert resumed(False)["loss"] != straight["loss"]  # the masks' state is what it takes


def test_a_checkpoint_refuses_a_graph_without_its_generators(tmp_path):
    g, loss, opt = _digits_with_dropout(1)
    save_checkpoint(tmp_path / "ck.pkl", opt)
    other = mg.Graph()
    w = other.param("mlp_1/layer1/W", np.zeros((64, 16)))
    with pytest.raises(mg.LoadError, match=r"random state of mlp_1/dropout1/dropout_1\.rng"):
        load_checkpoint(tmp_path / "ck.pkl", mg.optim.Optimizer.for_graph(mg.optim.sgd(), other))
    assert w.value.sum() == 0  # nothing was loaded
