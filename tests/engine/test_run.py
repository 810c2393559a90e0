"""Running graphs: feeds, the schedule, backward message passing, error signals and messages."""

import threading

import networkx as nx
import numpy as np
import pytest

import mpgraph as mg


@pytest.fixture
def net():
    g = mg.Graph()
    x = g.input("x", shape=(None, 3))
    t = g.input("t", shape=(None,))
    W = g.param("W", np.array([[0.1], [-0.2], [0.3]]))
    b = g.param("b", np.array([0.05]))
    y = mg.ops.reshape(mg.ops.tanh(x @ W + b), (-1,))
    L = mg.ops.mean((y - t) ** 2, name="L")
    return g, x, t, W, b, y, L


def _loss(Wv, bv, xv, tv):
    return np.mean((np.tanh(xv @ Wv + bv).reshape(-1) - tv) ** 2)


def _numeric(f, v, eps=1e-6):
    out = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        d = np.zeros_like(v)
        d[i] = eps
        out[i] = (f(v + d) - f(v - d)) / (2 * eps)
    return out


def test_gradients_match_finite_differences(net):
    g, x, t, W, b, y, L = net
    rng = np.random.default_rng(0)
    xv, tv = rng.standard_normal((5, 3)), rng.standard_normal(5)
    dW, db = g.grad(L, wrt=[W, b], feed={x: xv, t: tv})
    np.testing.assert_allclose(
        dW, _numeric(lambda v: _loss(v, b.value, xv, tv), W.value), rtol=1e-6
    )
    np.testing.assert_allclose(
        db, _numeric(lambda v: _loss(W.value, v, xv, tv), b.value), rtol=1e-6
    )
    assert g.grad(L, feed={x: xv, t: tv})[0].shape == (3, 1)  # default: every parameter


def test_forward_evaluates_only_the_ancestors_of_the_outputs(net):
    g, x, t, W, b, y, L = net
    run = g.forward(y, {"x": np.ones((2, 3))})  # t is not needed, so not fed
    assert "t" not in run.schedule.slot and "L" not in run.schedule.slot
    np.testing.assert_allclose(run[y], np.tanh(np.ones((2, 3)) @ W.value + b.value).reshape(-1))
    with pytest.raises(mg.GraphError, match="node 'L' was not computed by this run"):
        run["L"]


def test_feed_errors_are_clear(net):
    g, x, t, W, b, y, L = net
    with pytest.raises(mg.FeedError, match="input 't' is not fed; the outputs 'L' need it"):
        g.forward(L, {"x": np.ones((2, 3))})
    with pytest.raises(
        mg.FeedError, match=r"input 'x' has shape \(\?, 3\); the feed has shape \(2, 4\)"
    ):
        g.forward(y, {"x": np.ones((2, 4))})
    with pytest.raises(mg.FeedError, match="the feed names 'z', which is no node .*inputs: x, t"):
        g.forward(y, {"x": np.ones((2, 3)), "z": 1.0})
    with pytest.raises(mg.FeedError, match="'W', which is a param, not an input; set a parameter"):
        g.forward(y, {"x": np.ones((2, 3)), "W": 1.0})


def test_feed_dtype_is_converted_when_safe_and_refused_otherwise():
    g = mg.Graph()
    x = g.input("x", dtype="float32")
    y = mg.ops.tanh(x)
    assert g.forward(y, {"x": np.float64(0.5)})[y].dtype == np.float32
    n = g.input("n", dtype="int64")
    with pytest.raises(mg.FeedError, match="input 'n' has dtype int64; the feed has dtype float64"):
        g.forward(n * 2, {"n": 1.5})


def test_the_users_feed_and_seed_are_never_mutated():
    g = mg.Graph()
    x = g.input("x", (3,))
    y = x + x + x * 2.0  # x's signal is a sum of messages, accumulated in place
    xv = np.array([1.0, 2.0, 3.0])
    seed = np.array([1.0, 1.0, 1.0])
    run = g.forward(y, {x: xv}).backward(y, seed=seed)
    np.testing.assert_array_equal(run.grad(x), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(xv, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(seed, [1.0, 1.0, 1.0])


def test_a_non_scalar_loss_needs_a_seed_of_its_shape():
    g = mg.Graph()
    x = g.input("x", (2,))
    y = x * 3.0
    run = g.forward(y, {x: np.ones(2)})
    with pytest.raises(
        mg.ShapeError, match="node 'multiply_1' needs a seed: its value has shape \\(2,\\)"
    ):
        run.backward(y)
    with pytest.raises(
        mg.ShapeError, match="seed for node 'multiply_1' has shape \\(3,\\); expected \\(2,\\)"
    ):
        run.backward(y, seed=np.ones(3))
    np.testing.assert_array_equal(run.backward(y, seed=[1.0, -2.0]).grad(x), [3.0, -6.0])


def test_every_node_that_affects_the_loss_gets_an_error_signal_and_messages_are_kept():
    g = mg.Graph()
    x = g.input("x")
    a = mg.ops.exp(x, name="a")
    b = mg.ops.multiply(a, a, name="b")  # a feeds one op twice
    c = mg.ops.add(b, a, name="c")  # and another op: fan-out of 3 edges
    run = g.forward(c, {"x": 0.5}).backward(c, keep_messages=True)
    av = np.exp(0.5)
    assert run.messages[("a", "b", 0)] == pytest.approx(av)
    assert run.messages[("a", "b", 1)] == pytest.approx(av)
    assert run.messages[("a", "c", 1)] == pytest.approx(1.0)
    assert run.grad(a) == pytest.approx(2 * av + 1)
    assert run.grad(x) == pytest.approx((2 * av + 1) * av)
    assert set(run.error_signals) == {"x", "a", "b", "c"}


def test_keep_false_frees_intermediate_signals_but_keeps_the_sources(net):
    g, x, t, W, b, y, L = net
    feed = {x: np.ones((2, 3)), t: np.zeros(2)}
    run = g.forward(L, feed).backward(L, wrt=[W], keep=False)
    assert run.grad(W) is not None
    with pytest.raises(mg.MpgraphError, match=f"'{y.name}' was freed"):  # and says so
        run.grad(y)
    np.testing.assert_allclose(run.grad(W), g.grad(L, wrt=[W], feed=feed)[0])


def test_constants_get_no_messages_and_unreached_params_get_zeros():
    g = mg.Graph()
    x = g.input("x")
    w, unused = g.param("w", 2.0), g.param("unused", np.ones(2))
    y = w * x + 3.0
    run = g.forward(y, {x: 1.5}).backward(y, keep_messages=True)
    assert all(
        not child.startswith("const") and not parent.startswith("const")
        for parent, child, _ in run.messages
    )
    dw, du = g.grad(y, wrt=[w, unused], feed={x: 1.5})
    assert dw == pytest.approx(1.5)
    np.testing.assert_array_equal(du, np.zeros(2))


def test_gradients_returned_to_the_user_are_separate_arrays():
    g = mg.Graph()
    p, q = g.param("p", np.ones(2)), g.param("q", np.ones(2))
    L = mg.ops.sum(p + q)
    dp, dq = g.grad(L, wrt=[p, q])
    dp += 1.0  # must not change dq
    np.testing.assert_array_equal(dq, [1.0, 1.0])


def test_the_schedule_is_computed_once_per_outputs(monkeypatch, net):
    g, x, t, W, b, y, L = net
    feed = {x: np.ones((4, 3)), t: np.zeros(4)}
    first = g.grad(L, wrt=[W], feed=feed)[0]
    assert g.schedule(L) is g.schedule("L")

    def no_networkx(*a, **k):
        raise AssertionError("NetworkX was called on the per-run path")

    for name in ("ancestors", "topological_sort", "descendants", "find_cycle"):
        monkeypatch.setattr(nx, name, no_networkx)
    for _ in range(1000):
        again = g.grad(L, wrt=[W], feed=feed)[0]
    np.testing.assert_array_equal(again, first)


def test_one_graph_runs_from_several_threads_at_once(net):
    g, x, t, W, b, y, L = net
    rng = np.random.default_rng(5)
    feeds = [{x: rng.standard_normal((8, 3)), t: rng.standard_normal(8)} for _ in range(8)]
    want = [g.grad(L, wrt=[W, b], feed=f) for f in feeds]
    got = [None] * len(feeds)
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        for _ in range(50):
            for i in range(k, len(feeds), 4):
                got[i] = g.grad(L, wrt=[W, b], feed=feeds[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for w_, g_ in zip(want, got):
        np.testing.assert_array_equal(w_[0], g_[0])
        np.testing.assert_array_equal(w_[1], g_[1])


def test_integer_labels_carry_no_gradient_and_asking_for_one_is_an_error():
    g = mg.Graph()
    z = g.input("z", (2, 3))
    labels = g.input("labels", (2,), dtype="int64")
    L = mg.ops.softmax_cross_entropy(z, labels)
    feed = {z: np.zeros((2, 3)), labels: np.array([0, 2])}
    dz = g.grad(L, wrt=[z], feed=feed)[0]
    np.testing.assert_allclose(dz, (np.full((2, 3), 1 / 3) - np.eye(3)[[0, 2]]) / 2)
    with pytest.raises(
        mg.GraphError, match="node 'labels' has dtype int64: only float values carry gradients"
    ):
        g.grad(L, wrt=[labels], feed=feed)


def test_a_path_through_a_non_differentiable_argument_is_an_error_when_asked_for():
    g = mg.Graph()
    x = g.input("x", (3,))
    L = mg.ops.sum(mg.ops.less(x, 0.5) * 2.0)
    with pytest.raises(
        mg.GraphError,
        match="op 'less' at node 'less_1': argument 0 \\('x'\\) is not "
        "differentiable, and 'x' reaches the loss only through it",
    ):
        g.grad(L, wrt=[x], feed={x: np.zeros(3)})


class _BadOps:
    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op("bad_shape", lambda x: x * 2, vjp=(lambda g, ans, x: np.ones(3),)),
            mg.Op("bad_forward", lambda x: np.log(x) + [1, 2, 3], vjp=(lambda g, ans, x: g,)),
            mg.Op("bad_vjp", lambda x: x * 2, vjp=(lambda g, ans, x: g["no"],)),
        ]


@pytest.fixture
def bad_ops():
    name = mg.plugins.register(_BadOps(), name="bad-ops")
    yield
    mg.plugins.unregister(name)


def test_a_vjp_of_the_wrong_shape_is_an_error_naming_op_node_and_plugin(bad_ops):
    g = mg.Graph()
    x = g.input("x", (2,))
    y = mg.ops.sum(mg.ops.bad_shape(x))
    run = g.forward(y, {x: np.ones(2)})
    with pytest.raises(
        mg.ShapeError,
        match="op 'bad_shape' at node 'bad_shape_1': vjp for argument 0 "
        "\\('x'\\) returned a message of shape \\(3,\\); expected "
        "\\(2,\\).*plugin 'bad-ops'",
    ):
        run.backward(y)


def test_an_op_that_raises_is_reported_with_node_op_and_cause(bad_ops):
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.bad_forward(x)
    with pytest.raises(
        mg.OpError, match="op 'bad_forward' at node 'bad_forward_1': forward raised"
    ) as e:
        g.forward(y, {x: np.ones(2)})
    assert isinstance(e.value.__cause__, ValueError)
    z = mg.ops.bad_vjp(x)
    run = g.forward(z, {x: 1.0})
    with pytest.raises(
        mg.OpError, match="op 'bad_vjp' at node 'bad_vjp_1': vjp for argument 0 \\('x'\\) raised"
    ):
        run.backward(z)


def test_running_while_another_thread_adds_nodes_and_scopes_are_per_thread():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    W = g.param("W", np.eye(3))
    losses = [mg.ops.sum(mg.ops.tanh(x @ W) * float(j)) for j in range(300)]
    stop, errors, names = threading.Event(), [], []

    def build():
        with g.scope("builder"):
            while not stop.is_set():
                names.append(mg.ops.exp(x).name)

    builder = threading.Thread(target=build)
    builder.start()
    try:
        for j, L in enumerate(losses):
            dW = g.grad(L, wrt=[W], feed={"x": np.ones(3)})[0]
            want = j * np.outer(np.ones(3), 1 - np.tanh(np.ones(3)) ** 2)
            if not np.allclose(dW, want):
                errors.append(j)
            probe = mg.ops.negative(x)  # built in this thread: outside the builder's scope
            assert not probe.name.startswith("builder/")
    finally:
        stop.set()
        builder.join()
    assert not errors
    assert names and all(n.startswith("builder/") for n in names)


def test_a_ragged_feed_is_a_feed_error():
    g = mg.Graph()
    x = g.input("x")
    with pytest.raises(mg.FeedError, match="the feed for input 'x' is not an array"):
        g.forward(x * 2.0, {"x": [[1.0, 2.0], [3.0]]})
