"""The ``mpgraph`` command line.

Each subcommand lives in the module that owns its subject and is imported only when used::

    mpgraph render FILE [--view forward|backward|both] [--format svg|png|pdf] [--out PATH]
    mpgraph plugins
    mpgraph check-ops [NAME ...]
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, function adding its arguments, function running it)
SUBCOMMANDS = {
    "render": ("mpgraph.render_cli", "add_arguments", "main"),
    "plugins": ("mpgraph.plugin_tools", "add_plugins_arguments", "plugins_main"),
    "check-ops": ("mpgraph.plugin_tools", "add_check_ops_arguments", "check_ops_main"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mpgraph", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runners = {}
    for name, (modname, add, run) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
            continue  # a subcommand whose module is not there yet
        getattr(module, add)(sub.add_parser(name, help=(module.__doc__ or "").splitlines()[0]))
        runners[name] = getattr(module, run)
    args = parser.parse_args(argv)
    return runners[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
