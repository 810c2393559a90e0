"""The registry-wide check on a second array library: every built-in op and every op of the conv
plugin runs on Dask arrays as it runs on NumPy (the same value, messages and tangents, which stay Dask arrays).

Dask stands in on this CPU-only machine for CuPy: both receive mpgraph's NumPy calls through
NumPy's dispatch protocols. Where Dask itself lacks a NumPy function or a form of indexing, the
op cannot run on it; those ops are listed below with what Dask says, so that the list is a
record checked at every run (an op that starts to pass must leave the list).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from mpgraph.hooks.manager import ops
from mpgraph.testing import check_library, samples

# Dask has no such NumPy function: its __array_function__ warns and would compute through
# NumPy, which check_library turns into a failure.
_LACKS = "is not implemented by Dask array"

# op -> what Dask says when the op runs on it (a regex of the error).
DASK_GAPS = {
    "argpartition": "numpy.argpartition` function " + _LACKS,
    "argsort": "numpy.argsort` function " + _LACKS,
    "argtopk": "numpy.argsort` function " + _LACKS,
    "column_stack": "numpy.column_stack` function " + _LACKS,
    "cross": "numpy.cross` function " + _LACKS,
    "inner": "numpy.inner` function " + _LACKS,
    "kron": "numpy.kron` function " + _LACKS,
    "linalg.det": "numpy.linalg.det` function " + _LACKS,
    "linalg.eigh": "numpy.linalg.eigh` function " + _LACKS,
    "linalg.matrix_power": "numpy.linalg.matrix_power` function " + _LACKS,
    "linalg.pinv": "numpy.linalg.pinv` function " + _LACKS,
    "linalg.slogdet": "numpy.linalg.slogdet` function " + _LACKS,
    "partition": "numpy.argpartition` function " + _LACKS,
    "scatter_add": "numpy.take_along_axis` function " + _LACKS,
    "sort": "numpy.sort` function " + _LACKS,
    "take_along_axis": "numpy.take_along_axis` function " + _LACKS,
    "topk": "numpy.argsort` function " + _LACKS,
    # Dask's indexing: one integer-array axis at a time, no n-d integer indexers
    "getitem": "'>=' not supported between instances of 'list' and 'int'",  # a 2-d int index
    "repeat": "Only integer valued repeats supported",  # one count per element
    "getitem_transpose": r"shape \(nan,\)",  # a boolean mask gives Dask an unknown length
    # Dask's signatures: fewer keywords, or 2-d only, than NumPy's
    "linalg.lstsq": "unexpected keyword argument 'rcond'",
    "linalg.inv": "Dimension must be 2",  # no stacks of matrices
    "linalg.solve": "Dimension must be 2",
    "linalg.solve_triangular": "Dimension must be 2",
    "dot": "list index out of range",  # np.dot of a 0-d and a 2-d array
    "linalg.qr": "Have only one row of blocks",
    "linspace": "unexpected keyword argument 'axis'",
    "nan_to_num": "does not take the following keyword arguments",
    "gradient": "ZeroDivisionError",  # np.pad inside the vjp, along a length-2 axis
    "hstack": "zero-dimensional arrays cannot be concatenated",
    "select": "Chunks do not add up to shape",
    "tril": "Chunks and shape must be of the same length",
    "triu": "Chunks and shape must be of the same length",
    # Dask's conventions differ from NumPy's: an upper Cholesky factor, other SVD signs
    "linalg.cholesky": "its value differs from NumPy's",
    "linalg.svd": "its value differs from NumPy's",
}

# the built-in ops and the conv plugin's (the plugin this repository ships)
CHECKED = sorted(
    name
    for name, op in ops().items()
    if op.plugin.startswith("mpgraph.builtin") or op.plugin == "conv"
)


def _first_failure(name: str) -> str | None:
    op = ops()[name]
    for k, (args, attrs) in enumerate(samples(op, np.random.default_rng(0))):
        try:
            check_library(op, args, attrs, "dask")
        except Exception as e:  # noqa: BLE001 - the failure is the result under test
            cause = e.__cause__
            return f"sample {k}: {type(e).__name__}: {e} (cause {type(cause).__name__}: {cause})"
    return None


@pytest.mark.parametrize("name", CHECKED)
def test_op_runs_on_dask_as_on_numpy(name):
    failure = _first_failure(name)
    if name in DASK_GAPS:
        assert failure is not None, f"op '{name}' now runs on Dask: take it out of DASK_GAPS"
        assert re.search(DASK_GAPS[name], failure), failure
    else:
        assert failure is None, failure


def test_the_conv_plugin_is_checked_too():
    assert {"conv2d", "conv1d", "conv_transpose2d", "max_pool2d", "avg_pool2d"} <= set(CHECKED)
    assert set(DASK_GAPS) <= set(CHECKED)
