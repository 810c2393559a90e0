"""Helpers shared by the built-in op modules: docstring layout, dtype rules, test samples.

Every built-in op's doc has the layout ``docs/make_ops_table.py`` reads::

    <formula>

    Derivative: <the local derivative, or the message to each argument>

    <notes: conventions, dtypes> (optional)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = [
    "BINARY",
    "BINARY_POSITIVE",
    "cases",
    "chain",
    "doc",
    "float_dtype",
    "normal",
    "positive",
    "UNARY",
    "UNARY_POSITIVE",
    "UNARY_UNIT",
    "unit",
]


def doc(formula: str, derivative: str, notes: str = "") -> str:
    """An op doc in the layout above."""
    return f"{formula}\n\nDerivative: {derivative}" + (f"\n\n{notes}" if notes else "")


def float_dtype(d, *_, **__):
    """The dtype rule of an op that needs floats: integers and booleans become float64, as
    NumPy's ufuncs convert them; float32 stays float32."""
    if d is None or d.kind in "fc":
        return d
    return np.dtype(np.float64)


def normal(rng: np.random.Generator, shape) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape))


def positive(rng: np.random.Generator, shape) -> np.ndarray:
    """Away from 0, for ops defined (or smooth) only for positive inputs."""
    return np.asarray(0.5 + rng.random(shape))


def unit(rng: np.random.Generator, shape) -> np.ndarray:
    """In (-1, 1): inside tan's and log1p's smooth range."""
    return np.asarray(rng.uniform(-0.9, 0.9, shape))


def cases(*shape_sets: tuple, draw: Callable = normal, **attrs) -> Callable:
    """A ``samples`` function: one case per entry of ``shape_sets`` (a tuple of shapes, one per
    array argument), arrays drawn by ``draw``, the same ``attrs`` for each."""

    def samples(rng: np.random.Generator) -> Iterable:
        for shapes in shape_sets:
            yield [draw(rng, s) for s in shapes], dict(attrs)

    return samples


def chain(*sample_fns: Callable) -> Callable:
    """A ``samples`` function yielding the cases of each of ``sample_fns`` in turn."""

    def samples(rng: np.random.Generator) -> Iterable:
        for fn in sample_fns:
            yield from fn(rng)

    return samples


# The sample sets most ops of one shape share (see :mod:`.rules`).
UNARY = cases(((2, 3),), ((),), ((4, 1, 2),))
UNARY_POSITIVE = cases(((2, 3),), ((),), ((4, 1, 2),), draw=positive)
UNARY_UNIT = cases(((2, 3),), ((),), ((4, 1, 2),), draw=unit)
BINARY = cases(((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((3,), (3,)))
BINARY_POSITIVE = cases(((2, 1), (1, 3)), ((2, 3), ()), ((3,), (3,)), draw=positive)
