"""The notebooks of docs/notebooks run headless, top to bottom, in a fresh Jupyter kernel."""

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


def test_the_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == ["digits_training.ipynb", "lee_backprop.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    # the kernel is a child process: it imports this checkout's mpgraph, as the tests do
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    if path.stem == "lee_backprop":  # forward, three backward steps, backward
        assert len(svgs) == 5
        text = "".join(o.get("text", "") for o in outputs)
        assert "step 1 of" in text and "layer1/add_1" in text
    else:  # the learning curves and the trained graph
        assert len(svgs) == 1 and any("image/png" in o.get("data", {}) for o in outputs)
