"""The hooks through which plugins extend mpgraph.

mpgraph uses pluggy, like pytest: a plugin is a module or an object with functions marked
``@mpgraph.hookimpl`` whose names match the specifications below. The built-in ops are
provided by plugins inside the package (``mpgraph.builtin.*``) through the very same
``mpgraph_ops`` hook as a third-party package, which declares itself in its
``pyproject.toml``::

    [project.entry-points.mpgraph]
    conv = "mpgraph_conv"

Observer hooks (``mpgraph_node_value``, ``mpgraph_message``, ``mpgraph_error_signal``)
are looked up once per run: when no plugin implements them, the engine's loops do not call
them at all. Enable an observer plugin for a block with ``mg.plugins.enabled(plugin)`` or for
the process with ``mg.plugins.register(plugin)``; ``docs/plugins.md`` is the author's guide.
"""

from __future__ import annotations

import pluggy

__all__ = [
    "hookspec",
    "mpgraph_error_signal",
    "mpgraph_message",
    "mpgraph_node_value",
    "mpgraph_ops",
]

hookspec = pluggy.HookspecMarker("mpgraph")


@hookspec
def mpgraph_ops():
    """Return the op definitions this plugin provides.

    Returns
    -------
    list of mpgraph.Op
        Each op has a unique name across all plugins; two plugins defining the same name
        is an error that names both.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> class Cube:
    ...     @mg.hookimpl
    ...     def mpgraph_ops(self):
    ...         return [mg.Op("cube", lambda x: x ** 3,
    ...                       vjp=(lambda g, ans, x: g * 3 * x ** 2,),
    ...                       shape=lambda s: s)]
    >>> mg.plugins.register(Cube(), name="cube-example")
    'cube-example'
    >>> float(mg.ops.cube(np.float64(2.0)))
    8.0
    >>> mg.plugins.unregister("cube-example")
    """


@hookspec
def mpgraph_node_value(run, node, value):
    """Observe the value of ``node`` as soon as the forward pass has it.

    Called for every node a run evaluates (inputs, parameters and constants included), in
    topological order. The return value is ignored.

    Parameters
    ----------
    run : mpgraph.Run
    node : mpgraph.Node
    value : numpy.ndarray or scalar
    """


@hookspec
def mpgraph_message(run, parent, child, argnum, message):
    """Observe, or replace, the message ``child`` sends to ``parent`` in the backward pass.

    ``argnum`` is the position of ``parent`` among ``child``'s arguments (``x * x`` sends
    two messages to ``x``, with argnum 0 and 1). Return ``None`` to pass the message on as it
    is, or an array of the same shape to replace it (gradient clipping). With several plugins,
    the message passes through each in turn.
    """


@hookspec
def mpgraph_error_signal(run, node, signal):
    """Observe the error signal of ``node`` once every message from its children is summed.

    Called in reverse topological order, just before ``node`` sends messages to its parents.
    The return value is ignored.
    """
