"""examples/gpu_benchmark.py on this machine: no GPU, so its check path runs, and says so."""

import importlib.util
from pathlib import Path

import numpy as np

_path = Path(__file__).resolve().parents[2] / "examples" / "gpu_benchmark.py"
_spec = importlib.util.spec_from_file_location("mpgraph_gpu_benchmark", _path)
gpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu)


def test_hand_written_step_matches_finite_differences():
    params, x, labels = gpu.mlp_data((5, 4, 3), batch=4, dtype=np.float64)
    params = [p + 0.1 for p in params]  # nonzero biases
    onehot = np.eye(3)[labels]
    _, grads = gpu.hand_step(params, x, onehot)
    for k, p in enumerate(params):
        for idx in np.ndindex(p.shape):
            ps = [q.copy() for q in params]
            ps[k][idx] += 1e-6
            hi = gpu.hand_step(ps, x, onehot)[0]
            ps[k][idx] -= 2e-6
            lo = gpu.hand_step(ps, x, onehot)[0]
            np.testing.assert_allclose(grads[k][idx], (hi - lo) / 2e-6, rtol=1e-6, atol=1e-9)


def test_the_script_says_whether_a_gpu_is_there_and_runs_its_check_path():
    lines = gpu.main(["--check"])
    cupy, status = gpu.gpu_status()
    assert lines[0] == (f"GPU: {status}" if cupy is not None else f"no GPU: {status}")
    assert "check path on numpy: mpgraph's gradients equal hand-written ones" in lines
    assert "check path on dask: mpgraph's gradients equal hand-written ones" in lines
    if cupy is None:
        assert lines[-1].startswith("no GPU figures from this machine")
