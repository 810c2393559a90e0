"""Explore a saved graph (and the run saved with it) in the browser: ``mpgraph explore FILE``.

FILE is a graph saved with ``mg.save`` (``NAME.json`` beside ``NAME.npz``). The page is written
next to it as ``NAME.html`` unless ``--out`` says otherwise; it is one self-contained file (see
:func:`mpgraph.explorer.explore`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GraphError, MpgraphError
from ..explorer.page import explore
from ..readwrite.saveload import load, paths

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", help="a graph saved with mg.save (NAME.json, with NAME.npz beside it)"
    )
    parser.add_argument("--out", help="the page to write (default: NAME.html beside FILE)")
    parser.add_argument(
        "--compare",
        metavar="FILE",
        help="another saved run of the same graph: show the differences of the "
        "values, error signals and messages",
    )
    parser.add_argument(
        "--rankdir",
        choices=("LR", "TB"),
        default="LR",
        help="left to right (default) or top to bottom",
    )
    parser.add_argument(
        "--layout",
        choices=("auto", "dot", "layered"),
        default="auto",
        help="Graphviz's dot where it is installed (auto, the default), or the "
        "layered layout built in",
    )
    parser.add_argument("--title", help="the page's title")
    parser.add_argument("--no-run", action="store_true", help="show the structure only")


def main(args: argparse.Namespace | list[str]) -> int:
    """Run ``mpgraph explore`` with parsed arguments (or a list of command-line words)."""
    if isinstance(args, list):
        parser = argparse.ArgumentParser(prog="mpgraph explore")
        add_arguments(parser)
        args = parser.parse_args(args)
    out = Path(args.out) if args.out else paths(args.file)[0].with_suffix(".html")
    try:
        graph, run = load(args.file)
        compare = None
        if args.compare:
            _, compare = load(args.compare)
            if compare is None:
                raise GraphError(f"mpgraph: {args.compare} holds no saved run to compare with")
        explore(
            graph,
            None if args.no_run else run,
            out,
            compare=compare,
            title=args.title,
            rankdir=args.rankdir,
            engine=args.layout,
        )
    except MpgraphError as e:
        print(e, file=sys.stderr)
        return 1
    print(out)
    return 0
