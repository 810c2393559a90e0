"""Listing the registered plugins: what ``mpgraph plugins`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from .manager import distribution, ops, plugin_manager

__all__ = ["PluginInfo", "list_plugins"]


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
        out.append(
            PluginInfo(
                name,
                dist[0] if dist else None,
                dist[1] if dist else None,
                sorted(n for n, op in table.items() if op.plugin == name),
                hooks,
            )
        )
    return out
