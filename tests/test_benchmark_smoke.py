"""The benchmark suite (examples/benchmark.py) in smoke mode: tiny sizes, nothing timed.

What is checked is that every contender computes the same thing, so that the timings the full
suite prints compare like with like.
"""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

import mpgraph as mg

_path = Path(__file__).resolve().parent.parent / "examples" / "benchmark.py"
_spec = importlib.util.spec_from_file_location("mpgraph_benchmark", _path)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

SMALL = (12, 7, 5, 3)


def _closed_form_mlp(params, x, labels):
    """The MLP's loss and gradients by finite differences of a direct NumPy loss."""

    def loss(ps):
        return bench.hand_forward(ps, x, labels)[0]

    grads = []
    for k, p in enumerate(params):
        gk = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            ps = [q.copy() for q in params]
            ps[k][idx] += 1e-6
            hi = loss(ps)
            ps[k][idx] -= 2e-6
            gk[idx] = (hi - loss(ps)) / 2e-6
        grads.append(gk)
    return grads


def test_hand_written_mlp_step_matches_finite_differences():
    params, x, labels = bench.mlp_data(SMALL, batch=4)
    _, grads = bench.hand_step(params, x, labels)
    for got, want in zip(grads, _closed_form_mlp(params, x, labels)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_mlp_contender_computes_the_hand_written_gradients(dtype):
    params, x, labels = bench.mlp_data(SMALL, batch=4, dtype=dtype)
    loss, want = bench.hand_step(params, x, labels)
    contenders = bench.mlp_contenders(dtype, SMALL, batch=4)
    assert {"numpy (hand)", "mpgraph"} <= set(contenders)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for name, (step, forward) in contenders.items():
        got = step()
        got = got[1] if name == "numpy (hand)" else got
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(float(forward()), loss, rtol=tol, err_msg=name)


def test_mlp_step_gives_fresh_gradients_each_call_and_leaves_the_data_alone():
    params, x, labels = bench.mlp_data(SMALL, batch=4)
    before = [p.copy() for p in params] + [x.copy(), labels.copy()]
    step, _ = bench.mpgraph_mlp(params, x, labels)
    first = step()
    second = step()
    for a, b in zip(first, second):
        assert a is not b
        np.testing.assert_array_equal(a, b)
    for old, new in zip(before, params + [x, labels]):
        np.testing.assert_array_equal(old, new)


def test_chain_gradients_match_the_chain_rule_by_hand():
    steps = 30
    _, want = bench.chain_by_hand(0.3, steps)
    assert abs(want) > 1e-300  # the constant keeps the gradient a normal float
    np.testing.assert_allclose(bench.chain_graph(steps)(), want, rtol=1e-12)
    np.testing.assert_allclose(bench.chain_grad(steps)(), want, rtol=1e-12)
    if bench.torch is not None:
        np.testing.assert_allclose(float(bench.torch_chain(steps)()), want, rtol=1e-12)
    if bench.autograd is not None:
        np.testing.assert_allclose(bench.autograd_chain(steps)(), want, rtol=1e-12)


def test_chain_builds_three_op_nodes_a_step():
    g = mg.Graph()
    y = g.input("y", shape=())
    bench.chain(y, 7)
    assert sum(n.kind == "op" for n in g) == 21


def test_fan_out_gradient_matches_the_closed_form():
    x, cs = bench.fan_data(5, 12)
    want = bench.fan_by_hand(x, cs)
    np.testing.assert_allclose(bench.fan_graph(x, cs)(), want, rtol=1e-12)
    np.testing.assert_allclose(bench.fan_grad(x, cs)(), want, rtol=1e-12)
    value, grad = bench.fan_numpy(x, cs)()
    np.testing.assert_allclose(grad, want, rtol=1e-12)
    np.testing.assert_allclose(value, np.sum(np.sin(np.multiply.outer(cs, x))), rtol=1e-12)


def test_peak_memory_counts_what_a_call_allocates():
    assert bench.peak_memory(lambda: np.ones(1 << 16)) >= 8 << 16


def test_smoke_suite_prints_every_workload():
    rows, goals = bench.run_suite(smoke=True, repeats=1)
    out = io.StringIO()
    bench.print_table(rows, out)
    table = out.getvalue()
    for workload in (
        "mlp step float64",
        "mlp step float32",
        "mlp backward/forward",
        "mlp peak memory",
        "cnn step float64",
        "cnn step float32",
        "chain",
        "graph construction",
        "fan-out",
        "memory of a built chain",
        "scaling",
    ):
        assert workload in table
    assert "mpgraph" in table and "numpy (hand)" in table
    targets = [g[0] for g in goals]
    assert any(t.startswith("graph construction") for t in targets)
    assert any(t.startswith("fan-out") for t in targets)
    if bench.torch is not None:  # the targets against PyTorch need it as a peer
        assert sum(t.startswith("CNN step") for t in targets) == 2
        assert any(t.startswith("mg.grad on the chain") for t in targets)
    assert all(g[3] in ("met", "missed") for g in goals)


def test_hand_written_cnn_step_matches_finite_differences():
    params, x, labels = bench.cnn_data(batch=3, side=12)
    _, grads = bench.hand_cnn_step([p.copy() for p in params], x, labels)
    rng = np.random.default_rng(0)
    for k, p in enumerate(params):
        for flat in rng.choice(p.size, size=min(p.size, 6), replace=False):
            idx = np.unravel_index(flat, p.shape)
            ps = [q.copy() for q in params]
            ps[k][idx] += 1e-6
            hi = bench.hand_cnn_step(ps, x, labels)[0]
            ps[k][idx] -= 2e-6
            lo = bench.hand_cnn_step(ps, x, labels)[0]
            np.testing.assert_allclose(grads[k][idx], (hi - lo) / 2e-6, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_cnn_contender_computes_the_hand_written_gradients(dtype):
    params, x, labels = bench.cnn_data(batch=4, side=12, dtype=dtype)
    _, want = bench.hand_cnn_step([p.copy() for p in params], x, labels)
    contenders = bench.cnn_contenders(dtype, batch=4, side=12)
    assert {"numpy (hand)", "mpgraph"} <= set(contenders)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    for name, step in contenders.items():
        got = step()
        got = got[1] if name == "numpy (hand)" else got
        for g, w in zip(got, want):
            g = np.asarray(g)
            assert g.dtype == dtype, name
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)
