"""How pictures write numbers and names: 4 significant digits, short summaries of arrays,
Grosse's bar notation for error signals, colours by magnitude."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

__all__ = [
    "MAGNITUDES",
    "NONFINITE",
    "ZERO",
    "bar",
    "fmt",
    "magnitude_colour",
    "nonfinite",
    "scope_of",
    "short_name",
    "summary",
]

# Error-signal magnitudes (largest |entry|): upper bound, legend text, fill, font colour.
MAGNITUDES = [
    (1e-8, "< 1e-8 (vanishing)", "#4575b4", "white"),
    (1e-4, "1e-8 to 1e-4", "#91bfdb", "black"),
    (1e-2, "1e-4 to 0.01", "#e0f3f8", "black"),
    (1.0, "0.01 to 1", "#ffffbf", "black"),
    (1e2, "1 to 100", "#fee090", "black"),
    (1e4, "100 to 1e4", "#fc8d59", "black"),
    (np.inf, "> 1e4 (exploding)", "#d73027", "white"),
]
ZERO = ("exactly 0", "#ffffff", "#777777")
NONFINITE = ("NaN or Inf", "#e7298a", "white")


def fmt(x: Any) -> str:
    """A number as the pictures print it: 4 significant digits.

    Examples
    --------
    >>> fmt(0.14369), fmt(2.0), fmt(-1e-9), fmt(True)
    ('0.1437', '2', '-1e-09', 'True')
    """
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, complex) or np.iscomplexobj(x):
        return f"{complex(x):.4g}"
    return f"{float(x):.4g}"


def summary(x: Any) -> str:
    """A value in a few characters: the number for a scalar, the entries of a short vector, the
    mean and range of a larger array, with a count of NaN and Inf entries.

    Examples
    --------
    >>> summary(0.25), summary([1.0, -2.0]), summary(np.arange(6.0).reshape(2, 3))
    ('0.25', '[1, -2]', 'μ 2.5 [0, 5]')
    >>> summary([1.0, np.nan, np.inf, 2.0, 3.0])
    '1 NaN 1 Inf μ 2 [1, 3]'
    >>> summary(np.array([0.1, 0.2, 0.3, 0.4, 0.5]) - 0.3), summary(np.arange(10))
    ('μ 0 [-0.2, 0.2]', 'μ 4.5 [0, 9]')
    """
    if x is None:
        return "?"
    a = np.asarray(x)
    if a.size == 1:
        return fmt(a.reshape(())[()])
    if a.size == 0:
        return f"empty {a.shape}"
    if a.ndim == 1 and a.size <= 4:
        return "[" + ", ".join(fmt(v) for v in a) + "]"
    if a.dtype.kind == "b":
        return f"{int(a.sum())} of {a.size} True"
    if a.dtype.kind not in "fc":
        return f"μ {fmt(a.mean())} [{fmt(a.min())}, {fmt(a.max())}]"  # min, max as integers
    finite = a[np.isfinite(a)]
    notes = []
    if np.isnan(a).any():
        notes.append(f"{int(np.isnan(a).sum())} NaN")
    if np.isinf(a).any():
        notes.append(f"{int(np.isinf(a).sum())} Inf")
    if finite.size and a.dtype.kind == "f":
        notes.append(f"μ {fmt(_mean(finite))} [{fmt(finite.min())}, {fmt(finite.max())}]")
    elif finite.size:
        notes.append(f"|μ| {fmt(np.abs(finite).mean())}")
    return " ".join(notes)


def _mean(a: np.ndarray) -> float:
    """The mean, or 0 when it is within rounding of 0 (summing entries of size s leaves noise of
    about eps * s: a centred array's mean prints as 0, not as 8.7e-19)."""
    mean = float(a.mean())
    return 0.0 if abs(mean) <= 1e-12 * float(np.max(np.abs(a))) else mean


def magnitude_colour(x: Any) -> tuple[str, str, str]:
    """``(legend text, fill, font colour)`` for the largest ``|entry|`` of an error signal.

    Examples
    --------
    >>> magnitude_colour(0.25)[0], magnitude_colour(1e-12)[0], magnitude_colour(np.nan)[0]
    ('0.01 to 1', '< 1e-8 (vanishing)', 'NaN or Inf')
    """
    a = np.asarray(x)
    if a.dtype.kind not in "fciu" or a.size == 0:
        return ZERO
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        return NONFINITE
    m = float(np.max(np.abs(a)))
    if m == 0:
        return ZERO
    return next(rest for bound, *rest in MAGNITUDES if m < bound)  # the last bound is inf


def nonfinite(x: Any) -> bool:
    """Whether ``x`` has a NaN or an infinite entry."""
    a = np.asarray(x)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()


def dot_over(name: str, html_label: bool = True) -> str:
    """Newton's dot for the tangent of ``name`` (forward mode): ``ż`` for a one-letter name,
    ``d(name)`` for a longer one.

    Examples
    --------
    >>> dot_over("z") == "z" + chr(0x307), dot_over("L_reg")
    (True, 'd(L_reg)')
    """
    if len(name) == 1:
        return (html.escape(name) if html_label else name) + "\u0307"
    return f"d({html.escape(name) if html_label else name})"


def bar(name: str, html_label: bool = True) -> str:
    """The error signal of ``name``: Grosse's bar notation for a name of one or two characters
    (``z̄``, an overline over ``h1``), ``∂L/∂name`` for a longer one, where an overline would read
    like a table rule.

    Examples
    --------
    >>> bar("z"), bar("h1"), bar("h1", html_label=False), bar("L_reg")
    ('z̄', '<O>h1</O>', 'h̅1̅', '∂L/∂L_reg')
    """
    if len(name) == 1:
        return html.escape(name) + "\u0304"
    if len(name) > 2:
        return "∂L/∂" + (html.escape(name) if html_label else name)
    if html_label:
        return f"<O>{html.escape(name)}</O>"
    return "".join(c + "\u0305" for c in name)


def short_name(name: str) -> str:
    """``name`` without its scopes: ``h`` for ``layer1/h``."""
    return name.rsplit("/", 1)[-1]


def scope_of(name: str) -> str:
    """The scope of ``name``: ``layer1`` for ``layer1/h``, ``""`` at the top level."""
    return name.rsplit("/", 1)[0] if "/" in name else ""
