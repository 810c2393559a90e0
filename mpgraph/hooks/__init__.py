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

from .listing import PluginInfo, list_plugins
from .manager import (
    block,
    describe,
    distribution,
    enabled,
    get_op,
    hookimpl,
    observers,
    ops,
    plugin_manager,
    problems,
    register,
    reload,
    unregister,
)

__all__ = [
    "PluginInfo",
    "block",
    "describe",
    "distribution",
    "enabled",
    "get_op",
    "hookimpl",
    "list_plugins",
    "observers",
    "ops",
    "plugin_manager",
    "problems",
    "register",
    "reload",
    "unregister",
]
