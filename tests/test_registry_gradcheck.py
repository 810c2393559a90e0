"""Every registered op, built-in or from a plugin, against central finite differences.

The cases come from each op's ``samples``; an op added later is checked without a new test.
"""
import numpy as np
import pytest

import mpgraph as mg
from mpgraph.registry import ops
from mpgraph.testing import check_op, samples


def _cases():
    rng = np.random.default_rng(0)
    for name, op in sorted(ops().items()):
        for k, (args, attrs) in enumerate(samples(op, rng)):
            yield pytest.param(name, args, attrs, id=f"{name}-{k}")


@pytest.mark.parametrize("name, args, attrs", list(_cases()))
def test_op_gradients_match_finite_differences(name, args, attrs):
    check_op(name, args, attrs)


def test_every_op_has_a_public_function_and_a_doc():
    for name, op in ops().items():
        f = mg.ops
        for part in name.split("."):
            f = getattr(f, part)
        assert f.op is op
        assert op.doc.strip(), f"op '{name}' has no docstring"
