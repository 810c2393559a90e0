"""The op contract: ops from a plugin class, eager and graph calls, and registration checks."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import check_op


class Cube:
    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op("cube", lambda x: x**3, vjp=(lambda g, ans, x: g * 3 * x**2,), shape=lambda s: s)
        ]


class Scale:
    """An op with an attribute, and no shape rule (the shape is found by running forward)."""

    @mg.hookimpl
    def mpgraph_ops(self):
        def scale(x, factor=2.0):
            """factor * x.  d/dx = factor."""
            return x * factor

        return [mg.Op("scale", scale, vjp=(lambda g, ans, x, factor=2.0: g * factor,))]


@pytest.fixture
def registered():
    names = [mg.plugins.register(Cube(), name="cube"), mg.plugins.register(Scale(), name="scale")]
    yield
    for n in names:
        mg.plugins.unregister(n)


def test_a_plugin_op_is_callable_eagerly_and_on_nodes(registered):
    assert mg.ops.cube(2.0) == 8.0
    np.testing.assert_array_equal(mg.ops.scale(np.ones(2), factor=3.0), [3.0, 3.0])
    g = mg.Graph()
    x = g.input("x", (2,))
    y = mg.ops.scale(mg.ops.cube(x), 0.5)
    assert y.op.name == "scale" and y.attrs == {"factor": 0.5} and y.shape == (2,)
    run = g.forward(y, {x: np.array([1.0, 2.0])})
    np.testing.assert_array_equal(run[y], [0.5, 4.0])
    np.testing.assert_array_equal(run.backward(y, seed=np.ones(2)).grad(x), [1.5, 6.0])
    check_op("cube", [np.array([0.5, -1.5])])
    check_op("scale", [np.array([0.5, -1.5])], {"factor": -3.0})


def test_unknown_attribute_and_missing_attribute_are_errors(registered):
    g = mg.Graph()
    x = g.input("x")
    with pytest.raises(
        TypeError, match="op 'scale' has no attribute 'fator' \\(it takes factor\\)"
    ):
        mg.ops.scale(x, fator=2.0)
    with pytest.raises(TypeError, match="op 'reshape' needs the attribute shape"):
        mg.ops.reshape(x)


def test_two_plugins_defining_one_name_are_refused_naming_both(registered):
    with pytest.raises(
        mg.PluginError, match="op 'cube' is defined by both plugin 'cube' and plugin 'cube-again'"
    ):
        mg.plugins.register(Cube(), name="cube-again")
    assert mg.ops.cube(3.0) == 27.0  # the first stays


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: mg.Op("", lambda x: x, vjp=(None,)), "an op definition has no name"),
        (lambda: mg.Op("f", 3, vjp=(None,)), "op 'f': forward is not callable"),
        (
            lambda: mg.Op("f", lambda x: x, vjp=lambda g, ans, x: g),
            "vjp must be a tuple with one function",
        ),
        (
            lambda: mg.Op("f", lambda x: x, vjp=(lambda g, ans, x: g, lambda g, ans, x: g)),
            "forward takes 1 positional argument\\(s\\) \\(x\\) but vjp has 2 entries",
        ),
        (
            lambda: mg.Op("f", lambda x, y: x, vjp=(lambda g, x: g, None)),
            "vjp entry 0 must accept \\(g, ans, x, y\\)",
        ),
        (lambda: mg.Op("f", lambda x: x, vjp=("no",)), "vjp entry 0 is not callable"),
    ],
)
def test_malformed_definitions_are_refused(make, message):
    with pytest.raises(mg.PluginError, match=message):
        make()


def test_a_plugin_with_a_malformed_op_is_not_registered():
    class Broken:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [mg.Op("broken", lambda x: x, vjp=(lambda g: g,))]

    with pytest.raises(
        mg.PluginError, match="(?s)plugin .broken. was not registered.*vjp entry 0 must accept"
    ):
        mg.plugins.register(Broken(), name="broken")
    assert not hasattr(mg.ops, "broken")


def test_builtin_ops_come_through_the_same_hook():
    pm = mg.plugins.plugin_manager()
    providers = {impl.plugin_name for impl in pm.hook.mpgraph_ops.get_hookimpls()}
    assert {"mpgraph.builtin.elementwise", "mpgraph.builtin.nn"} <= providers
    assert mg.ops.tanh.op.plugin == "mpgraph.builtin.elementwise"


def test_binary_ops_broadcast_and_sum_messages_back_to_each_shape():
    g = mg.Graph()
    a, b = g.input("a", (4, 1)), g.input("b", (3,))
    L = mg.ops.sum((a * b) ** 2)
    av, bv = np.arange(4.0).reshape(4, 1), np.array([1.0, -2.0, 0.5])
    da, db = g.grad(L, wrt=[a, b], feed={a: av, b: bv})
    np.testing.assert_allclose(da, (2 * av * bv**2).sum(1, keepdims=True))
    np.testing.assert_allclose(db, (2 * av**2 * bv).sum(0))


def test_registering_a_blocked_plugin_names_it():
    mg.plugins.block("blocked-cube")
    with pytest.raises(
        mg.PluginError, match="plugin 'blocked-cube' is blocked and was not registered"
    ):
        mg.plugins.register(Cube(), name="blocked-cube")
