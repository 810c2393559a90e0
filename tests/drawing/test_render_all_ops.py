"""Every registered op draws, exports and saves: a picture or a file never fails for an op."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.hooks.manager import ops
from mpgraph.readwrite.export import to_networkx
from mpgraph.testing import samples


def op_graph(op, args, attrs):
    g = mg.Graph()
    nodes = [
        g.input(f"a{i}", shape=np.shape(a), dtype=np.asarray(a).dtype) for i, a in enumerate(args)
    ]
    out = g.apply(op, nodes, attrs, name="out")
    feed = {f"a{i}": a for i, a in enumerate(args)}
    return g, out, feed


@pytest.mark.parametrize("name", sorted(ops()))
def test_every_op_renders_exports_and_round_trips(name, tmp_path):
    op = ops()[name]
    args, attrs = samples(op, np.random.default_rng(0))[0]
    g, out, feed = op_graph(op, args, attrs)
    run = g.forward(out, feed)
    value = run[out]
    if np.result_type(value).kind == "f":
        with np.errstate(all="ignore"):
            run.backward(
                out, seed=np.ones(np.shape(value), np.result_type(value)), keep_messages=True
            )
    for view in ("forward", "backward", "both"):
        for detail in ("full", "compact"):
            src = mg.render(g, run, view=view, detail=detail).source
            assert "out" in src
    G = to_networkx(g, run)
    assert G.nodes["out"]["op"] == name
    mg.save(g, tmp_path / "g", run)
    g2, snap = mg.load(tmp_path / "g")
    assert repr(g2["out"].attrs) == repr(g["out"].attrs) and g2["out"].shape == g["out"].shape
    assert np.array_equal(snap.values["out"], value, equal_nan=np.result_type(value).kind == "f")
    mg.render(g2, snap, view="both")
