"""The ``mpgraph`` command line.

Each subcommand lives in the module that owns its subject and is imported only when used::

    mpgraph render FILE [--view forward|backward|both] [--format svg|png|pdf] [--out PATH]
    mpgraph explore FILE [--out PATH] [--compare FILE]
    mpgraph plugins
    mpgraph check-ops [NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__

__all__ = ["SUBCOMMANDS", "main"]

# subcommand -> (help, module, function adding its arguments, function running it)
SUBCOMMANDS = {
    "render": (
        "draw a saved graph (and run) as svg, png, pdf, dot or a step-through html page",
        "mpgraph.cli.render",
        "add_arguments",
        "main",
    ),
    "explore": (
        "write an interactive page exploring a saved graph (and run) at any size",
        "mpgraph.cli.explore",
        "add_arguments",
        "main",
    ),
    "plugins": (
        "list the plugins, their distributions and versions, and the ops each provides",
        "mpgraph.cli.plugins",
        "add_plugins_arguments",
        "plugins_main",
    ),
    "check-ops": (
        "check registered ops' vjps and shape rules against finite differences",
        "mpgraph.cli.plugins",
        "add_check_ops_arguments",
        "check_ops_main",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mpgraph", description="mpgraph: backprop as message passing on a computation graph"
    )
    parser.add_argument("--version", action="version", version=f"mpgraph {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    runners = {}
    for name, (help_text, modname, add, run) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
            continue  # a subcommand whose module is not there yet
        getattr(module, add)(sub.add_parser(name, help=help_text, description=help_text))
        runners[name] = getattr(module, run)
    args = parser.parse_args(argv)
    try:
        code = runners[args.command](args) or 0
        sys.stdout.flush()  # here, so that a closed pipe is met inside the try
    except BrokenPipeError:
        # The reader stopped early (mpgraph plugins | head): end quietly, as cat does.
        # stdout goes to devnull so that Python's own flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
