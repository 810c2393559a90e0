"""Saving a graph, and optionally what a run computed, to a file; loading it back.

A saved graph is two files side by side: ``NAME.json`` for the structure (every node's name,
kind, op, attributes, shape, dtype and arguments, in creation order) and ``NAME.npz`` for the
arrays (parameter and constant values, array attributes, and a run's values, error signals and
messages). The JSON refers to an array as ``{"$array": "a3"}``, a key of the ``.npz``.

Attributes keep their Python types: tuples, slices, ``Ellipsis``, NumPy scalars, dtypes and
arrays (a ``getitem`` index) are tagged in the JSON (``{"$tuple": [...]}``, ``{"$slice": [start,
stop, step]}``, ...) and come back as they were; anything else is refused when saving, naming
the node and the attribute.

Examples
--------
>>> import os, tempfile, numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", shape=(3,))
>>> y = mg.ops.sum(x[1:] * g.param("w", [2.0, 3.0]), name="y")
>>> run = g.forward(y, {"x": np.array([1.0, 2.0, 3.0])}).backward(keep_messages=True)
>>> path = os.path.join(tempfile.mkdtemp(), "net")
>>> _ = mg.save(g, path, run)
>>> g2, snap = mg.load(path)
>>> g2["getitem_1"].attrs["index"], float(snap.values["y"]), snap.signals["w"].tolist()
(slice(1, None, None), 13.0, [2.0, 3.0])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import numpy as np

from ..backend import to_numpy
from ..engine.graph import Graph
from ..engine.snapshot import Snapshot, graph_and_snapshot
from ..errors import LoadError, MpgraphError, SaveError

__all__ = ["Loaded", "SAVABLE", "load", "paths", "save"]

FORMAT, VERSION = "mpgraph-graph", 1
SAVABLE = (
    "None, bools, numbers, strings, lists, tuples, dicts with string keys, slices, "
    "Ellipsis, NumPy scalars, dtypes, arrays and numpy.random.Generator (its state)"
)


class Loaded(NamedTuple):
    """What :func:`load` returns: the graph, and the saved run (``None`` if none was saved)."""

    graph: Any
    run: Snapshot | None


def paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``.json`` and ``.npz`` files of a saved graph, from either one or the bare name."""
    if not isinstance(path, (str, os.PathLike)):
        raise LoadError(f"mpgraph: a path must be a string or a path, got {type(path).__name__}")
    p = Path(path)
    base = p.with_suffix("") if p.suffix in (".json", ".npz") else p
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")


# -- saving ---------------------------------------------------------------------------------


def save(graph: Any, path: str | os.PathLike, run: Any = None) -> tuple[Path, Path]:
    """Save ``graph`` (and what ``run`` computed, if given) as ``path.json`` and ``path.npz``.

    Parameters
    ----------
    graph : Graph
    path : str or path
        The name of the files, with or without ``.json``.
    run : Run or Snapshot, optional
        Its values, error signals and messages (whichever it has) are saved too.

    Returns
    -------
    (json_path, npz_path)

    Raises
    ------
    SaveError
        An attribute or a value the format cannot represent; the node and attribute are named.
    GraphError
        ``run`` is a run of another graph.
    """
    if not isinstance(graph, Graph):
        raise SaveError(f"mpgraph: save takes a Graph first, got {type(graph).__name__}")
    json_path, npz_path = paths(path)
    arrays = _Arrays()
    nodes = []
    for node in graph:
        where = f"node '{node.name}'"
        entry: dict[str, Any] = {"name": node.name, "kind": node.kind}
        if node.kind == "op":
            entry["op"] = node.op.name
            entry["args"] = [p.name for p in node.args]
            entry["attrs"] = {
                k: _encode(v, arrays, f"{where}: attribute '{k}'") for k, v in node.attrs.items()
            }
        if node.shape is not None:
            entry["shape"] = list(node.shape)
        if node.dtype is not None:
            entry["dtype"] = str(node.dtype)
        if node.kind in ("param", "const"):
            entry["value"] = _encode(to_numpy(node.fixed), arrays, f"{where}: value")
        nodes.append(entry)
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "nodes": nodes}
    if run is not None:
        doc["run"] = _encode_run(graph_and_snapshot(graph, run)[1], arrays)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    np.savez_compressed(npz_path, **arrays)
    return json_path, npz_path


def _encode_run(snap: Snapshot, arrays: dict) -> dict:
    def enc(v, where):
        return _encode(np.asarray(v), arrays, where)

    out: dict[str, Any] = {
        "outputs": list(snap.outputs),
        "values": {n: enc(v, f"run value of '{n}'") for n, v in snap.values.items()},
    }
    out["signals"] = (
        None
        if snap.signals is None
        else {n: enc(s, f"error signal of '{n}'") for n, s in snap.signals.items()}
    )
    out["messages"] = (
        None
        if snap.messages is None
        else [[p, c, k, enc(m, f"message {c} -> {p}")] for (p, c, k), m in snap.messages.items()]
    )
    return out


class _Arrays(dict):
    """The arrays of a file being saved, by key; also the generators met so far, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.generators: dict[int, str] = {}


def _encode(v: Any, arrays: dict, where: str) -> Any:
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, float):
        return v if np.isfinite(v) else {"$float": repr(v)}
    if isinstance(v, complex):
        return {"$complex": [_encode(v.real, arrays, where), _encode(v.imag, arrays, where)]}
    if isinstance(v, np.ndarray):
        if v.dtype.hasobject:
            raise SaveError(
                f"mpgraph: cannot save {where}: an array of Python objects; savable: {SAVABLE}"
            )
        key = f"a{len(arrays)}"
        arrays[key] = v
        return {"$array": key}
    if isinstance(v, np.generic):
        return {"$scalar": _encode(v.item(), arrays, where), "dtype": str(v.dtype)}
    if isinstance(v, np.dtype):
        return {"$dtype": str(v)}
    if isinstance(v, tuple):
        return {"$tuple": [_encode(x, arrays, where) for x in v]}
    if isinstance(v, list):
        return [_encode(x, arrays, where) for x in v]
    if isinstance(v, slice):
        return {"$slice": [_encode(x, arrays, where) for x in (v.start, v.stop, v.step)]}
    if v is Ellipsis:
        return {"$ellipsis": True}
    if isinstance(v, np.random.Generator):  # dropout's: saved with the state it has now
        shared = getattr(arrays, "generators", {})
        if id(v) in shared:  # one generator drives several nodes: they share it once loaded
            return {"$generator": {"shared": shared[id(v)]}}
        shared[id(v)] = key = f"g{len(shared)}"
        bits = v.bit_generator
        return {
            "$generator": {
                "bit_generator": type(bits).__name__,
                "shared": key,
                "state": _encode(bits.state, arrays, where),
            }
        }
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return {"$dict": {k: _encode(x, arrays, where) for k, x in v.items()}}
    raise SaveError(
        f"mpgraph: cannot save {where}: it holds a {type(v).__name__} ({v!r:.60}); "
        f"savable: {SAVABLE}"
    )


# -- loading --------------------------------------------------------------------------------


def load(path: str | os.PathLike) -> Loaded:
    """Load a graph saved by :func:`save`, and the run saved with it.

    Returns
    -------
    Loaded
        ``(graph, run)``: a :class:`~mpgraph.Graph`, and a :class:`~mpgraph.engine.snapshot.Snapshot`
        of the saved run, or ``None``. ``mg.render(graph, run)`` draws them.

    Raises
    ------
    LoadError
        A missing file, invalid JSON, or a wrong part; the message names the file and the part
        (``nodes[3] ('layer1/W'): ...``).
    """
    json_path, npz_path = paths(path)
    try:
        doc = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise LoadError(f"mpgraph: {json_path}: no such file") from None
    except OSError as e:  # a directory, no permission
        raise LoadError(f"mpgraph: {json_path}: cannot be read: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LoadError(f"mpgraph: {json_path}: not valid JSON: {e}") from None
    except RecursionError:
        raise LoadError(f"mpgraph: {json_path}: nested too deeply to be a saved graph") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LoadError(
            f"mpgraph: {json_path}: not a saved mpgraph graph (its 'format' is "
            f"{doc.get('format') if isinstance(doc, dict) else None!r}, expected {FORMAT!r})"
        )
    if doc.get("version") != VERSION:
        raise LoadError(
            f"mpgraph: {json_path}: 'version' is {doc.get('version')!r}; this mpgraph "
            f"reads version {VERSION}"
        )
    arrays = _arrays(npz_path)
    reader = _Reader(json_path, arrays)
    try:
        return _read(reader, doc, json_path)
    except LoadError:
        raise
    except RecursionError:
        raise LoadError(
            f"mpgraph: {json_path}: {reader.part}: nested too deeply to be a saved graph"
        ) from None
    except Exception as e:  # noqa: BLE001 - whatever a damaged file provokes, name the part
        raise LoadError(
            f"mpgraph: {json_path}: {reader.part}: cannot be read ({type(e).__name__}: {e})"
        ) from e


def _read(reader: _Reader, doc: dict, json_path: Path) -> Loaded:
    G = reader.structure(doc.get("nodes"))
    reader.part = "'nodes'"
    try:
        graph = Graph.from_networkx(G)
    except MpgraphError as e:
        raise LoadError(
            f"mpgraph: {json_path}: 'nodes' do not make a valid graph: "
            f"{str(e).removeprefix('mpgraph: ')}"
        ) from e
    for i, name in enumerate(G):
        saved = G.nodes[name].get("shape")
        built = graph[name].shape
        if saved is not None and built is not None and tuple(saved) != built:
            raise LoadError(
                f"mpgraph: {json_path}: nodes[{i}] ('{name}'): saved shape "
                f"{tuple(saved)}, but its op gives {built} on the saved arguments"
            )
    reader.part = "'run'"
    run = None if doc.get("run") is None else reader.run(doc["run"], graph)
    return Loaded(graph, run)


def _arrays(npz_path: Path) -> dict[str, np.ndarray]:
    try:
        with open(npz_path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise LoadError(
            f"mpgraph: {npz_path}: no such file (the arrays of {npz_path.stem}.json)"
        ) from None
    except OSError as e:
        raise LoadError(f"mpgraph: {npz_path}: cannot be read: {e.strerror or e}") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # what every zip file starts with
        raise LoadError(
            f"mpgraph: {npz_path}: not a .npz file (a zip archive of arrays); it "
            f"starts with {magic!r}"
        )
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception as e:  # noqa: BLE001 - a truncated or damaged archive: BadZipFile, EOF, ...
        raise LoadError(
            f"mpgraph: {npz_path}: a damaged .npz file ({type(e).__name__}: "
            f"{str(e).split('. ')[0]})"
        ) from None


class _Reader:
    def __init__(self, json_path: Path, arrays: dict[str, np.ndarray]) -> None:
        self.path, self.arrays = json_path, arrays
        self.part = "'nodes'"  # what is being read, for the message when a file is damaged
        self.generators: dict[str, np.random.Generator] = {}  # by their "shared" key

    def fail(self, where: str, what: str) -> LoadError:
        return LoadError(f"mpgraph: {self.path}: {where}: {what}")

    def structure(self, nodes: Any) -> nx.MultiDiGraph:
        if not isinstance(nodes, list):
            raise self.fail("'nodes'", f"expected a list of nodes, got {type(nodes).__name__}")
        G = nx.MultiDiGraph()
        for i, entry in enumerate(nodes):
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"nodes[{i}]" + (f" ('{name}')" if isinstance(name, str) else "")
            self.part = where
            if not isinstance(name, str) or not name:
                raise self.fail(where, "each node needs a 'name' (a non-empty string)")
            if name in G:
                raise self.fail(where, f"the name '{name}' is used twice")
            kind = entry.get("kind")
            data: dict[str, Any] = {"kind": kind, "index": i}
            if kind == "op":
                if not isinstance(entry.get("op"), str):
                    raise self.fail(where, "an op node needs 'op', the name of a registered op")
                data["op"] = entry["op"]
                attrs = entry.get("attrs", {})
                if not isinstance(attrs, dict):
                    raise self.fail(where, f"'attrs' must be an object, got {type(attrs).__name__}")
                data["attrs"] = {
                    k: self.decode(v, f"{where}: attribute '{k}'") for k, v in attrs.items()
                }
                args = entry.get("args", [])
                if not isinstance(args, list):
                    raise self.fail(
                        where, f"'args' must be a list of node names, got {type(args).__name__}"
                    )
                for argnum, parent in enumerate(args):
                    if parent not in G:
                        raise self.fail(
                            where,
                            f"argument {argnum} is {parent!r}, which is not a node "
                            "saved before this one",
                        )
                    G.add_edge(parent, name, key=argnum, argnum=argnum)
            if "shape" in entry:
                shape = entry["shape"]
                if not isinstance(shape, list) or not all(
                    d is None or isinstance(d, int) for d in shape
                ):
                    raise self.fail(
                        where, f"'shape' must be a list of ints or nulls, got {shape!r}"
                    )
                data["shape"] = tuple(shape)
            if "dtype" in entry:
                try:
                    data["dtype"] = np.dtype(entry["dtype"])
                except TypeError:
                    raise self.fail(
                        where, f"'dtype' {entry['dtype']!r} is not a NumPy dtype"
                    ) from None
            if kind in ("param", "const"):
                if "value" not in entry:
                    raise self.fail(where, f"a {kind} needs a 'value'")
                data["value"] = self.decode(entry["value"], f"{where}: value")
            G.add_node(name, **data)
        return G

    def run(self, part: Any, graph) -> Snapshot:
        if not isinstance(part, dict) or not isinstance(part.get("values"), dict):
            raise self.fail("'run'", "expected an object with 'values'")

        def named(mapping, what):
            self.part = f"run {what}"
            if not isinstance(mapping, dict):
                raise self.fail(
                    f"run {what}",
                    f"expected an object from node name to value, got {type(mapping).__name__}",
                )
            out = {}
            for n, v in mapping.items():
                if n not in graph:
                    raise self.fail(f"run {what}", f"'{n}' is not a node of the saved graph")
                out[n] = self.decode(v, f"run {what} of '{n}'")
            return out

        values = named(part["values"], "values")
        signals = None if part.get("signals") is None else named(part["signals"], "signals")
        messages = None
        if part.get("messages") is not None:
            messages = {}
            self.part = "run messages"
            if not isinstance(part["messages"], list):
                raise self.fail(
                    "run messages", f"expected a list, got {type(part['messages']).__name__}"
                )
            for i, m in enumerate(part["messages"]):
                if not (
                    isinstance(m, list)
                    and len(m) == 4
                    and isinstance(m[2], int)
                    and isinstance(m[0], str)
                    and isinstance(m[1], str)
                    and graph.nx.has_edge(m[0], m[1], key=m[2])
                ):
                    raise self.fail(
                        f"run messages[{i}]",
                        f"expected [parent, child, argnum, value] "
                        f"naming an edge of the graph, got {m!r:.80}",
                    )
                messages[(m[0], m[1], m[2])] = self.decode(m[3], f"run messages[{i}]")
        outputs = part.get("outputs", [])
        if not isinstance(outputs, list) or any(o not in values for o in outputs):
            raise self.fail(
                "run outputs", f"expected names of nodes with saved values, got {outputs!r}"
            )
        return Snapshot(values=values, signals=signals, messages=messages, outputs=outputs)

    def decode(self, v: Any, where: str) -> Any:
        if isinstance(v, list):
            return [self.decode(x, where) for x in v]
        if not isinstance(v, dict):
            return v
        try:
            return self._tagged(v, where)
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            raise self.fail(
                where, f"cannot read {json.dumps(v)[:80]}: {type(e).__name__}: {e}"
            ) from None

    def _tagged(self, v: dict, where: str) -> Any:
        if set(v) == {"$scalar", "dtype"}:
            return np.dtype(v["dtype"]).type(self.decode(v["$scalar"], where))
        if len(v) == 1:
            tag, body = next(iter(v.items()))
            if tag == "$array":
                if body not in self.arrays:
                    raise self.fail(where, f"array '{body}' is not in the .npz file")
                return self.arrays[body]
            if tag == "$tuple":
                return tuple(self.decode(x, where) for x in body)
            if tag == "$slice" and isinstance(body, list) and len(body) == 3:
                return slice(*(self.decode(x, where) for x in body))
            if tag == "$ellipsis":
                return Ellipsis
            if tag == "$float":
                return float(body)
            if tag == "$complex":
                return complex(*body)
            if tag == "$dtype":
                return np.dtype(body)
            if tag == "$dict":
                return {k: self.decode(x, where) for k, x in body.items()}
            if tag == "$generator":
                if body.get("shared") in self.generators:
                    return self.generators[body["shared"]]
                bits = getattr(np.random, str(body["bit_generator"]), None)
                if not (isinstance(bits, type) and issubclass(bits, np.random.BitGenerator)):
                    raise self.fail(
                        where, f"{body['bit_generator']!r} is not a NumPy bit generator"
                    )
                state = bits()
                state.state = self.decode(body["state"], where)
                generator = np.random.Generator(state)
                if isinstance(body.get("shared"), str):
                    self.generators[body["shared"]] = generator
                return generator
        raise self.fail(where, f"unknown tagged value {json.dumps(v)[:80]}")
