"""The package's layers (docs/architecture.md) and its style are rules the build checks.

import-linter reads the contracts from pyproject.toml; these tests run it on the package as it is, on
a copy with a back-arrow planted (to show the check can fail), and look for import cycles with
NetworkX on grimp's import graph.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_HOOK = "mpgraph.drawing.jupyter"


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layer_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, back_arrow, contract",
    [
        ("errors.py", "from .engine import graph as _graph\n", "mpgraph's layers"),
        ("contract/op.py", "from ..hooks import manager as _manager\n", "mpgraph's layers"),
        ("builtin/shape.py", "from ..engine import node as _node\n", "built-in ops use"),
    ],
)
def test_a_back_arrow_breaks_the_build(tmp_path, module, back_arrow, contract):
    shutil.copytree(
        ROOT / "mpgraph", tmp_path / "mpgraph", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "mpgraph" / module
    planted.write_text(planted.read_text() + back_arrow)

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
    assert module.replace("/", ".").removesuffix(".py") in result.stdout


def test_no_import_cycle_but_the_jupyter_hook():
    imports = grimp.build_graph("mpgraph", exclude_type_checking_imports=True)
    edges = nx.DiGraph()
    for module in imports.modules:
        for imported in imports.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    assert list(nx.simple_cycles(edges)) != []  # the display hook closes cycles...
    edges.remove_node(JUPYTER_HOOK)
    assert list(nx.simple_cycles(edges)) == []  # ...and is the only one that does


def test_import_mpgraph_needs_no_drawing_or_optional_package():
    code = (
        "import sys, mpgraph; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('graphviz', 'tqdm', 'matplotlib', 'sklearn', 'ray', 'torch') "
        "or m.startswith('mpgraph.drawing')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff_lint_and_format_pass(command):
    """The style the project keeps (pyproject's [tool.ruff]: lint rules, line length 100)."""
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), *command], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
