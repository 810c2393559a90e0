"""Observer hooks: enabled for a block or for the process, thread-safe, free when unused."""

import threading

import numpy as np
import pluggy
import pytest

import mpgraph as mg
from mpgraph.hooks import manager as registry


class Recorder:
    """Records every hook call, as (hook, node name) pairs."""

    def __init__(self):
        self.calls = []

    @mg.hookimpl
    def mpgraph_node_value(self, node, value):
        self.calls.append(("value", node.name))

    @mg.hookimpl
    def mpgraph_message(self, parent, child, argnum, message):
        self.calls.append(("message", f"{child.name}->{parent.name}/{argnum}"))

    @mg.hookimpl
    def mpgraph_error_signal(self, node, signal):
        self.calls.append(("signal", node.name))


def small_graph():
    g = mg.Graph()
    x = g.input("x")
    w = g.param("w", 2.0)
    y = mg.ops.multiply(w, x, name="y")
    L = mg.ops.multiply(y, y, name="L")
    return g, x, w, L


def test_installed_plugins_enable_no_observer_until_asked():
    # mpgraph-anomaly and mpgraph-clip are installed, yet no run pays for them
    assert {"anomaly", "clip"} <= {p.name for p in mg.plugins.list_plugins()}
    assert registry.observers() == (None, None, None)


def test_unused_hooks_are_never_called(monkeypatch):
    calls = []
    for cls in (pluggy.HookCaller, registry.Observer):
        original = cls.__call__

        def counting(self, *args, _original=original, **kwargs):
            calls.append(type(self).__name__)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", counting)
    g, x, w, L = small_graph()
    g.forward(L, {"x": 3.0}).backward(L)
    g.grad(L, feed={"x": 3.0})
    assert calls == []
    rec = Recorder()
    with mg.plugins.enabled(rec):
        g.forward(L, {"x": 3.0}).backward(L)
    # 4 values and 4 error signals through the caller; the 4 messages go through each
    # implementation in turn
    assert len(calls) == 8 and len(rec.calls) == 12


def test_a_hook_wrapper_keeps_pluggys_semantics():
    class Wrapper:
        def __init__(self):
            self.seen = []

        @mg.hookimpl(wrapper=True)
        def mpgraph_node_value(self, node):
            self.seen.append(node.name)
            return (yield)

    rec, wrapper = Recorder(), Wrapper()
    names = [mg.plugins.register(rec, name="rec"), mg.plugins.register(wrapper, name="wrapper")]
    try:
        g, x, w, L = small_graph()
        g.forward(L, {"x": 3.0})
    finally:
        for name in names:
            mg.plugins.unregister(name)
    assert wrapper.seen == ["x", "w", "y", "L"]
    assert [c for c in rec.calls if c[0] == "value"] == [("value", n) for n in wrapper.seen]


def test_every_hook_sees_every_node_and_edge_in_order():
    g, x, w, L = small_graph()
    rec = Recorder()
    with mg.plugins.enabled(rec):
        run = g.forward(L, {"x": 3.0})
    run.backward(L)  # after the block: the run keeps the observers it started with
    assert rec.calls == [
        ("value", "x"),
        ("value", "w"),
        ("value", "y"),
        ("value", "L"),
        ("signal", "L"),
        ("message", "L->y/0"),
        ("message", "L->y/1"),
        ("signal", "y"),
        ("message", "y->w/0"),
        ("message", "y->x/1"),
        ("signal", "x"),
        ("signal", "w"),
    ]  # sources last, once their signals are complete
    rec.calls.clear()
    g.forward(L, {"x": 3.0}).backward(L)
    assert rec.calls == []


def test_blocks_nest_and_process_wide_plugins_combine_with_them():
    g, x, w, L = small_graph()
    outer, inner, everywhere = Recorder(), Recorder(), Recorder()
    name = mg.plugins.register(everywhere, name="everywhere")
    try:
        with mg.plugins.enabled(outer):
            with mg.plugins.enabled(inner):
                g.forward(L, {"x": 1.0})
            g.forward(L, {"x": 1.0})
    finally:
        mg.plugins.unregister(name)
    g.forward(L, {"x": 1.0})
    assert len(inner.calls) == 4 and len(outer.calls) == 8 and len(everywhere.calls) == 8


def test_a_replaced_message_flows_upstream_and_a_wrong_shape_is_refused():
    class Double:
        @mg.hookimpl
        def mpgraph_message(self, child, message):
            return 2 * message if child.name == "y" else None

    g, x, w, L = small_graph()
    with mg.plugins.enabled(Double()):
        dw = g.grad(L, wrt=w, feed={"x": 3.0})
    assert float(dw) == 2 * (2 * 2.0 * 3.0 * 3.0)  # dL/dw = 2 w x^2, doubled on y -> w

    class Reshape:
        @mg.hookimpl
        def mpgraph_message(self, message):
            return np.zeros(3)

    with mg.plugins.enabled(Reshape()):
        with pytest.raises(mg.ShapeError, match="replaced the message from 'L' to 'y'"):
            g.grad(L, wrt=w, feed={"x": 3.0})


def test_only_observers_can_be_enabled_for_a_block():
    class Ops:
        @mg.hookimpl
        def mpgraph_ops(self):
            return []

    with pytest.raises(mg.PluginError, match="only observer hooks"):
        with mg.plugins.enabled(Ops()):
            pass
    with pytest.raises(mg.PluginError, match="implements no hook"):
        with mg.plugins.enabled(object()):
            pass


def test_a_block_enables_observers_in_its_own_thread_only():
    g, x, w, L = small_graph()
    rec = Recorder()
    inside, done = threading.Event(), threading.Event()
    other_calls = []

    def other_thread():
        inside.wait()
        rec_before = len(rec.calls)
        for _ in range(20):
            g.forward(L, {"x": 2.0}).backward(L)
        other_calls.append(len(rec.calls) - rec_before)
        done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with mg.plugins.enabled(rec):
        inside.set()
        done.wait()
        g.forward(L, {"x": 2.0})
    t.join()
    assert other_calls == [0]
    assert len(rec.calls) == 4


def test_registration_is_thread_safe():
    errors = []
    barrier = threading.Barrier(8)
    baseline = set(registry.ops())

    def churn(k):
        class Op:
            @mg.hookimpl
            def mpgraph_ops(self):
                return [
                    mg.Op(f"times_{k}", lambda x: k * x, (lambda g, ans, x: k * g,), lambda s: s)
                ]

        try:
            barrier.wait()
            for _ in range(25):
                name = mg.plugins.register(Op(), name=f"churn-{k}")
                assert float(getattr(mg.ops, f"times_{k}")(np.float64(2.0))) == 2.0 * k
                mg.plugins.unregister(name)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    def compute():
        try:
            barrier.wait()
            for _ in range(50):
                assert float(mg.grad(lambda x: mg.ops.tanh(x) * 2.0)(0.0)) == 2.0
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=churn, args=(k,)) for k in range(1, 6)]
    threads += [threading.Thread(target=compute) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(registry.ops()) == baseline
