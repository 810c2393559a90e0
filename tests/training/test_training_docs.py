"""docs/training.md: its pictures are what examples/training_pictures.py writes."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "training.md"


def test_the_training_pictures_are_written_by_the_examples(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "training_pictures.py"), str(tmp_path), "--fast"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr
    made = sorted(p.name for p in tmp_path.iterdir())
    shown = re.findall(r"!\[[^\]]*\]\(([\w.]+\.(?:svg|png))\)", PAGE.read_text(encoding="utf-8"))
    assert sorted(shown) == made  # every picture shown is written
    assert all((ROOT / "docs" / name).exists() for name in made)  # ... and committed
    assert (tmp_path / "digits_learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    graph = (tmp_path / "digits_graph.svg").read_text(encoding="utf-8")
    assert "cluster_mlp/layer1" in graph and "cluster_mlp/layer2" in graph  # one per layer
    assert "W\u0304" in graph and "softmax_cross_entropy" in graph  # error signals, the loss
    walk = (tmp_path / "walk_backward.svg").read_text(encoding="utf-8")
    assert "r\u0304 =" in walk and "w\u0304 =" in walk


def test_every_code_block_of_the_training_page_runs_in_the_tests():
    # tests/test_docs.py runs each listed page's ```python blocks
    runner = (ROOT / "tests" / "test_docs.py").read_text(encoding="utf-8")
    assert '"docs/training.md"' in runner
    text = PAGE.read_text(encoding="utf-8")
    fences = re.findall(r"^```(\w*)$", text, flags=re.M)
    opening = fences[0::2]
    assert opening and set(opening) == {"python"}  # no block in another language escapes them
    assert len(re.findall(r"```python\n(.*?)```", text, flags=re.S)) == len(opening)
