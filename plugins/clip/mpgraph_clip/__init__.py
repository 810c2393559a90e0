"""Clip the messages of the backward pass as they are sent (the ``mpgraph_message`` hook).

Where :mod:`mpgraph_anomaly` only watches, this plugin changes what flows: each message a vjp
sends is replaced by a clipped copy before the receiving node sums it into its error signal,
so the nodes upstream backpropagate the clipped signal. ``value=c`` clips every entry to
``[-c, c]``; ``max_norm=m`` rescales a message whose L2 norm exceeds ``m`` to norm ``m``.
``scope="rnn/"`` restricts clipping to messages sent to nodes whose name starts with it.

Examples
--------
>>> import numpy as np, mpgraph as mg, mpgraph_clip
>>> g = mg.Graph()
>>> x = g.input("x", shape=(2,))
>>> L = mg.ops.sum(x * 10.0)
>>> with mpgraph_clip.clip_messages(value=3.0) as clip:
...     g.grad(L, wrt=x, feed={"x": np.ones(2)})
array([3., 3.])
>>> clip.clipped
1
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

import mpgraph as mg

__version__ = "0.1.0"


class ClipMessages:
    """The plugin: clips messages to ``value`` per entry and / or ``max_norm`` per message.

    Parameters
    ----------
    value : float, optional
        Clip each entry of a message to ``[-value, value]``.
    max_norm : float, optional
        Rescale a message whose L2 norm is above ``max_norm`` to that norm.
    scope : str
        Clip only messages sent to nodes whose name starts with this prefix.

    Raises
    ------
    ValueError
        Neither ``value`` nor ``max_norm`` is given, or one is not positive.
    """

    def __init__(
        self, value: float | None = None, max_norm: float | None = None, scope: str = ""
    ) -> None:
        if value is None and max_norm is None:
            raise ValueError("mpgraph-clip: give value= or max_norm=")
        for name, v in (("value", value), ("max_norm", max_norm)):
            if v is not None and not v > 0:
                raise ValueError(f"mpgraph-clip: {name} must be positive, got {v}")
        self.value, self.max_norm, self.scope = value, max_norm, scope
        self.clipped = 0  # messages changed so far
        self._lock = threading.Lock()

    @mg.hookimpl
    def mpgraph_message(self, parent, message):
        if not parent.name.startswith(self.scope):
            return None
        m = np.asarray(message)
        out = m
        if self.value is not None:
            out = np.clip(out, -self.value, self.value)
        if self.max_norm is not None:
            norm = float(np.linalg.norm(out))
            if norm > self.max_norm:
                out = out * (self.max_norm / norm)
        if out is m or np.array_equal(out, m):
            return None
        with self._lock:
            self.clipped += 1
        return out


@contextlib.contextmanager
def clip_messages(
    value: float | None = None, max_norm: float | None = None, scope: str = ""
) -> Iterator[ClipMessages]:
    """Clip the messages of the runs started inside the block, in this thread."""
    plugin = ClipMessages(value, max_norm, scope)
    with mg.plugins.enabled(plugin):
        yield plugin
