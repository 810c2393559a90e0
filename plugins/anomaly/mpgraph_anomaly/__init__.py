"""Stop a run at the first NaN or Inf, naming the node that made it (``detect_anomaly``).

The detector is an observer plugin: ``mpgraph_node_value`` checks each forward value,
``mpgraph_message`` each message a vjp sends, ``mpgraph_error_signal`` each summed error
signal. The first non-finite one raises :class:`AnomalyError` naming the node, its op, and a
summary (shape, dtype, range, NaN and Inf counts) of the op's inputs.

Importing this module (the ``anomaly`` entry point does) enables nothing: call
:func:`detect_anomaly` for a block or :func:`enable` for the process.

Examples
--------
>>> import numpy as np, mpgraph as mg, mpgraph_anomaly
>>> g = mg.Graph()
>>> x = g.input("x", shape=(2,))
>>> y = mg.ops.log(x, name="y")
>>> with mpgraph_anomaly.detect_anomaly():
...     g.forward(y, {"x": np.array([1.0, -1.0])})
Traceback (most recent call last):
    ...
mpgraph_anomaly.AnomalyError: mpgraph: op 'log' at node 'y': forward value has 1 NaN (shape (2,), float64)
  input 0 'x': shape (2,) float64, min -1, max 1
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

import mpgraph as mg
from mpgraph.errors import MpgraphError, at

__version__ = "0.1.0"

PLUGIN_NAME = "anomaly-detector"


class AnomalyError(MpgraphError, FloatingPointError):
    """A value, message or error signal became NaN or Inf."""


def summary(value: Any) -> str:
    """Shape, dtype, range and non-finite counts of an array, in one line."""
    a = np.asarray(value)
    text = f"shape {a.shape} {a.dtype}"
    if a.dtype.kind not in "fc" or a.size == 0:
        return text
    finite = a[np.isfinite(a)]
    if finite.size:
        text += f", min {finite.min():.6g}, max {finite.max():.6g}"
    bad = _bad(a)
    return f"{text}, {bad}" if bad else text


def _bad(a: np.ndarray) -> str:
    """'2 NaN, 1 Inf' for the non-finite entries of ``a``; '' when all are finite."""
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return ""
    nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    return ", ".join(f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "Inf")) if n)


class AnomalyDetector:
    """The observer plugin. One instance may watch several runs, in several threads."""

    def __init__(self) -> None:
        # per thread: the forward values seen so far, and the error signal being sent on
        self._local = threading.local()

    def _inputs(self, run, node) -> str:
        # The values this detector saw computed: a run may free a value once no vjp needs it.
        seen = self._local.values if getattr(self._local, "run", None) is run else {}
        lines = []
        for k, p in enumerate(node.args):
            value = seen[p.name] if p.name in seen else run[p]
            lines.append(f"\n  input {k} '{p.name}': {summary(value)}")
        return "".join(lines)

    @mg.hookimpl
    def mpgraph_node_value(self, run, node, value) -> None:
        if getattr(self._local, "run", None) is not run:
            self._local.run, self._local.values = run, {}
        self._local.values[node.name] = value
        bad = _bad(np.asarray(value))
        if bad:
            what = at(node.op.name if node.op else None, node.name)
            raise AnomalyError(
                f"{what}: forward value has {bad} (shape {np.shape(value)}, "
                f"{np.asarray(value).dtype}){self._inputs(run, node)}"
            )

    @mg.hookimpl
    def mpgraph_message(self, run, parent, child, argnum, message) -> None:
        bad = _bad(np.asarray(message))
        if bad:
            raise AnomalyError(
                f"{at(child.op.name, child.name)}: vjp for argument {argnum} ('{parent.name}') "
                f"returned a message with {bad}; error signal of '{child.name}': "
                f"{summary(self._local.signal)}{self._inputs(run, child)}"
            )
        return None

    @mg.hookimpl
    def mpgraph_error_signal(self, run, node, signal) -> None:
        self._local.signal = signal  # the signal the node's vjps are about to turn into messages
        bad = _bad(np.asarray(signal))
        if bad:
            what = at(node.op.name if node.op else None, node.name)
            raise AnomalyError(
                f"{what}: error signal has {bad} (the sum of finite messages "
                f"from its children){self._inputs(run, node)}"
            )


@contextlib.contextmanager
def detect_anomaly() -> Iterator[AnomalyDetector]:
    """Check the runs started inside the block (in this thread) for NaN and Inf."""
    detector = AnomalyDetector()
    with mg.plugins.enabled(detector):
        yield detector


def enable() -> None:
    """Check every run of the process, until :func:`disable`."""
    mg.plugins.register(AnomalyDetector(), name=PLUGIN_NAME)


def disable() -> None:
    """Undo :func:`enable`."""
    mg.plugins.unregister(PLUGIN_NAME)
