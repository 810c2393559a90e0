"""Draw docs/layers.svg: mpgraph's layers and the imports between them, as the code has them.

The layers are read from the import-linter contract in pyproject.toml, the imports from the code
(grimp, the library import-linter uses), so the picture cannot drift from what the build checks.

    python docs/make_layers_picture.py
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import graphviz
import grimp

ROOT = Path(__file__).resolve().parents[1]
HOOK = "mpgraph.drawing.jupyter"


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    rows = []
    for layer in contract["layers"]:
        names = [n.strip().strip("()") for n in layer.split("|")]
        rows.append([n for n in names if _exists(n)])
    return [row for row in rows if row]


def _exists(module: str) -> bool:
    path = ROOT / Path(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def main() -> None:
    layers = _layers()
    owner = {m: m for row in layers for m in row}
    imports = grimp.build_graph("mpgraph", exclude_type_checking_imports=True)
    edges: dict[tuple[str, str], bool] = {}  # (importer, imported) -> only through the hook
    for module in imports.modules:
        src = next((o for o in owner if module == o or module.startswith(o + ".")), None)
        for imported in imports.find_modules_directly_imported_by(module):
            dst = next((o for o in owner if imported == o or imported.startswith(o + ".")), None)
            if src and dst and src != dst:
                hook = imported == HOOK
                edges[src, dst] = edges.get((src, dst), True) and hook
    dot = graphviz.Digraph("layers", graph_attr={"rankdir": "TB", "nodesep": "0.3",
                                                  "ranksep": "0.35", "fontname": "Helvetica"},
                           node_attr={"shape": "box", "style": "rounded,filled",
                                      "fillcolor": "#eef3fb", "fontname": "Helvetica"},
                           edge_attr={"color": "#7a869a", "arrowsize": "0.6"})
    for row in layers:
        with dot.subgraph() as same:
            same.attr(rank="same")
            for module in row:
                same.node(module, module.removeprefix("mpgraph."))
    for upper, lower in zip(layers, layers[1:]):  # keep each layer on its own row, in order
        dot.edge(upper[0], lower[0], style="invis", weight="10")
    for (src, dst), only_hook in sorted(edges.items()):
        if only_hook:
            dot.edge(src, dst, style="dashed", color="#c0504d", constraint="false",
                     label=" Jupyter display", fontsize="9", fontcolor="#c0504d")
        else:
            dot.edge(src, dst, color="#c5ccd8" if dst == "mpgraph.errors" else "#7a869a")
    (ROOT / "docs" / "layers.svg").write_text(dot.pipe(format="svg").decode())
    print("wrote docs/layers.svg")


if __name__ == "__main__":
    main()
