"""Draw a saved graph (and the run saved with it): ``mpgraph render FILE``.

FILE is a graph saved with ``mg.save`` (``NAME.json`` beside ``NAME.npz``). The picture is
written next to it as ``NAME.svg`` unless ``--out`` says otherwise; ``--format dot`` writes the
DOT source, which needs no layout program; ``--format html`` writes the explorer's page (see
:func:`mpgraph.explorer.explore`: one layout, the steps as numbers) opened at the start of the
saved backward pass, to step through it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..drawing.dot import pipe, write
from ..drawing.render import VIEWS, render
from ..errors import MpgraphError
from ..explorer.page import explore
from ..readwrite.saveload import load, paths

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", help="a graph saved with mg.save (NAME.json, with NAME.npz beside it)"
    )
    parser.add_argument("--view", choices=VIEWS, default="forward")
    parser.add_argument(
        "--format",
        choices=("svg", "png", "pdf", "dot", "html"),
        default=None,
        help="default: the suffix of --out, else svg",
    )
    parser.add_argument(
        "--out", help="the file to write (default: NAME.FORMAT beside FILE); - for standard output"
    )
    parser.add_argument(
        "--rankdir",
        choices=("LR", "TB"),
        default="LR",
        help="left to right (default) or top to bottom",
    )
    parser.add_argument(
        "--collapse",
        action="append",
        default=[],
        metavar="SCOPE",
        help="draw this scope as one box (repeatable)",
    )
    parser.add_argument("--focus", metavar="NODE", help="draw only the neighbourhood of NODE")
    parser.add_argument("--radius", type=int, default=2, help="with --focus (default 2)")
    parser.add_argument("--max-nodes", type=int, default=400)
    parser.add_argument("--no-run", action="store_true", help="draw the structure only")


def main(args: argparse.Namespace | list[str]) -> int:
    """Run ``mpgraph render`` with parsed arguments (or a list of command-line words)."""
    if isinstance(args, list):
        parser = argparse.ArgumentParser(prog="mpgraph render")
        add_arguments(parser)
        args = parser.parse_args(args)
    to_stdout = args.out == "-"
    fmt = (
        args.format
        or (Path(args.out).suffix.lstrip(".") if args.out and not to_stdout else "")
        or "svg"
    )
    out = Path(args.out) if args.out else paths(args.file)[0].with_suffix("." + fmt)
    try:
        graph, run = load(args.file)
        options = {
            "rankdir": args.rankdir,
            "collapse": args.collapse,
            "focus": args.focus,
            "radius": args.radius,
            "max_nodes": args.max_nodes,
        }
        if to_stdout:
            sys.stdout.buffer.write(
                _image(graph, None if args.no_run else run, fmt, args.view, options)
            )
            sys.stdout.flush()
            return 0
        if fmt == "html":
            explore(
                graph,
                None if args.no_run else run,
                out,
                rankdir=args.rankdir,
                view=args.view,
                start="steps",
            )
            print(out)
            return 0
        dot = render(graph, None if args.no_run else run, view=args.view, **options)
        if fmt == "dot":
            out.write_text(dot.source)
        else:
            write(dot, out, fmt)
    except MpgraphError as e:
        print(e, file=sys.stderr)
        return 1
    print(out)
    return 0


def _image(graph, run, fmt: str, view: str, options: dict) -> bytes:
    """The picture as the bytes of a file of format ``fmt``."""
    if fmt == "html":  # the explorer writes a file: write one aside and read it back
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "graph.html"
            explore(graph, run, page, rankdir=options["rankdir"], view=view, start="steps")
            return page.read_bytes()
    dot = render(graph, run, view=view, **options)
    return dot.source.encode() if fmt == "dot" else pipe(dot, fmt)
