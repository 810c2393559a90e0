"""The pytest plugin shipped with mpgraph: check a plugin op in one line.

Installed with mpgraph (entry point ``mpgraph`` in the ``pytest11`` group), it gives every test
the fixture ``mpgraph_check_op``::

    def test_conv2d(mpgraph_check_op):
        mpgraph_check_op("conv2d")                                # on every declared sample
        mpgraph_check_op("conv2d", [x, w], {"stride": 2})         # on these arguments

It checks the shape rule against ``forward`` (with known and with unknown batch size) and every
differentiable argument's vjp against central finite differences, through a real graph.

This module lives outside the ``mpgraph`` package and imports mpgraph only when a check runs:
pytest loads it at start-up, before a checkout's ``pythonpath`` setting applies, and importing
mpgraph then would pin the installed copy instead of the one under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest


def check_registered_op(
    name: str,
    args: Sequence[Any] | None = None,
    attrs: dict | None = None,
    *,
    plugin: str | None = None,
    order: int = 1,
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> int:
    """Check op ``name`` on ``args`` / ``attrs``, or on each of its declared samples.

    Parameters
    ----------
    name : str
        A registered op.
    args, attrs : optional
        One case to check; by default the op's ``samples``.
    plugin : str, optional
        Also assert that the op comes from this plugin (the entry-point name), which catches
        a package that is not installed or is shadowed by another.
    order : int
        The highest order of derivative checked (``mpgraph.testing.check_op``'s ``order``;
        above 1 the op must declare ``differentiable_vjp``).

    Returns
    -------
    int
        The number of cases checked.

    Raises
    ------
    AssertionError
        Naming the op, the case and what differs.
    """
    import numpy as np

    from mpgraph.hooks.manager import get_op
    from mpgraph.testing import check_op, samples

    op = get_op(name)
    if plugin is not None:
        assert op.plugin == plugin, (
            f"mpgraph: op '{name}' comes from plugin '{op.plugin}', expected plugin '{plugin}'"
        )
    cases = (
        [(list(args), dict(attrs or {}))]
        if args is not None
        else samples(op, np.random.default_rng(seed))
    )
    assert cases, f"mpgraph: op '{name}' declares no samples to check"
    for k, (a, kw) in enumerate(cases):
        try:
            check_op(op, a, kw, order=order, seed=seed, rtol=rtol, atol=atol)
            _check_unknown_batch(op, a, kw)
        except AssertionError as e:
            raise AssertionError(f"case {k} (attrs {kw}): {e}") from None
    return len(cases)


def _check_unknown_batch(op, args, attrs) -> None:
    """The shape rule with the leading dim of every argument unknown must agree with forward."""
    import numpy as np

    if op.shape is None or op.variadic:
        return
    out = np.shape(op.forward(*args, **{**op.attr_defaults, **attrs}))
    shapes = [(None, *np.shape(a)[1:]) if np.ndim(a) else () for a in args]
    got = tuple(op.shape(*shapes, **{**op.attr_defaults, **attrs}))
    assert len(got) == len(out) and all(d is None or d == n for d, n in zip(got, out)), (
        f"mpgraph: op '{op.name}': shape rule gives {got} for input shapes {shapes}, "
        f"which does not fit forward's {out}"
    )


@pytest.fixture
def mpgraph_check_op():
    """``mpgraph_check_op(name, args=None, attrs=None, *, plugin=None, order=1, ...)``: see
    :func:`check_registered_op`."""
    return check_registered_op
