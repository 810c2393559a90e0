"""The plugin manager and the table of registered ops.

One ``pluggy.PluginManager("mpgraph")`` holds every plugin: the built-in op modules in
``mpgraph.builtin``, the packages installed with an ``mpgraph`` entry point, and whatever is
registered at run time with :func:`register`. The op table is rebuilt from the
``mpgraph_ops`` hook whenever the set of plugins changes.
"""
from __future__ import annotations

import difflib
import importlib
import threading
import warnings
from typing import Any

import pluggy

from . import hookspecs
from .errors import GraphError, PluginError
from .op import Op

hookimpl = pluggy.HookimplMarker("mpgraph")

BUILTIN = ("mpgraph.builtin.elementwise", "mpgraph.builtin.reductions", "mpgraph.builtin.shape",
           "mpgraph.builtin.linalg", "mpgraph.builtin.nn")

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_ops: dict[str, Op] | None = None
_observers: tuple | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with the built-in and installed plugins loaded."""
    global _pm
    if _pm is None:
        with _lock:
            if _pm is None:
                pm = pluggy.PluginManager("mpgraph")
                pm.add_hookspecs(hookspecs)
                for modname in BUILTIN:
                    pm.register(importlib.import_module(modname), name=modname)
                pm.load_setuptools_entrypoints("mpgraph")
                _pm = pm
    return _pm


def register(plugin: Any, name: str | None = None) -> str:
    """Register a plugin (a module or an object with ``@mg.hookimpl`` functions).

    Returns
    -------
    str
        The name it was registered under.

    Raises
    ------
    PluginError
        When its op definitions are malformed or clash with another plugin's; the plugin is
        then not registered.
    """
    with _lock:
        pm = plugin_manager()
        name = pm.register(plugin, name=name)
        problems = [p for p in _rebuild() if f"'{name}'" in p]
        if problems:
            pm.unregister(name=name)
            _rebuild()
            raise PluginError(f"mpgraph: plugin '{name}' was not registered:\n  "
                              + "\n  ".join(problems))
        return name


def unregister(name: str) -> None:
    """Remove the plugin registered under ``name``."""
    with _lock:
        plugin_manager().unregister(name=name)
        _rebuild()


def ops() -> dict[str, Op]:
    """The registered ops by name."""
    if _ops is None:
        with _lock:
            if _ops is None:
                problems = _rebuild()
                if problems:
                    warnings.warn("mpgraph: plugin problems (those ops are left out):\n  "
                                  + "\n  ".join(problems), stacklevel=2)
    return _ops


def get_op(name: str | Op) -> Op:
    """The op registered as ``name``.

    Raises
    ------
    GraphError
        When no plugin defines that op; the message suggests close names.
    """
    if isinstance(name, Op):
        return name
    table = ops()
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), table, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise GraphError(f"mpgraph: unknown op '{name}'{hint}") from None


def observers() -> tuple:
    """The observer hook callers that have implementations, as
    ``(node_value, message, error_signal)``, each ``None`` when no plugin implements it."""
    obs = _observers
    if obs is None:
        ops()
        obs = _observers
    return obs


def _rebuild() -> list[str]:
    """Collect every plugin's ops into the table; return every problem found, all together."""
    global _ops, _observers
    pm = plugin_manager()
    table: dict[str, Op] = {}
    problems: list[str] = []
    for impl in pm.hook.mpgraph_ops.get_hookimpls():  # in registration order: the first wins
        plugin = impl.plugin_name
        try:
            defs = list(impl.function() or [])
        except Exception as e:  # noqa: BLE001 - a broken plugin must not stop the others
            problems.append(f"plugin '{plugin}': mpgraph_ops() raised {type(e).__name__}: {e}")
            continue
        for op in defs:
            if not isinstance(op, Op):
                problems.append(f"plugin '{plugin}': mpgraph_ops() returned {op!r}, not an mpgraph.Op")
                continue
            if op.name in table:
                problems.append(f"op '{op.name}' is defined by both plugin '{table[op.name].plugin}' "
                                f"and plugin '{plugin}'")
                continue
            op.plugin = plugin
            table[op.name] = op
    hooks = pm.hook
    _observers = tuple(h if h.get_hookimpls() else None for h in
                       (hooks.mpgraph_node_value, hooks.mpgraph_message, hooks.mpgraph_error_signal))
    _ops = table
    return problems
