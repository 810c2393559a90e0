"""The Python examples in README.md and docs/ (engine, training, transformations) run as written."""

import pathlib
import re

import pytest

import mpgraph as mg

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [
    "README.md",
    "docs/engine.md",
    "docs/training.md",
    "docs/reliability.md",
    "docs/distributed.md",
    "docs/transformations.md",
]


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"{page} has no Python example"
    pm = mg.plugins.plugin_manager()
    before = {name for name, _ in pm.list_name_plugin()}
    namespace: dict = {}
    try:
        for block in blocks:  # a page's blocks run in order, sharing names, as a reader's would
            exec(compile(block, f"{page}:example", "exec"), namespace)
    finally:  # plugins an example registered must not leak into other tests
        for name, _ in pm.list_name_plugin():
            if name not in before:
                mg.plugins.unregister(name)
