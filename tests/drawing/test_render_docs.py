"""docs/rendering.md: its examples run as written, and its pictures are what
examples/render_lectures.py writes."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_rendering_page_examples_run(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "rendering.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the examples write files
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/rendering.md:example", "exec"), namespace)
    assert (tmp_path / "backprop.html").exists() and (tmp_path / "frames" / "step_000.svg").exists()
    assert (tmp_path / "net.json").exists() and (tmp_path / "graph.graphml").exists()


def test_the_pictures_are_produced_by_the_example_script(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "render_lectures.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # this checkout's mpgraph
    assert done.returncode == 0, done.stderr
    made = sorted(p.name for p in tmp_path.iterdir())
    linked = re.findall(
        r"\]\(([\w.]+\.(?:svg|html))\)", (ROOT / "docs" / "rendering.md").read_text()
    )
    assert sorted(set(linked)) == made  # every picture shown is written ...
    assert all((ROOT / "docs" / name).exists() for name in made)  # ... and committed
    svg = (tmp_path / "logistic_forward.svg").read_text()
    assert "w\u0304 =" in svg and "L_reg" in svg and "= sigmoid(z)" in svg
