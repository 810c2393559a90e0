"""The Python examples of docs/plugins.md run as written, in order, as a reader's would."""

import pathlib
import re

import numpy as np

import mpgraph as mg

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_plugin_guide_examples_run(capsys):
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    before = {name for name, _ in mg.plugins.plugin_manager().list_name_plugin()}
    namespace: dict = {}
    with np.errstate(divide="ignore"):  # the anomaly example divides by zero on purpose
        for block in blocks:
            exec(compile(block, "docs/plugins.md:example", "exec"), namespace)
    assert {name for name, _ in mg.plugins.plugin_manager().list_name_plugin()} == before
    for name in ("test_conv2d", "test_conv2d_with_stride_and_padding"):  # the fixture's examples
        namespace[name](_check_op)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "mpgraph: op 'sqrt' at node 'sqrt_1': vjp for argument 0 ('x') "
        "returned a message with 1 Inf"
    )
    assert out[-1] == "[1.   0.5  0.25]"


def _check_op(*args, **kwargs):
    from pytest_mpgraph import check_registered_op

    return check_registered_op(*args, **kwargs)
