"""``repr(Graph)`` and ``repr(Run)`` say what they hold: nodes by kind, inputs and parameters with
their shapes, outputs; what a run computed and what its backward pass kept."""

import numpy as np

import mpgraph as mg


def _model():
    g = mg.Graph()
    x, t = g.input("x", shape=(None, 3)), g.input("t")
    w, b = g.param("w", np.ones(3)), g.param("b", 0.0)
    y = mg.ops.sigmoid(x @ w + b, name="y")
    L = mg.ops.mean((y - t) ** 2, name="L")
    return g, x, t, w, b, y, L


def test_graph_repr_names_inputs_params_counts_and_outputs():
    g, *_ = _model()
    assert repr(g) == (
        "<Graph: 11 nodes; inputs x (?, 3), t (shape ?); params w (3,), b (); "
        "1 const; 6 ops; outputs L>"
    )
    assert repr(mg.Graph()) == "<Graph: 0 nodes>"


def test_graph_repr_shortens_long_lists():
    g = mg.Graph()
    for k in range(9):
        g.param(f"p{k}", [float(k)])
    text = repr(g)
    assert "p0 (1,)" in text and "p5 (1,)" in text and "p6" not in text and "(9 in all)" in text


def test_run_repr_says_what_was_computed_and_kept():
    g, x, t, w, b, y, L = _model()
    feed = {"x": np.ones((4, 3)), "t": np.zeros(4)}
    run = g.forward(L, feed)
    assert repr(run) == "<Run of L () float64: 11 values; no backward pass yet>"
    run.backward(L, keep_messages=True)
    n_signals = sum(s is not None for s in run.signals)
    assert repr(run) == (
        f"<Run of L () float64: 11 values; backward: {n_signals} error signals, "
        f"{len(run.messages)} messages>"
    )
    run = g.forward([L, y], feed).backward(L, wrt=[w], keep=False)
    assert repr(run) == (
        "<Run of L () float64, y (4,) float64: 11 values; backward: 1 error "
        "signal (the others freed)>"
    )
