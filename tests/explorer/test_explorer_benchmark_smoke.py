"""The explorer's benchmark (examples/explorer_benchmark.py) in smoke mode: tiny graphs, once
each, in the real headless chromium; nothing timed.

What is checked is that every page it measures works: written, opened, every node drawn once
every scope is expanded, and the step-through pages written as what they claim to be.
"""

import importlib.util
import io
from contextlib import redirect_stdout
from pathlib import Path

_path = Path(__file__).resolve().parents[2] / "examples" / "explorer_benchmark.py"
_spec = importlib.util.spec_from_file_location("explorer_benchmark", _path)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_smoke_run_writes_and_opens_every_page(tmp_path):
    rows, steps = bench.measure(repeats=1, smoke=True, out=tmp_path)
    graphs = list(bench.graphs(smoke=True))
    assert [r[0] for r in rows] == [name for name, _, _ in graphs]
    for (name, nodes, _, size, *_, drawn), (_, g, _) in zip(rows, graphs):
        assert nodes == len(g) and drawn == len(g), name  # expand all draws every node
        assert size == (tmp_path / f"{len(g)}.html").stat().st_size > 0
    assert [r[2] for r in rows] == [0, 3 + 2 + 1, 0]  # hidden, output, loss; 2 + 1 units
    (_, _, page_size, _), (_, frame_nodes, _, _) = steps
    text = (tmp_path / "steps.html").read_text()
    assert page_size == len(text.encode()) and '"start":"steps"' in text
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[0] == "step_000.svg"
    assert frame_nodes == len(graphs[0][1])


def test_smoke_main_prints_the_table(tmp_path):
    out = io.StringIO()
    with redirect_stdout(out):
        bench.main(["--smoke", "--out", str(tmp_path)])
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["graph", "nodes", "scopes"]
    assert [line.split()[0] for line in lines[1:4]] == ["logistic", "unit-level", "tanh"]
    assert "write_steps page" in lines[4] and "one SVG per step" in lines[5]
    assert (tmp_path / "steps.html").exists()
