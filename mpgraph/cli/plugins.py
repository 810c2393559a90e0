"""``mpgraph plugins`` and ``mpgraph check-ops``: tools for plugin authors.

``mpgraph plugins`` lists every registered plugin with its distribution, version, ops and
observer hooks, then every plugin problem (like ``pytest --trace-config``).
``mpgraph check-ops [NAME ...]`` runs the finite-difference check of
:func:`mpgraph.testing.check_ops` on each sample of every op (or the named ones) and prints a
table; the exit status is 1 when a check fails.

Examples
--------
>>> from mpgraph.cli import main
>>> main(["check-ops", "tanh", "matmul"])    # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
op      plugin                       samples  result
------  ---------------------------  -------  ------
tanh    mpgraph.builtin.elementwise  ...      ok
matmul  mpgraph.builtin.linalg       ...      ok
<BLANKLINE>
2 ops checked, 0 failed
0
"""

from __future__ import annotations

import argparse
import os

from .. import __version__
from ..errors import GraphError, PluginError
from ..hooks import manager as registry
from ..hooks.listing import list_plugins
from ..testing import check_ops

__all__ = ["add_check_ops_arguments", "add_plugins_arguments", "check_ops_main", "plugins_main"]


def add_plugins_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a plugin has a problem"
    )


def plugins_main(args: argparse.Namespace) -> int:
    """Print the plugins, their distributions and ops, and the plugin problems."""
    try:
        infos = list_plugins()
        found = registry.problems()
    except PluginError as e:  # strict mode (MPGRAPH_STRICT_PLUGINS): the problems, no table
        print(e)
        return 1
    nops = sum(len(p.ops) for p in infos)
    print(f"mpgraph {__version__}: {len(infos)} plugins, {nops} ops")
    blocked = [
        name for name, plugin in registry.plugin_manager().list_name_plugin() if plugin is None
    ]
    print(
        f"entry-point autoload: {'off' if os.environ.get(registry.ENV_NO_AUTOLOAD) else 'on'} "
        f"({registry.ENV_NO_AUTOLOAD}); blocked: {', '.join(blocked) or 'none'} "
        f"({registry.ENV_BLOCK}, mg.plugins.block)"
    )
    for p in infos:
        origin = (
            f"{p.distribution} {p.version}"
            if p.distribution
            else ("built-in" if p.name.startswith("mpgraph.builtin") else "registered at run time")
        )
        print(f"\n{p.name}  [{origin}]")
        observers = [h for h in p.hooks if h in registry.OBSERVER_HOOKS]
        if observers:
            print(f"  observes: {', '.join(observers)}")
        print(_wrap(f"ops ({len(p.ops)}): " + (", ".join(p.ops) or "none"), indent="  "))
    if found:
        print(f"\n{len(found)} problem{'s' if len(found) != 1 else ''}:")
        for problem in found:
            print(f"  {problem}")
    strict = args.strict or bool(os.environ.get(registry.ENV_STRICT))
    return 1 if found and strict else 0


def add_check_ops_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="ops to check (default: every registered op)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the samples")
    parser.add_argument(
        "--order",
        type=int,
        default=1,
        help="highest order of derivative checked (ops with a differentiable vjp)",
    )
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--atol", type=float, default=1e-7)


def check_ops_main(args: argparse.Namespace) -> int:
    """Print the table of :func:`check_ops`; 1 when an op fails, 2 for an unknown name (or a
    plugin problem in strict mode)."""
    try:
        results = check_ops(
            args.names, order=args.order, seed=args.seed, rtol=args.rtol, atol=args.atol
        )
    except (GraphError, PluginError) as e:
        print(e)
        return 2
    rows = [
        (r.op, r.plugin, str(r.samples), "ok" if r.error is None else "FAIL " + r.error)
        for r in results
    ]
    head = ("op", "plugin", "samples", "result")
    widths = [max(len(row[c]) for row in [head, *rows]) for c in range(3)]
    for row in [head, tuple("-" * max(w, len(h)) for w, h in zip(widths + [6], head)), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    failed = sum(r.error is not None for r in results)
    print(f"\n{len(results)} op{'s' if len(results) != 1 else ''} checked, {failed} failed")
    return 1 if failed else 0


def _wrap(text: str, indent: str, width: int = 100) -> str:
    lines, line = [], indent
    for word in text.split(" "):
        if len(line) + len(word) > width and line.strip():
            lines.append(line.rstrip())
            line = indent + "    "
        line += word + " "
    lines.append(line.rstrip())
    return "\n".join(lines)
