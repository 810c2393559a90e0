"""mpgraph-anomaly, installed from plugins/anomaly: the first non-finite value, message or
error signal stops the run, naming the node that produced it."""

import doctest
import threading

import mpgraph_anomaly
import numpy as np
import pytest
from mpgraph_anomaly import AnomalyError, detect_anomaly

import mpgraph as mg


def test_a_nan_in_the_forward_pass_names_the_first_node_not_its_descendants():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    with g.scope("layer"):
        h = mg.ops.log(x - 1.0, name="h")  # NaN for x < 1, Inf for x = 1
        y = mg.ops.exp(h, name="y")  # NaN too, but not first
    with detect_anomaly(), np.errstate(all="ignore"):
        with pytest.raises(AnomalyError) as err:
            g.forward(mg.ops.sum(y), {"x": np.array([2.0, 0.0, 1.0])})
    assert str(err.value).splitlines() == [
        "mpgraph: op 'log' at node 'layer/h': forward value has 1 NaN, 1 Inf (shape (3,), float64)",
        "  input 0 'layer/subtract_1': shape (3,) float64, min -1, max 1",
    ]


def test_a_non_finite_message_names_the_op_whose_vjp_sent_it():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    r = mg.ops.power(x, 0.5, name="root")  # d/dx sqrt(x) is Inf at 0
    L = mg.ops.sum(r, name="L")
    with detect_anomaly(), np.errstate(all="ignore"):
        with pytest.raises(
            AnomalyError,
            match=r"op 'power' at node 'root': vjp for argument 0 \('x'\) "
            r"returned a message with 1 Inf; error signal of 'root': shape \(3,\) "
            r"float64, min 1, max 1\n  input 0 'x': shape \(3,\) float64, min 0, max 4",
        ):
            g.grad(L, wrt=x, feed={"x": np.array([0.0, 1.0, 4.0])})


def test_finite_messages_summing_to_inf_are_caught_at_the_error_signal():
    g = mg.Graph()
    x = g.input("x")
    L = x * 1e308 + x * 1e308  # at x = 1e-10 finite, but two messages of 1e308 reach x
    with detect_anomaly(), np.errstate(all="ignore"):
        with pytest.raises(
            AnomalyError,
            match=r"^mpgraph: node 'x': error signal has 1 Inf \(the sum "
            r"of finite messages from its children\)$",
        ):
            g.grad(L, wrt=x, feed={"x": 1e-10})


def test_without_detection_nans_pass_silently_and_with_it_finite_runs_are_unchanged():
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    L = mg.ops.sum(mg.ops.log(x))
    with np.errstate(all="ignore"):
        assert np.isnan(g.forward(L, {"x": np.array([-1.0, 1.0])})[L])
    with detect_anomaly():
        np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": np.array([2.0, 4.0])}), [0.5, 0.25])


def test_enable_and_disable_for_the_whole_process():
    g = mg.Graph()
    x = g.input("x")
    y = mg.ops.log(x, name="y")
    mpgraph_anomaly.enable()
    try:
        seen = []

        def other_thread():  # process-wide: other threads are checked too
            try:
                with np.errstate(all="ignore"):
                    g.forward(y, {"x": -1.0})
            except AnomalyError as e:
                seen.append(str(e).splitlines()[0])

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert seen == [
            "mpgraph: op 'log' at node 'y': forward value has 1 NaN (shape (), float64)"
        ]
    finally:
        mpgraph_anomaly.disable()
    with np.errstate(all="ignore"):
        assert np.isnan(g.forward(y, {"x": -1.0})[y])


def test_the_documentation_examples_run():
    with np.errstate(all="ignore"):  # the example takes the log of -1 on purpose
        assert doctest.testmod(mpgraph_anomaly).failed == 0


class _Root:
    """sqrt whose vjp declares it reads only its output, so that its input may be freed."""

    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op("root", np.sqrt, (lambda g, ans, x: g / (2 * ans),), lambda s: s, needs=("ans",))
        ]


def test_input_summaries_show_the_values_computed_even_once_freed():
    name = mg.plugins.register(_Root(), name="root")
    try:
        g = mg.Graph()
        x = g.input("x", shape=(2,))
        u = mg.ops.multiply(x, 2.0, name="u")  # freed once root has run: its vjp needs ans only
        L = mg.ops.sum(mg.ops.root(u, name="r"))
        with detect_anomaly(), np.errstate(all="ignore"):
            with pytest.raises(
                AnomalyError,
                match=r"op 'root' at node 'r': vjp for argument 0 "
                r"\('u'\) returned a message with 1 Inf.*\n  input 0 'u': shape "
                r"\(2,\) float64, min 0, max 2$",
            ):
                g.grad(L, wrt=x, feed={"x": np.array([0.0, 1.0])})
    finally:
        mg.plugins.unregister(name)
