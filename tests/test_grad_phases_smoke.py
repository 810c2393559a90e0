"""examples/grad_phases.py at a tiny size: its phases compute what mg.grad computes."""

import importlib.util
from pathlib import Path

import numpy as np

_path = Path(__file__).resolve().parent.parent / "examples" / "grad_phases.py"
_spec = importlib.util.spec_from_file_location("mpgraph_grad_phases", _path)
phases_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phases_script)


def _chain_derivative_by_hand(y: float, steps: int) -> float:
    """d/dy of ``steps`` times ``y = tanh(a y + b)``, by the chain rule in plain floats."""
    a, b = phases_script.CHAIN_A, phases_script.CHAIN_B
    dy = 1.0
    for _ in range(steps):
        y = float(np.tanh(a * y + b))
        dy *= a * (1.0 - y * y)
    return dy


def test_the_phases_and_mg_grad_give_the_chain_rule_derivative():
    times, by_phases, by_grad = phases_script.phases(steps=7, repeats=2)
    want = _chain_derivative_by_hand(0.3, 7)
    np.testing.assert_allclose(by_phases, want, rtol=1e-12)
    np.testing.assert_allclose(by_grad, want, rtol=1e-12)
    assert set(times) == {"build", "schedule", "backward plan", "run", "mg.grad"}
    assert all(len(ts) == 2 for ts in times.values())
