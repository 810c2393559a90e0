"""Tools for plugin authors: ``mpgraph plugins``, ``mpgraph check-ops`` and the pytest plugin."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tomllib

import mpgraph as mg
from mpgraph.cli import main
from mpgraph.hooks import manager as registry
from mpgraph.testing import samples

ROOT = Path(__file__).resolve().parents[2]


class _Wrong:
    """An op whose vjp forgets the factor 2."""

    @mg.hookimpl
    def mpgraph_ops(self):
        return [mg.Op("wrong_square", lambda x: x * x, (lambda g, ans, x: g * x,), lambda s: s)]


@pytest.fixture
def wrong():
    name = mg.plugins.register(_Wrong(), name="wrong-square")
    yield name
    mg.plugins.unregister(name)


def test_plugins_lists_plugins_distributions_versions_and_ops(capsys, wrong):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert (
        "conv  [mpgraph-conv 0.1.0]\n"
        "  ops (5): avg_pool2d, conv1d, conv2d, conv_transpose2d, max_pool2d"
    ) in out
    assert "anomaly  [mpgraph-anomaly 0.1.0]\n  ops (0): none" in out
    linalg = next(p for p in mg.plugins.list_plugins() if p.name == "mpgraph.builtin.linalg")
    assert f"mpgraph.builtin.linalg  [built-in]\n  ops ({len(linalg.ops)}): {linalg.ops[0]}," in out
    assert "wrong-square  [registered at run time]\n  ops (1): wrong_square" in out
    n_ops = len(mg.plugins.ops())
    assert out.startswith(f"mpgraph {mg.__version__}: ") and f" plugins, {n_ops} ops" in out


def test_plugins_shows_observers_and_problems(capsys):
    class Watch:
        @mg.hookimpl
        def mpgraph_node_value(self, node):
            pass

    class Clash:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [mg.Op("tanh", np.tanh, (lambda g, ans, x: g,))]

    name = mg.plugins.register(Watch(), name="watch")
    pm = mg.plugins.plugin_manager()
    pm.register(Clash(), name="clash")  # behind the registry's back: a problem to report
    try:
        assert main(["plugins", "--strict"]) == 1
    finally:
        pm.unregister(name="clash")
        mg.plugins.unregister(name)
    out = capsys.readouterr().out
    assert "watch  [registered at run time]\n  observes: mpgraph_node_value" in out
    assert (
        "1 problem:\n  op 'tanh' is defined by both plugin 'mpgraph.builtin.elementwise' "
        "and plugin 'clash'"
    ) in out


def test_plugins_shows_blocked_plugins_and_autoload(capsys, monkeypatch):
    monkeypatch.setenv("MPGRAPH_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("MPGRAPH_BLOCK_PLUGINS", "mpgraph.builtin.linalg")
    mg.plugins.reload()
    try:
        mg.plugins.block("mpgraph.builtin.nn")
        assert main(["plugins"]) == 0
    finally:
        monkeypatch.undo()
        mg.plugins.reload()
    out = capsys.readouterr().out
    assert (
        "entry-point autoload: off (MPGRAPH_DISABLE_PLUGIN_AUTOLOAD); blocked: "
        "mpgraph.builtin.linalg, mpgraph.builtin.nn"
    ) in out
    assert "\nconv  [" not in out and "matmul" not in out and "softmax" not in out
    assert "conv2d" in mg.plugins.ops() and "matmul" in mg.plugins.ops()


def test_check_ops_prints_a_table_and_fails_for_a_wrong_vjp(capsys, wrong):
    assert main(["check-ops", "conv2d", "wrong_square", "tanh"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["op", "plugin", "samples", "result"]
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert rows["conv2d"][1:] == ["conv", "5", "ok"]
    n_tanh = len(samples(mg.ops.tanh.op, np.random.default_rng(0)))
    assert rows["tanh"][1:] == ["mpgraph.builtin.elementwise", str(n_tanh), "ok"]
    assert rows["wrong_square"][1:4] == ["wrong-square", "1", "FAIL"]
    failure = next(line for line in lines if line.startswith("wrong_square"))
    assert (
        "FAIL sample 0 (): AssertionError: Not equal to tolerance rtol=1e-05, atol=1e-07 "
        "mpgraph: op 'wrong_square': vjp for argument 0 differs from central differences"
    ) in failure
    assert lines[-1] == "3 ops checked, 1 failed"


def test_check_ops_order_checks_higher_derivatives_where_the_vjp_is_differentiable(capsys):
    assert main(["check-ops", "tanh", "sign", "softmax", "--order", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines[2:5]] == ["ok", "ok", "ok"]
    assert lines[-1] == "3 ops checked, 0 failed"
    results = mg.testing.check_ops(["tanh", "sign"], order=2)
    assert [r.error for r in results] == [None, None]  # sign: first order only


def test_check_ops_reports_samples_that_raise(capsys):
    def samples(rng):
        raise RuntimeError("no sample today")

    class NoSamples:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [
                mg.Op(
                    "cube_nosamples",
                    lambda x: x**3,
                    (lambda g, ans, x: 3 * g * x * x,),
                    lambda s: s,
                    samples=samples,
                )
            ]

    name = mg.plugins.register(NoSamples(), name="no-samples")
    try:
        assert main(["check-ops", "cube_nosamples"]) == 1
    finally:
        mg.plugins.unregister(name)
    row = capsys.readouterr().out.splitlines()[2]
    assert row.split(None, 3) == [
        "cube_nosamples",
        "no-samples",
        "0",
        "FAIL samples() raised RuntimeError: no sample today",
    ]


def test_strict_mode_makes_the_tools_report_problems_instead_of_a_table(capsys, monkeypatch):
    class Clash:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [mg.Op("tanh", np.tanh, (lambda g, ans, x: g,))]

    monkeypatch.setenv("MPGRAPH_STRICT_PLUGINS", "1")
    mg.plugins.reload()
    pm = mg.plugins.plugin_manager()
    pm.register(Clash(), name="clash")  # behind the registry's back, as a broken install would
    registry._ops = None  # the next reader rebuilds the table, strictly
    try:
        assert main(["plugins"]) == 1
        assert main(["check-ops", "tanh"]) == 2
    finally:
        pm.unregister(name="clash")
        monkeypatch.undo()
        mg.plugins.reload()
    out = capsys.readouterr().out
    assert (
        out.count(
            "mpgraph: plugin problems (those plugins or ops are left out):\n  op 'tanh' "
            "is defined by both plugin 'mpgraph.builtin.elementwise' and plugin 'clash'"
        )
        == 2
    )


def test_check_ops_on_every_op_passes(capsys):
    assert main(["check-ops"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"{len(mg.plugins.ops())} ops checked, 0 failed"


def test_check_ops_names_an_unknown_op(capsys):
    assert main(["check-ops", "conv3d"]) == 2
    assert (
        capsys.readouterr().out.strip()
        == "mpgraph: unknown op 'conv3d' (did you mean 'conv2d', 'conv1d'?)"
    )


def test_mpgraph_declares_its_pytest_plugin():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"mpgraph": "pytest_mpgraph"}
    assert "pytest_mpgraph" in meta["tool"]["setuptools"]["py-modules"]


def test_each_plugin_package_declares_an_mpgraph_entry_point():
    for name, module in (
        ("conv", "mpgraph_conv"),
        ("anomaly", "mpgraph_anomaly"),
        ("clip", "mpgraph_clip"),
    ):
        meta = tomllib.loads((ROOT / "plugins" / name / "pyproject.toml").read_text())
        assert meta["project"]["name"] == f"mpgraph-{name}"
        assert meta["project"]["entry-points"]["mpgraph"] == {name: module}


def test_the_fixture_checks_an_op_in_one_line(tmp_path):
    """A plugin author's test session: mpgraph-conv's own tests, and a test of a wrong op."""
    (tmp_path / "test_author.py").write_text(
        textwrap.dedent("""
        import mpgraph as mg

        class Wrong:
            @mg.hookimpl
            def mpgraph_ops(self):
                return [mg.Op("half_square", lambda x: x * x / 2, (lambda g, ans, x: g * x,),
                              shape=lambda s: s[1:])]

        def test_wrong_shape_rule(mpgraph_check_op):
            mg.plugins.register(Wrong(), name="wrong")
            mpgraph_check_op("half_square")
    """)
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # this tree's conv package, ahead of an installed copy
    path = os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "conv")])
    env = {**os.environ, "PYTHONPATH": path, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "pytest_mpgraph",
            "-p",
            "no:cacheprovider",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_author.py"),
            str(ROOT / "plugins" / "conv" / "tests" / "test_mpgraph_conv.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    out = proc.stdout
    assert "1 failed, 7 passed" in out, out
    assert (
        "case 0 (attrs {}): mpgraph: op 'half_square': shape rule gives (3,), forward gives (2, 3)"
    ) in out, out


def test_the_fixture_checks_derivatives_to_the_order_asked():
    from pytest_mpgraph import check_registered_op

    n = len(samples(mg.ops.softmax.op, np.random.default_rng(0)))
    assert check_registered_op("softmax", order=3) == n
    with pytest.raises(mg.GraphError, match="no derivatives beyond the first; got order=2"):
        check_registered_op("sign", order=2)
