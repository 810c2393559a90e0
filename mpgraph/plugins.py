"""Registering, enabling, blocking and listing plugins (``mg.plugins``).

Process-wide: :func:`register` and :func:`unregister` (any plugin), :func:`block` (refuse a
plugin by name, like pytest's ``-p no:NAME``), :func:`reload` (start again from the built-in
and installed plugins, re-reading the environment variables ``MPGRAPH_DISABLE_PLUGIN_AUTOLOAD``,
``MPGRAPH_BLOCK_PLUGINS`` and ``MPGRAPH_STRICT_PLUGINS``).

For one block of code, in one thread: :func:`enabled` (observer plugins only).

Reading: :func:`list_plugins`, :func:`problems`, :func:`plugin_manager`.

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> class Halve:                      # replaces every message by half of it
...     @mg.hookimpl
...     def mpgraph_message(self, message):
...         return message / 2
>>> g = mg.Graph()
>>> x = g.input("x")
>>> L = x * 3.0
>>> with mg.plugins.enabled(Halve()):
...     print(float(g.grad(L, wrt=x, feed={"x": 1.0})))
1.5
>>> float(g.grad(L, wrt=x, feed={"x": 1.0}))
3.0
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .registry import (block, describe, distribution, enabled, ops, plugin_manager, problems,
                       register, reload, unregister)

__all__ = ["PluginInfo", "block", "describe", "distribution", "enabled", "list_plugins",
           "plugin_manager", "problems", "register", "reload", "unregister"]


@dataclass
class PluginInfo:
    """One registered plugin, as ``mpgraph plugins`` lists it."""

    name: str
    distribution: str | None = None
    version: str | None = None
    ops: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


def list_plugins() -> list[PluginInfo]:
    """Every process-wide plugin in registration order, with its distribution and ops.

    Examples
    --------
    >>> import mpgraph as mg
    >>> nn = next(p for p in mg.plugins.list_plugins() if p.name == "mpgraph.builtin.nn")
    >>> "softmax" in nn.ops, nn.distribution
    (True, None)
    """
    pm = plugin_manager()
    table = ops()
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = distribution(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        out.append(PluginInfo(name, dist[0] if dist else None, dist[1] if dist else None,
                              sorted(n for n, op in table.items() if op.plugin == name), hooks))
    return out
