"""The mpgraph command line: its help, its version, and strict mode from the environment."""

import pytest

import mpgraph as mg
from mpgraph.cli import main


def test_help_describes_each_subcommand_once(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "draw a saved graph" in out and "list the plugins" in out and "finite differences" in out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"mpgraph {mg.__version__}"


@pytest.mark.filterwarnings("ignore:mpgraph. plugin problems")
def test_strict_mode_from_the_environment_fails_mpgraph_plugins(monkeypatch, capsys):
    class Broken:
        @mg.hookimpl
        def mpgraph_ops(self):
            raise RuntimeError("cannot build my ops")

    pm = mg.plugins.plugin_manager()
    pm.register(
        Broken(), name="broken-at-build"
    )  # behind the registry's back, as a bad entry point
    try:
        assert main(["plugins"]) == 0  # reported, not fatal
        assert "cannot build my ops" in capsys.readouterr().out
        monkeypatch.setenv("MPGRAPH_STRICT_PLUGINS", "1")
        assert main(["plugins"]) == 1
    finally:
        pm.unregister(name="broken-at-build")
        mg.plugins.reload()
