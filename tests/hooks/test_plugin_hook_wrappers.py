"""Hook wrappers (``@mg.hookimpl(wrapper=True)``) around the observer and message hooks.

pluggy's semantics: a wrapper runs up to its ``yield`` before the other implementations, gets
their outcome from the ``yield``, and what it returns is the outcome.
"""

from __future__ import annotations

import numpy as np
import pytest

import mpgraph as mg


def _graph():
    g = mg.Graph()
    x = g.input("x")
    w = g.param("w", 3.0)
    L = mg.ops.multiply(w, x, name="L")
    return g, x, w, L


class Halve:
    @mg.hookimpl
    def mpgraph_message(self, message):
        return message / 2


class Around:
    def __init__(self):
        self.seen = []

    @mg.hookimpl(wrapper=True)
    def mpgraph_message(self, child, parent, message):
        self.seen.append(("before", parent.name, float(message)))
        out = yield
        self.seen.append(("after", parent.name, float(out)))
        return out * 10


def test_a_message_wrapper_sees_the_relayed_message_and_its_return_is_the_message():
    g, x, w, L = _graph()
    around = Around()
    with mg.plugins.enabled(Halve(), around):
        dx, dw = g.grad(L, wrt=[x, w], feed={"x": 2.0})
    # dL/dx = w = 3, halved by the plain implementation, then times 10 by the wrapper
    assert isinstance(dx, np.ndarray) and float(dx) == pytest.approx(15.0)
    assert float(dw) == pytest.approx(10.0)  # dL/dw = x = 2 -> 1 -> 10
    assert ("before", "x", 3.0) in around.seen and ("after", "x", 1.5) in around.seen


def test_a_wrapper_that_returns_nothing_for_a_message_is_an_error_naming_it():
    class Forgetful:
        @mg.hookimpl(wrapper=True)
        def mpgraph_message(self, message):
            yield

    g, x, w, L = _graph()
    with mg.plugins.enabled(Forgetful()):
        with pytest.raises(mg.PluginError, match="returned None from 'message'"):
            g.grad(L, wrt=[x], feed={"x": 2.0})


def test_a_wrapper_sees_an_implementations_exception():
    class Broken:
        @mg.hookimpl
        def mpgraph_error_signal(self, node):
            raise RuntimeError("broken observer")

    class Guard:
        def __init__(self):
            self.caught = []

        @mg.hookimpl(wrapper=True)
        def mpgraph_error_signal(self, node):
            try:
                return (yield)
            except RuntimeError as e:
                self.caught.append((node.name, str(e)))
                return None

    g, x, w, L = _graph()
    guard = Guard()
    with mg.plugins.enabled(Broken(), guard):
        g.forward(L, {"x": 2.0}).backward(L)
    assert sorted(name for name, _ in guard.caught) == ["L", "w", "x"]  # every error signal
    assert all(msg == "broken observer" for _, msg in guard.caught)


def test_wrappers_combine_with_plugins_enabled_for_a_block():
    around = Around()
    name = mg.plugins.register(around, name="around")
    try:
        g, x, w, L = _graph()
        with mg.plugins.enabled(Halve()):
            (dx,) = g.grad(L, wrt=[x], feed={"x": 2.0})
    finally:
        mg.plugins.unregister(name)
    assert float(dx) == pytest.approx(15.0)


def test_an_old_style_hookwrapper_is_refused_with_the_new_style_named():
    class Old:
        @mg.hookimpl(hookwrapper=True)
        def mpgraph_node_value(self, node):
            yield

    g, x, w, L = _graph()
    with mg.plugins.enabled(Old()):
        with pytest.raises(mg.PluginError, match=r"wrapper=True"):
            g.forward(L, {"x": 2.0})
