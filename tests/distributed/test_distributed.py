"""Data-parallel gradients on workers: Python processes (backend "local") and a real local Ray
cluster (backend "ray", ``ray.init(num_cpus=2)`` once for this module). Results are checked
against the single-process gradients of the same graph; faults are real: a worker process is
killed (SIGKILL, ``ray.kill``) while it computes."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from distributed_plugins import Fragile, Sleepy, StallOnce
from sklearn.datasets import load_digits

import mpgraph as mg
from mpgraph.distributed import DataParallel, shard_bounds
from mpgraph.training.fit import load_checkpoint, save_checkpoint

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    # the workers import distributed_plugins, next to this file
    path = os.pathsep.join([TESTS, *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def backend(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


def digits_mlp(seed=0, hidden=16):
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    g = mg.Graph()
    x, t = g.input("x", shape=(None, 64)), g.input("y", shape=(None,))
    with g.scope("layer1"):
        h = mg.ops.tanh(
            x @ g.param("W", mg.nn_init.glorot_uniform((64, hidden), rng))
            + g.param("b", np.zeros(hidden))
        )
    with g.scope("layer2"):
        logits = h @ g.param("W", mg.nn_init.glorot_uniform((hidden, 10), rng)) + g.param(
            "b", np.zeros(10)
        )
    loss = mg.ops.softmax_cross_entropy(logits, t)
    return g, loss, logits, {"x": X / 16.0, "y": y}


def assert_same_grads(got, expected_list, g, rtol=1e-12):
    assert list(got) == [p.name for p in g.params()]
    for name, expected in zip(got, expected_list):
        assert type(got[name]) is np.ndarray and got[name].shape == np.shape(expected)
        np.testing.assert_allclose(got[name], expected, rtol=rtol, atol=1e-15, err_msg=name)


def test_shards_cover_the_rows_once_in_order():
    for n, k in [(10, 3), (1797, 2), (7, 7), (5, 1)]:
        bounds = shard_bounds(n, k)
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in bounds])
        np.testing.assert_array_equal(rows, np.arange(n))
        assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


@pytest.fixture
def workers_on_digits(backend, request):
    """``(g, loss, data, initial params, dp)``: the digits MLP on 600 rows and two workers; on
    Ray, the module's (their start is slow), with the graph's initial parameters restored."""
    if backend == "ray":
        g, loss, data, initial, dp = request.getfixturevalue("ray_training")
        for name, value in initial.items():
            g.set_param(name, value)
        yield g, loss, data, dp
        return
    g, loss, _, data = digits_mlp()
    data = {k: a[:600] for k, a in data.items()}
    with DataParallel(g, loss, data, workers=2, backend=backend) as dp:
        yield g, loss, data, dp


def test_a_step_over_all_the_data_is_the_single_process_step(workers_on_digits):
    g, loss, data, dp = workers_on_digits
    value, expected = g.gradient_run(loss, g.params(), data, strict=False)
    got_value, got = dp.value_and_grad()
    assert got_value == pytest.approx(float(value.value(loss)), rel=1e-12)
    assert_same_grads(got, expected, g)
    # a minibatch: each worker takes its rows of it, weighted by its share
    rows = np.random.default_rng(3).permutation(len(data["y"]))[:100]
    batch = {k: a[rows] for k, a in data.items()}
    _, got = dp.value_and_grad(rows=rows)
    assert_same_grads(got, g.grad(loss, feed=batch), g)
    # other parameters than the graph's, which stays as it was
    W = g["layer1/W"].value
    _, got = dp.value_and_grad(params={"layer1/W": W * 0.5})
    assert g["layer1/W"].value is W
    g.set_param("layer1/W", W * 0.5)
    assert_same_grads(got, g.grad(loss, feed=data), g)


def test_unequal_shards_and_the_sum_reduction():
    # three shards of 4, 3 and 3 rows; a loss summed over rows is reduced by summing
    rng = np.random.default_rng(0)
    g = mg.Graph()
    x, t = g.input("x", shape=(None, 3)), g.input("t", shape=(None,))
    w = g.param("w", rng.standard_normal(3))
    total = mg.ops.sum((mg.ops.tanh(x @ w) - t) ** 2)
    data = {"x": rng.standard_normal((10, 3)), "t": rng.standard_normal(10)}
    with DataParallel(g, total, data, workers=3, reduce="sum") as dp:
        assert dp.shards == [(0, 4), (4, 7), (7, 10)]
        value, grads = dp.value_and_grad()
    # by hand: d/dw sum_i (tanh(x_i w) - t_i)^2 = sum_i 2 (tanh - t)(1 - tanh^2) x_i
    a = np.tanh(data["x"] @ w.value)
    assert value == pytest.approx(np.sum((a - data["t"]) ** 2), rel=1e-12)
    np.testing.assert_allclose(
        grads["w"], (2 * (a - data["t"]) * (1 - a**2)) @ data["x"], rtol=1e-12
    )


@pytest.fixture
def registered():
    names = []
    yield lambda plugin: names.append(mg.plugins.register(plugin)) or plugin
    for name in names:
        mg.plugins.unregister(name)


def kill(worker, backend):
    if backend == "ray":
        import ray

        ray.kill(worker)
    else:
        os.kill(worker.pid, signal.SIGKILL)


def test_a_worker_killed_mid_step_is_replaced_and_its_shard_computed_again(backend, registered):
    g, loss, _, data = digits_mlp()
    registered(Sleepy())
    slow_loss = mg.ops.sleepy_identity(loss)
    expected = g.grad(loss, feed=data)
    with DataParallel(g, slow_loss, data, workers=2, backend=backend, plugins=[Sleepy()]) as dp:
        unhurt = dp.value_and_grad()
        first = dp.workers[0]
        timer = threading.Timer(0.15, kill, (first, backend))  # the step takes >= 0.4 s
        timer.start()
        value, grads = dp.value_and_grad()
        timer.join()
        assert dp.restarts == 1 and dp.workers[0] is not first
        assert value == unhurt[0]
        for name in grads:  # the same sums in the same order: not one bit different
            np.testing.assert_array_equal(grads[name], unhurt[1][name])
        assert_same_grads(grads, expected, g)
        # the replacement keeps working, and a worker killed between steps is replaced too
        kill(dp.workers[1], backend)
        if backend == "local":
            dp.workers[1].join()
        _, again = dp.value_and_grad()
        assert dp.restarts == 2
        assert all(np.array_equal(again[k], grads[k]) for k in grads)


def test_a_worker_that_hangs_past_the_timeout_is_replaced(backend, registered, tmp_path):
    g, loss, _, data = digits_mlp()
    data = {k: a[:200] for k, a in data.items()}
    stall = StallOnce(tmp_path / "stalled")
    registered(stall)
    stalling = mg.ops.stall_once(loss)
    expected = g.grad(loss, feed=data)
    with DataParallel(
        g, stalling, data, workers=1, backend=backend, plugins=[stall], timeout=3.0
    ) as dp:
        start = time.perf_counter()
        _, grads = dp.value_and_grad()  # the worker sleeps 30 s: it is replaced after 3
        assert time.perf_counter() - start < 25 and dp.restarts == 1
        assert_same_grads(grads, expected, g)


def test_a_worker_that_always_hangs_is_given_up_on(registered):
    sleepy = Sleepy()
    registered(sleepy)
    g, loss, _, data = digits_mlp()
    data = {k: a[:200] for k, a in data.items()}
    with DataParallel(
        g,
        mg.ops.sleepy_identity(loss),
        data,
        workers=1,
        backend="local",
        plugins=[sleepy],
        timeout=0.05,
        max_restarts=1,
    ) as dp:
        with pytest.raises(
            mg.WorkerError,
            match=r"worker 0 \(shard 0: rows 0 to 199 of 200\) "
            r"died or hung 2 times in one step \(last: no "
            r"answer within 0.05 s\)",
        ):
            dp.value_and_grad()


def test_a_worker_that_raises_is_named_with_its_shard_and_the_driver_stays_usable(
    backend, registered
):
    registered(Fragile())
    g = mg.Graph()
    x = g.input("x", shape=(None,))
    w = g.param("w", 1.5)
    loss = mg.ops.mean(mg.ops.fragile_identity(x) * w)
    data = {"x": np.array([1.0, 2.0, 3.0, -4.0, 5.0, 6.0])}  # the negative is in shard 1
    with DataParallel(g, loss, data, workers=2, backend=backend, plugins=[Fragile()]) as dp:
        with pytest.raises(mg.WorkerError) as err:
            dp.value_and_grad()
        message = str(err.value)
        assert "worker 1 (shard 1: rows 3 to 5 of 6)" in message
        assert "fragile_identity got a negative number" in message
        assert dp.restarts == 0
        value, grads = dp.value_and_grad(rows=[0, 2])  # shard 0's rows only: fine
        assert value == pytest.approx(1.5 * 2.0) and grads["w"] == pytest.approx(2.0)
        with pytest.raises(mg.WorkerError, match="worker 1"):
            dp.value_and_grad(rows=[0, 3])


def test_an_op_the_workers_do_not_have_is_named_when_they_start(backend, registered):
    registered(Fragile())
    g = mg.Graph()
    loss = mg.ops.sum(mg.ops.fragile_identity(g.input("x", shape=(None,))), name="L")
    with pytest.raises(mg.WorkerError) as err:
        DataParallel(g, loss, {"x": np.ones(4)}, workers=1, backend=backend)  # no plugins=
    assert f"a {backend} worker could not start: UnknownOpError: mpgraph: op" in str(err.value)
    assert "op 'fragile_identity' at node 'fragile_identity_1'" in str(err.value)
    assert "plugin 'Fragile'" in str(err.value)


def test_bad_arguments_are_refused_with_what_was_expected():
    g, loss, _, data = digits_mlp()
    with pytest.raises(mg.GraphError, match="backend 'spark' is not one of 'local', 'ray'"):
        DataParallel(g, loss, data, backend="spark")
    with pytest.raises(mg.GraphError, match="reduce 'max'"):
        DataParallel(g, loss, data, reduce="max")
    with pytest.raises(mg.FeedError, match="aligned along axis 0"):
        DataParallel(g, loss, {"x": data["x"], "y": data["y"][:-1]})
    with pytest.raises(mg.FeedError, match="3 workers for 2 rows"):
        DataParallel(g, loss, {k: a[:2] for k, a in data.items()}, workers=3)
    with pytest.raises(mg.GraphError, match="'layer1/W', which is not an input"):
        DataParallel(g, loss, {"layer1/W": data["x"]})
    with pytest.raises(mg.FeedError, match="needs the input.s. y, which data does not give"):
        DataParallel(g, loss, {"x": data["x"]})
    small = {k: a[:4] for k, a in data.items()}
    dp = DataParallel(g, loss, small, workers=1)
    with pytest.raises(mg.FeedError, match=r"rows must lie in 0..3; got 0..4"):
        dp.value_and_grad(rows=[0, 4])
    with pytest.raises(mg.GraphError, match=r"'layer2/b' has shape \(10,\); the value given has"):
        dp.value_and_grad(params={"layer2/b": np.zeros(3)})
    dp.close()
    dp.close()
    with pytest.raises(mg.MpgraphError, match="closed"):
        dp.value_and_grad()


def test_import_mpgraph_does_not_import_ray():
    code = (
        "import sys, mpgraph as mg; mg.distributed.DataParallel; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def ray_training(ray_cluster):
    """A digits MLP, its first 600 rows, and Ray workers on them kept for the training tests
    (the graph's initial parameters are restored by each test)."""
    g, loss, _, data = digits_mlp()
    data = {k: a[:600] for k, a in data.items()}
    initial = {p.name: p.value for p in g.params()}
    with DataParallel(g, loss, data, workers=2, backend="ray") as dp:
        yield g, loss, data, initial, dp


def train(g, loss, data, initial, *, epochs, rng, opt=None, **kw):
    """``epochs`` of Adam from ``initial`` (unless ``opt`` is given): mg.fit, or
    mg.distributed.fit when workers are given."""
    if opt is None:
        for name, value in initial.items():
            g.set_param(name, value)
        opt = mg.optim.Optimizer.for_graph(mg.optim.adam(3e-3), g)
    fit = mg.distributed.fit if ("workers" in kw or "parallel" in kw) else mg.fit
    hist = fit(
        opt,
        loss,
        (data["x"], data["y"]),
        inputs=("x", "y"),
        epochs=epochs,
        batch_size=64,
        rng=rng,
        progress=False,
        **kw,
    )
    return opt, hist, {p.name: p.value for p in g.params()}


def test_distributed_fit_is_single_process_fit_and_survives_a_kill_mid_epoch(ray_training):
    import ray

    g, loss, data, initial, dp = ray_training
    _, single, trained = train(g, loss, data, initial, epochs=2, rng=np.random.default_rng(1))
    _, hist, clean = train(
        g, loss, data, initial, epochs=2, rng=np.random.default_rng(1), parallel=dp
    )
    np.testing.assert_allclose(hist["loss"], single["loss"], rtol=1e-10)
    for name, value in clean.items():
        np.testing.assert_allclose(value, trained[name], rtol=1e-9, atol=1e-12)

    # the same training, a worker actor killed after the 5th of 10 steps of the first epoch
    steps, restarts = [], dp.restarts

    def step(rows):
        steps.append(len(rows))
        if len(steps) == 5:
            ray.kill(dp.workers[0])
        return dp.value_and_grad(rows=rows)

    _, _, survived = train(
        g, loss, data, initial, epochs=2, rng=np.random.default_rng(1), value_and_grad=step
    )
    assert dp.restarts == restarts + 1 and len(steps) == 20
    for name, value in survived.items():
        np.testing.assert_array_equal(value, clean[name])


def test_a_checkpoint_resumes_distributed_training_exactly(ray_training, tmp_path):
    g, loss, data, initial, dp = ray_training
    _, whole, expected = train(
        g, loss, data, initial, epochs=2, rng=np.random.default_rng(2), parallel=dp
    )
    rng = np.random.default_rng(2)
    opt, first, _ = train(g, loss, data, initial, epochs=1, rng=rng, parallel=dp)
    save_checkpoint(tmp_path / "ckpt.pkl", opt, rng=rng.bit_generator.state)

    # a new process would start from other values: the checkpoint overwrites them
    g2, loss2, _, _ = digits_mlp(seed=7)
    opt = mg.optim.Optimizer.for_graph(mg.optim.adam(3e-3), g2)
    rng = np.random.default_rng()
    rng.bit_generator.state = load_checkpoint(tmp_path / "ckpt.pkl", opt)["rng"]
    # resumed on one local worker: where the gradients come from does not matter
    _, hist, resumed = train(g2, loss2, data, None, epochs=1, rng=rng, opt=opt, workers=1)
    assert [first["loss"][0], hist["loss"][0]] == pytest.approx(whole["loss"], rel=1e-12)
    for name, value in resumed.items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-9, atol=1e-12)


def test_distributed_fit_refuses_workers_on_another_graph(ray_training):
    _, _, data, _, dp = ray_training
    g2, loss2, _, _ = digits_mlp()
    opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(0.1), g2)
    with pytest.raises(
        mg.GraphError, match="on the optimizer's graph with reduce='mean'; got one on another graph"
    ):
        mg.distributed.fit(opt, loss2, (data["x"], data["y"]), inputs=("x", "y"), parallel=dp)


def test_a_step_drawn_as_one_graph_sums_one_message_per_worker_at_each_parameter():
    g, loss, _, data = digits_mlp()
    data = {k: a[:100] for k, a in data.items()}
    dg, total, feed = mg.distributed.step_graph(g, loss, data, workers=3)
    run = dg.forward(total, feed).backward(total, keep_messages=True)
    assert float(run[total]) == pytest.approx(float(g.forward(loss, data)[loss]), rel=1e-12)
    expected = g.grad(loss, feed=data)
    for p, grad in zip(g.params(), expected):
        messages = [m for (parent, child, _), m in run.messages.items() if parent == p.name]
        assert len(messages) == 3  # one per worker
        np.testing.assert_allclose(run.grad(p.name), sum(messages), rtol=1e-13)
        np.testing.assert_allclose(run.grad(p.name), grad, rtol=1e-12, atol=1e-15)
    source = mg.render(dg, run, view="backward").source
    assert "allreduce" in source and "worker2/layer1" in source
    # per worker a copy of all but the 4 parameters, its weight and the product; stack, sum
    assert len(dg) == 3 * (len(g) - 4 + 2) + 4 + 2


def test_the_workers_get_the_loss_and_its_ancestors_only(registered):
    # a node with an op the workers do not have, off the loss's path, and a parameter the loss
    # does not use: neither is sent; that parameter's gradient is zeros, as g.grad gives
    registered(Fragile())
    g, loss, _, data = digits_mlp()
    unused = g.param("unused", np.ones((2, 2)))
    mg.ops.fragile_identity(unused @ unused)
    data = {k: a[:50] for k, a in data.items()}
    g.input("unused_input")  # fed, but not needed by the loss
    with DataParallel(g, loss, {**data, "unused_input": np.ones(50)}, workers=2) as dp:
        _, grads = dp.value_and_grad(params={"unused": np.zeros((2, 2))})
    expected = g.grad(loss, feed=data)
    assert_same_grads(grads, expected, g)
    np.testing.assert_array_equal(grads["unused"], np.zeros((2, 2)))
