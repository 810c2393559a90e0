"""mg.layers.BatchNorm: the batch's statistics in training, the running ones in evaluation,
running statistics updated by PyTorch's rule before each step of mg.fit, and saved in checkpoints."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import mpgraph as mg
from mpgraph.testing import numerical_grad
from mpgraph.training.fit import load_checkpoint, save_checkpoint

RNG = np.random.default_rng(5)
X = RNG.normal(2.0, 3.0, size=(6, 3, 2))  # (N, C, L)


def _bn_graph(**kw):
    g = mg.Graph()
    x = g.input("x", shape=(None, 3, 2))
    bn = mg.layers.BatchNorm(3, **kw)
    return g, x, bn, bn(x)


def _by_hand(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1, 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(
        shape
    ) + b.reshape(shape)


def test_training_mode_normalizes_by_the_batch_and_its_gradients_match_finite_differences():
    g, x, bn, y = _bn_graph()
    w, b = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    g.set_param(bn.weight, w)
    g.set_param(bn.bias, b)
    got = g.forward(y, {"x": X})[y]
    mean, var = X.mean(axis=(0, 2)), X.var(axis=(0, 2))  # biased, as PyTorch normalizes
    np.testing.assert_allclose(got, _by_hand(X, mean, var, w, b), rtol=1e-12)

    v = RNG.normal(size=X.shape)
    L = mg.ops.sum(y * v)
    dx, dw, db = g.grad(L, wrt=[x, bn.weight, bn.bias], feed={"x": X})

    def loss(xx, ww, bb):
        m, s = xx.mean(axis=(0, 2)), xx.var(axis=(0, 2))
        return np.sum(_by_hand(xx, m, s, ww, bb) * v)

    for k, got_k in enumerate((dx, dw, db)):
        np.testing.assert_allclose(got_k, numerical_grad(loss, [X, w, b], k), rtol=1e-6, atol=1e-8)


def test_running_statistics_follow_pytorchs_rule_and_evaluation_uses_them():
    g, x, bn, y = _bn_graph(momentum=0.2)
    mean, var = np.zeros(3), np.ones(3)
    for k in range(3):
        batch = X + k
        mg.layers.update_statistics(g, {"x": batch})
        mean = 0.8 * mean + 0.2 * batch.mean(axis=(0, 2))
        var = 0.8 * var + 0.2 * batch.var(axis=(0, 2), ddof=1)  # unbiased, as PyTorch stores
    np.testing.assert_allclose(bn.running_mean.value, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.value, var, rtol=1e-12)

    mg.layers.eval(g)
    mg.layers.update_statistics(g, {"x": X + 10})  # evaluation mode: nothing changes
    np.testing.assert_allclose(bn.running_mean.value, mean, rtol=1e-12)
    got = g.forward(y, {"x": X})[y]
    np.testing.assert_allclose(got, _by_hand(X, mean, var, np.ones(3), np.zeros(3)), rtol=1e-12)
    dx = g.grad(mg.ops.sum(y), wrt=[x], feed={"x": X})[0]  # eval: a per-channel scale
    np.testing.assert_allclose(dx, np.ones_like(X) / np.sqrt(var.reshape(1, -1, 1) + 1e-5))


def test_batch_norm_refuses_the_wrong_number_of_channels():
    g = mg.Graph()
    with pytest.raises(mg.ShapeError, match=r"normalizes 4 channels on axis 1; node 'x'"):
        mg.layers.BatchNorm(4)(g.input("x", shape=(None, 3)))
    assert len(list(g)) == 1  # nothing was added


def _digits_bn(seed):
    g = mg.Graph()
    x, t = g.input("x", shape=(None, 64)), g.input("y", shape=(None,))
    rng = np.random.default_rng(seed)
    h = mg.layers.Linear(64, 16, rng=rng)(x)
    h = mg.ops.relu(mg.layers.BatchNorm(16, name="bn")(h))
    loss = mg.ops.softmax_cross_entropy(mg.layers.Linear(16, 10, rng=rng)(h), t)
    return g, loss, mg.optim.Optimizer.for_graph(mg.optim.adam(1e-2), g)


def _fit(opt, loss, data, rng, epochs):
    return mg.fit(
        opt,
        loss,
        data,
        inputs=("x", "y"),
        epochs=epochs,
        batch_size=50,
        rng=rng,
        val=data,
        progress=False,
    )


def test_fit_updates_the_statistics_before_each_step_and_a_checkpoint_resumes_them(tmp_path):
    X_, y_ = load_digits(return_X_y=True)
    data = (X_[:200] / 16.0, y_[:200])

    # mg.fit against the loop written out: statistics from the batch, then the step
    g, loss, opt = _digits_bn(0)
    hist = _fit(opt, loss, data, np.random.default_rng(1), 1)
    g2, loss2, opt2 = _digits_bn(0)
    order = np.random.default_rng(1).permutation(200)
    for i in range(0, 200, 50):
        feed = {"x": data[0][order[i : i + 50]], "y": data[1][order[i : i + 50]]}
        mg.layers.update_statistics(g2, feed)
        opt2.minimize(loss2, feed)
    for name in ("bn/running_mean", "bn/running_var", "bn/weight"):
        np.testing.assert_allclose(g[name].value, g2[name].value, rtol=1e-10)
    assert not np.allclose(g["bn/running_mean"].value, 0)  # they did move
    with mg.layers.mode(g2, training=False):  # validation ran in evaluation mode
        val = float(g2.forward(loss2, {"x": data[0], "y": data[1]})[loss2])
    assert hist["val_loss"][-1] == pytest.approx(val, rel=1e-10)

    # resume: the statistics travel with the checkpoint
    rng = np.random.default_rng(2)
    save_checkpoint(tmp_path / "ck.pkl", opt, rng=rng.bit_generator.state)
    straight = _fit(opt, loss, data, rng, 2)
    g3, loss3, opt3 = _digits_bn(7)
    extra = load_checkpoint(tmp_path / "ck.pkl", opt3)
    rng3 = np.random.default_rng()
    rng3.bit_generator.state = extra["rng"]
    assert _fit(opt3, loss3, data, rng3, 2) == straight


def test_distributed_fit_updates_the_statistics_from_each_whole_batch():
    X_, y_ = load_digits(return_X_y=True)
    data = (X_[:120] / 16.0, y_[:120])
    # one step on the whole data: the statistics come from the initial parameters, so the
    # distributed run's must be the single-process one's
    g, loss, opt = _digits_bn(0)
    mg.distributed.fit(
        opt, loss, data, inputs=("x", "y"), workers=2, epochs=1, batch_size=120, progress=False
    )
    g2, loss2, opt2 = _digits_bn(0)
    mg.layers.update_statistics(g2, {"x": data[0], "y": data[1]})
    for name in ("bn/running_mean", "bn/running_var"):
        assert not np.allclose(g[name].value, [0.0, 1.0][name.endswith("var")])  # they moved
        np.testing.assert_allclose(g[name].value, g2[name].value, rtol=1e-12)
