"""Plugin discovery, validation and failure, with real distributions.

``installed`` writes a distribution (a module and its ``*.dist-info`` with an ``mpgraph`` entry
point) into a temporary directory on ``sys.path``, so that ``importlib.metadata`` and pluggy
find it exactly as they find a pip-installed package; ``mg.plugins.reload()`` then rebuilds the
plugin manager from the built-ins and every entry point.
"""

import importlib
import sys
import textwrap
import warnings

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.hooks import manager as registry


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(dist, module_source, name=...)`` installs a distribution for this test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = []

    def install(dist: str, source: str, name: str | None = None, version: str = "0.1") -> str:
        module = f"{dist.replace('-', '_')}_plugin"
        name = name or dist
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[mpgraph]\n{name} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()
        return name

    yield install
    monkeypatch.undo()
    for module in modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mg.plugins.reload()  # as the environment says, without this test's distributions


def reload(**kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = mg.plugins.reload(**kwargs)
    return found, [str(w.message) for w in caught]


GOOD = """
import numpy as np, mpgraph as mg

@mg.hookimpl
def mpgraph_ops():
    return [mg.Op("twice", lambda x: 2 * x, (lambda g, ans, x: 2 * g,), lambda s: s)]
"""

BROKEN_IMPORT = """
import numpy as np
raise ImportError("this plugin needs a library that is not installed")
"""


def test_an_installed_distribution_is_found_and_named(installed):
    installed("mpgraph-twice", GOOD, name="twice")
    found, _ = reload()
    assert found == []
    assert mg.ops.twice.op.plugin == "twice"
    assert mg.plugins.distribution("twice") == ("mpgraph-twice", "0.1")
    info = next(p for p in mg.plugins.list_plugins() if p.name == "twice")
    assert (info.distribution, info.version, info.ops) == ("mpgraph-twice", "0.1", ["twice"])


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_stops_nothing(installed):
    installed("mpgraph-twice", GOOD, name="twice")
    installed("mpgraph-needs-more", BROKEN_IMPORT, name="needs-more")
    found, warned = reload()
    assert len(found) == 1 and len(warned) == 1
    assert (
        "plugin 'needs-more' (distribution mpgraph-needs-more 0.1) failed to load "
        "'mpgraph_needs_more_plugin': ImportError: this plugin needs a library"
    ) in warned[0]
    assert float(mg.ops.twice(np.float64(3.0))) == 6.0  # the other plugin works
    assert float(mg.grad(lambda x: mg.ops.tanh(x))(0.0)) == 1.0  # and the built-ins
    assert mg.plugins.problems() == found


def test_strict_mode_raises_once_with_every_problem(installed, monkeypatch):
    installed("mpgraph-needs-more", BROKEN_IMPORT, name="needs-more")
    installed(
        "mpgraph-clash",
        """
        import numpy as np, mpgraph as mg
        @mg.hookimpl
        def mpgraph_ops():
            return [mg.Op("tanh", np.tanh, (lambda g, ans, x: g,)), "not an op"]
    """,
        name="clash",
    )
    monkeypatch.setenv("MPGRAPH_STRICT_PLUGINS", "1")
    with pytest.raises(mg.PluginError) as err:
        mg.plugins.reload()
    text = str(err.value)
    assert "plugin 'needs-more' (distribution mpgraph-needs-more 0.1) failed to load" in text
    assert (
        "op 'tanh' is defined by both plugin 'mpgraph.builtin.elementwise' and "
        "plugin 'clash' (distribution mpgraph-clash 0.1)"
    ) in text
    assert (
        "plugin 'clash' (distribution mpgraph-clash 0.1): mpgraph_ops() returned 'not an op'"
        in text
    )
    with pytest.raises(mg.PluginError, match="failed to load"):  # until the problems are fixed
        registry.get_op("tanh")


def test_malformed_op_definitions_are_refused_naming_distribution_and_op(installed):
    installed(
        "mpgraph-malformed",
        """
        import numpy as np, mpgraph as mg
        @mg.hookimpl
        def mpgraph_ops():
            return [mg.Op("noargs", lambda x: x, vjp=())]
    """,
        name="malformed",
    )
    installed(
        "mpgraph-arity",
        """
        import numpy as np, mpgraph as mg
        @mg.hookimpl
        def mpgraph_ops():
            return [mg.Op("pairwise", lambda x: x, vjp=(lambda g, ans, x: g, lambda g, ans, x: g))]
    """,
        name="arity",
    )
    installed(
        "mpgraph-novjp",
        """
        import numpy as np, mpgraph as mg
        OPS = [mg.Op("novjp", lambda x: x)]
    """,
        name="novjp",
    )
    found, warned = reload()
    assert len(found) == 3 and len(warned) == 1  # reported together, in one warning
    text = "\n".join(found)
    assert (
        "plugin 'malformed' (distribution mpgraph-malformed 0.1): op 'noargs' has no array "
        "argument: its vjp is empty"
    ) in text
    assert (
        "plugin 'arity' (distribution mpgraph-arity 0.1): mpgraph_ops() raised PluginError: "
        "mpgraph: op 'pairwise': forward takes 1 positional argument(s) (x) but vjp has 2 "
        "entries"
    ) in text
    assert "plugin 'novjp' (distribution mpgraph-novjp 0.1) failed to load" in text
    assert "missing 1 required positional argument: 'vjp'" in text
    for name in ("noargs", "pairwise", "novjp"):
        assert name not in registry.ops()


def test_autoload_can_be_turned_off_by_environment(installed, monkeypatch):
    installed("mpgraph-twice", GOOD, name="twice")
    monkeypatch.setenv("MPGRAPH_DISABLE_PLUGIN_AUTOLOAD", "1")
    reload()
    assert "twice" not in registry.ops() and "conv2d" not in registry.ops()
    assert "tanh" in registry.ops()  # built-ins are not entry points


@pytest.mark.parametrize("blocked", ["twice", "mpgraph-twice"])
def test_a_plugin_is_blocked_by_plugin_or_distribution_name(installed, monkeypatch, blocked):
    installed("mpgraph-twice", GOOD, name="twice")
    installed("mpgraph-needs-more", BROKEN_IMPORT, name="needs-more")
    monkeypatch.setenv("MPGRAPH_BLOCK_PLUGINS", f"{blocked}, needs-more")
    found, warned = reload()
    assert found == [] and warned == []  # the broken one is not even imported
    assert "twice" not in registry.ops()


def test_block_at_run_time_unregisters_and_refuses(installed):
    installed("mpgraph-twice", GOOD, name="twice")
    reload()
    plugin = registry.plugin_manager().get_plugin("twice")
    mg.plugins.block("twice")
    with pytest.raises(mg.GraphError, match="unknown op 'twice'"):
        registry.get_op("twice")
    with pytest.raises(mg.PluginError, match="blocked"):
        mg.plugins.register(plugin, name="twice")


def test_a_vjp_of_the_wrong_shape_names_the_distribution_at_first_backward(installed):
    installed(
        "mpgraph-badvjp",
        """
        import numpy as np, mpgraph as mg
        @mg.hookimpl
        def mpgraph_ops():
            return [mg.Op("rowsum", lambda x: x.sum(axis=1), (lambda g, ans, x: g,),
                          lambda s: s[:1]),
                    mg.Op("both", lambda x, y: x * y,
                          (lambda g, ans, x, y: (g * y, g * x), lambda g, ans, x, y: g * x),
                          lambda s, t: s)]
    """,
        name="badvjp",
    )
    assert reload()[0] == []  # nothing wrong is visible at registration
    g = mg.Graph()
    x = g.input("x", shape=(2, 3))
    L = mg.ops.sum(mg.ops.rowsum(x, name="rows"))
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'rowsum' at node 'rows': vjp for argument 0 \('x'\) "
        r"returned a message of shape \(2,\); expected \(2, 3\).*"
        r"plugin 'badvjp' \(distribution mpgraph-badvjp 0.1\)",
    ):
        g.grad(L, wrt=x, feed={"x": np.ones((2, 3))})
    y = g.input("y", shape=(3,))
    M = mg.ops.sum(mg.ops.both(y, y, name="b"))
    with pytest.raises(
        mg.ShapeError,
        match=r"op 'both' at node 'b': vjp for argument 0 \('y'\) "
        r"returned 2 messages in a tuple; each vjp entry returns the one message",
    ):
        g.grad(M, wrt=y, feed={"y": np.ones(3)})


def test_a_plugin_op_raising_in_forward_or_vjp_is_named_with_its_exception_chained(installed):
    installed(
        "mpgraph-fragile",
        """
        import numpy as np, mpgraph as mg
        def vjp(g, ans, x):
            raise ArithmeticError("vjp gave up")
        def forward(x):
            if np.any(x > 1):
                raise OverflowError("too big for this op")
            return x
        @mg.hookimpl
        def mpgraph_ops():
            return [mg.Op("fragile", forward, (vjp,), lambda s: s)]
    """,
        name="fragile",
    )
    reload()
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    L = mg.ops.sum(mg.ops.fragile(x, name="f"))
    with pytest.raises(
        mg.OpError,
        match=r"op 'fragile' at node 'f': forward raised OverflowError: "
        r"too big.*plugin 'fragile' \(distribution mpgraph-fragile 0.1\)",
    ) as err:
        g.forward(L, {"x": np.array([0.5, 2.0])})
    assert isinstance(err.value.__cause__, OverflowError)
    with pytest.raises(
        mg.OpError,
        match=r"op 'fragile' at node 'f': vjp for argument 0 \('x'\) "
        r"raised ArithmeticError: vjp gave up.*mpgraph-fragile 0.1",
    ) as err:
        g.grad(L, wrt=x, feed={"x": np.array([0.5, 0.2])})
    assert isinstance(err.value.__cause__, ArithmeticError)


def test_an_installed_plugin_op_raising_in_forward():
    g = mg.Graph()
    x = g.input("x")  # shape unknown: no shape rule runs
    y = mg.ops.conv2d(x, np.ones((2, 3, 2, 2)), name="conv")
    with pytest.raises(
        mg.OpError,
        match=r"op 'conv2d' at node 'conv': forward raised ValueError"
        r".*plugin 'conv' \(distribution mpgraph-conv ",
    ) as err:
        g.forward(y, {"x": np.ones((1, 4, 5, 5))})  # 4 channels, the kernel wants 3
    assert isinstance(err.value.__cause__, ValueError)


# -- what an op declares ----------------------------------------------------------------------


class _Scale:
    """scale(x, s) = x * s, with s declared non-differentiable."""

    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op(
                "scale_by", lambda x, s: x * s, (lambda g, ans, x, s: g * s, None), lambda a, b: a
            )
        ]


@pytest.fixture
def scale():
    name = mg.plugins.register(_Scale(), name="scale-by")
    yield
    mg.plugins.unregister(name)


def test_asking_for_the_gradient_of_a_non_differentiable_input_names_the_op(scale):
    g = mg.Graph()
    x, s = g.input("x", shape=(2,)), g.input("s", shape=(2,))
    L = mg.ops.sum(mg.ops.scale_by(x, s, name="scaled"))
    feed = {"x": np.ones(2), "s": np.array([2.0, 3.0])}
    np.testing.assert_allclose(g.grad(L, wrt=x, feed=feed), [2.0, 3.0])
    with pytest.raises(
        mg.GraphError,
        match=r"op 'scale_by' at node 'scaled': argument 1 \('s'\) "
        "is not differentiable",
    ):
        g.grad(L, wrt=s, feed=feed)
    with pytest.raises(mg.GraphError, match="op 'scale_by': argument 1 is not differentiable"):
        mg.ops.scale_by.op.apply_vjp(1, np.ones(2), np.ones(2), np.ones(2), np.ones(2))


def test_a_differentiable_vjp_gives_second_derivatives_on_nodes():
    # d/dx of the message tanh sends, g (1 - tanh^2 x) with g = 1: -2 tanh x (1 - tanh^2 x)
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    dx = mg.ops.tanh.op.apply_vjp(0, np.ones(3), mg.ops.tanh(x), x)
    at = np.array([-1.0, 0.3, 2.0])
    got = g.grad(mg.ops.sum(dx), wrt=x, feed={"x": at})
    t = np.tanh(at)
    np.testing.assert_allclose(got, -2 * t * (1 - t**2))


def test_a_vjp_not_declared_differentiable_is_refused_on_nodes(scale):
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    s = np.array([1.0, 2.0, 3.0])
    y = mg.ops.scale_by(x, s)
    assert not mg.ops.scale_by.op.differentiable_vjp
    with pytest.raises(mg.GraphError, match="op 'scale_by' does not declare a differentiable vjp"):
        mg.ops.scale_by.op.apply_vjp(0, np.ones(3), y, x, s)
    # on arrays the same call is the ordinary message
    np.testing.assert_allclose(
        mg.ops.scale_by.op.apply_vjp(0, np.full(3, 2.0), None, np.ones(3), s), [2.0, 4.0, 6.0]
    )
