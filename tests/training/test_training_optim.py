"""Optimizers against torch.optim's published update rules, written out by hand in NumPy."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.training import optim

STEPS = 200


def _problem():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 3))
    b = rng.normal(size=5)
    params = {"w": rng.normal(size=3), "c": (rng.normal(size=()),)}

    def grads(p):
        r = A @ p["w"] + p["c"][0] - b
        return {"w": A.T @ r, "c": (np.sum(r),)}

    return params, grads


def _run(tx, steps=STEPS):
    params, grads = _problem()
    opt = optim.Optimizer(tx, params)
    for _ in range(steps):
        opt.step(grads(opt.params))
    return opt.params


def _by_hand(rule, steps=STEPS):
    """Run ``rule(g, p, state, t) -> p`` on each leaf by hand."""
    params, grads = _problem()
    leaves = {"w": params["w"].copy(), "c": params["c"][0].copy()}
    state = {k: {} for k in leaves}
    for t in range(1, steps + 1):
        g = grads({"w": leaves["w"], "c": (leaves["c"],)})
        gl = {"w": g["w"], "c": g["c"][0]}
        leaves = {k: rule(gl[k], leaves[k], state[k], t) for k in leaves}
    return {"w": leaves["w"], "c": (leaves["c"],)}


def _close(a, b):
    np.testing.assert_allclose(a["w"], b["w"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(a["c"][0], b["c"][0], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "mu,nesterov,wd", [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 1e-2)]
)
def test_sgd(mu, nesterov, wd):
    lr = 0.01

    def rule(g, p, s, t):
        g = g + wd * p
        if mu:
            s["b"] = g if t == 1 else mu * s["b"] + g
            g = g + mu * s["b"] if nesterov else s["b"]
        return p - lr * g

    _close(_run(optim.sgd(lr, momentum=mu, nesterov=nesterov, weight_decay=wd)), _by_hand(rule))


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam(wd):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8

    def rule(g, p, s, t):
        g = g + wd * p
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g**2
        return p - lr * (s["m"] / (1 - b1**t)) / (np.sqrt(s["v"] / (1 - b2**t)) + eps)

    _close(_run(optim.adam(lr, weight_decay=wd)), _by_hand(rule))


def test_adamw_decoupled_decay():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 1e-2

    def rule(g, p, s, t):
        p = p * (1 - lr * wd)
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g**2
        return p - lr * (s["m"] / (1 - b1**t)) / (np.sqrt(s["v"] / (1 - b2**t)) + eps)

    _close(_run(optim.adamw(lr)), _by_hand(rule))


def test_rmsprop_eps_outside_sqrt():
    lr, alpha, eps = 1e-2, 0.99, 1e-8

    def rule(g, p, s, t):
        s["v"] = alpha * s.get("v", 0) + (1 - alpha) * g**2
        return p - lr * g / (np.sqrt(s["v"]) + eps)

    _close(_run(optim.rmsprop()), _by_hand(rule))


def test_adagrad_with_lr_decay():
    lr, decay, eps = 1e-2, 1e-3, 1e-10

    def rule(g, p, s, t):
        s["s"] = s.get("s", 0) + g**2
        return p - lr / (1 + (t - 1) * decay) * g / (np.sqrt(s["s"]) + eps)

    _close(_run(optim.adagrad(lr_decay=decay)), _by_hand(rule))


def test_clip_by_global_norm_then_sgd():
    lr, max_norm = 0.05, 0.5
    params, grads = _problem()
    opt = optim.Optimizer(optim.chain(optim.clip_by_global_norm(max_norm), optim.sgd(lr)), params)
    w, c = params["w"].copy(), params["c"][0].copy()
    for _ in range(50):
        g = grads(opt.params)
        opt.step(g)
        hg = grads({"w": w, "c": (c,)})
        norm = np.sqrt(np.sum(hg["w"] ** 2) + hg["c"][0] ** 2)
        coef = min(max_norm / (norm + 1e-6), 1.0)
        w, c = w - lr * coef * hg["w"], c - lr * coef * hg["c"][0]
    _close(opt.params, {"w": w, "c": (c,)})


def test_schedule_is_read_per_step_and_lr_is_readable():
    sched = mg.schedules.step_decay(0.1, step_size=2, gamma=0.5)
    opt = optim.Optimizer(optim.sgd(sched), {"w": np.zeros(1)})
    seen = []
    for _ in range(5):
        seen.append(opt.lr)
        opt.step({"w": np.ones(1)})
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.025]
    np.testing.assert_allclose(opt.params["w"], -np.array([sum(seen)]), atol=1e-15)


def test_state_dict_resumes_exactly_and_inputs_are_untouched():
    params, grads = _problem()
    before = {"w": params["w"].copy(), "c": (params["c"][0].copy(),)}
    opt = optim.Optimizer(optim.adam(0.01), params)
    for _ in range(10):
        opt.step(grads(opt.params))
    saved = opt.state_dict()
    for _ in range(10):
        opt.step(grads(opt.params))
    straight = opt.params
    fresh = optim.Optimizer(optim.adam(0.01), before)
    fresh.load_state_dict(saved)
    for _ in range(10):
        fresh.step(grads(fresh.params))
    _close(fresh.params, straight)
    assert np.array_equal(params["w"], before["w"]) and params["c"][0] == before["c"][0]


def test_optimizer_trains_a_graph_parameter():
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    w = g.param("w", np.zeros(4))
    loss = mg.ops.sum((w - x) * (w - x))
    target = np.array([1.0, -2.0, 3.0, 0.5])
    opt = optim.Optimizer(optim.adam(0.1), {"w": np.zeros(4)})
    for _ in range(300):
        g.set_param(w, opt.params["w"])
        (gw,) = g.grad(loss, wrt=[w], feed={"x": target})
        opt.step({"w": gw})
    np.testing.assert_allclose(opt.params["w"], target, atol=1e-3)


def test_graph_optimizer_warns_when_the_loss_is_rebuilt_each_step():
    g = mg.Graph()
    w = g.param("w", np.zeros(2))
    opt = optim.Optimizer.for_graph(optim.sgd(0.1), g)

    def train_rebuilding_the_loss():
        for _ in range(5):
            opt.minimize(mg.ops.sum(w * w - w))

    with pytest.warns(RuntimeWarning, match="build the loss once"):
        train_rebuilding_the_loss()


def test_graph_optimizer_built_once_does_not_warn_and_converges():
    import warnings

    g = mg.Graph()
    w = g.param("w", np.zeros(2))
    loss = mg.ops.sum(w * w - w)
    opt = optim.Optimizer.for_graph(optim.sgd(0.1), g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(100):
            opt.minimize(loss)
    np.testing.assert_allclose(g["w"].value, [0.5, 0.5], atol=1e-8)


def test_float32_parameters_keep_float32_updates_and_moments_as_in_torch_optim():
    p = {"w": np.array([1.0, -2.0, 3.0], np.float32)}
    g = {"w": np.array([0.5, 0.5, -1.0], np.float32)}
    opt = mg.optim.Optimizer(mg.optim.adam(1e-1), p)
    new = opt.step(g)["w"]
    assert new.dtype == np.float32
    assert all(v.dtype == np.float32 for v in mg.tree.tree_leaves(opt.state["slots"]))
    # Adam's first step moves each weight by lr against the sign of its gradient
    np.testing.assert_allclose(new, p["w"] - 0.1 * np.sign(g["w"]), rtol=1e-6)
    assert p["w"].tolist() == [1.0, -2.0, 3.0]  # the caller's array untouched
    ints = mg.optim.Optimizer(mg.optim.sgd(0.5), {"n": np.array([1, 2])})
    assert ints.step({"n": np.array([1.0, 1.0])})["n"].dtype == np.float64


def test_minimize_steps_as_g_grad_and_step_do_and_its_plan_is_compiled():
    """A graph optimizer's step is g.grad's gradient run (no message to the inputs, values
    freed as it goes), compiled after COMPILE_AFTER steps: its losses and parameters stay
    those of steps written out with a full forward and backward run and Optimizer.step, to
    the bit."""
    import mpgraph.engine.run as run_module

    rng = np.random.default_rng(3)
    feed = {"x": rng.normal(size=(8, 3)), "t": rng.integers(0, 2, 8)}

    def model():
        g = mg.Graph()
        x, t = g.input("x", shape=(None, 3)), g.input("t", shape=(None,))
        W = g.param("W", np.linspace(-1, 1, 6).reshape(3, 2))
        b = g.param("b", np.zeros(2))
        return g, mg.ops.softmax_cross_entropy(mg.ops.tanh(x @ W) + b, t), [W, b]

    g1, loss1, _ = model()
    opt1 = optim.Optimizer.for_graph(optim.adam(0.05), g1)
    g2, loss2, ws2 = model()
    opt2 = optim.Optimizer.for_graph(optim.adam(0.05), g2)
    for _ in range(run_module.COMPILE_AFTER + 5):
        run = g2.forward(loss2, feed).backward(loss2)  # a run of the loops, never compiled
        value = float(run[loss2])
        params = opt2.step({n.name: run.grad(n) for n in ws2})
        assert opt1.minimize(loss1, feed) == value  # the loss before the step
    (plan,) = g1.schedule(loss1)._plans.values()
    assert plan.compiled is not None
    for name, value in params.items():
        np.testing.assert_array_equal(g1[name].value, value)
