"""Saving and loading graphs and runs; exporting the annotated graph through NetworkX."""

import json

import networkx as nx
import numpy as np
import pytest

import mpgraph as mg
from mpgraph.readwrite.export import to_networkx, write_graphml, write_json
from mpgraph.readwrite.saveload import LoadError, SaveError, paths


def scoped_net():
    g = mg.Graph()
    x = g.input("x", shape=(3, 3), dtype=np.float32)
    labels = g.input("labels")
    with g.scope("layer1"):
        W = g.param("W", np.arange(6.0, dtype=np.float32).reshape(3, 2) / 10)
        h = mg.ops.tanh(x @ W, name="h")
    picked = h[np.array([0, 2, 0])]  # an array index, repeated on purpose
    part = picked[(slice(None), Ellipsis, 1)]  # a tuple holding a slice and Ellipsis
    s = mg.ops.sum(part * np.float32(0.5), axis=(0,), keepdims=False, name="s")
    mg.ops.mean(h, axis=np.int64(1), name="m")  # a NumPy scalar attribute, off the loss path
    L = mg.ops.softmax_cross_entropy(mg.ops.reshape(s, (1, 1)) + h[:1], labels, name="L")
    return g, L


def feed():
    return {"x": np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3), "labels": np.array([1])}


def test_round_trip_keeps_structure_attributes_and_run(tmp_path):
    g, L = scoped_net()
    run = g.forward(L, feed()).backward(L, keep_messages=True)
    json_path, npz_path = mg.save(g, tmp_path / "net", run)
    assert json_path.name == "net.json" and npz_path.exists()
    g2, snap = mg.load(tmp_path / "net.json")
    assert [n.name for n in g2] == [n.name for n in g]
    for a, b in zip(g, g2):
        assert (a.kind, a.op and a.op.name, a.shape, a.dtype) == (
            b.kind,
            b.op and b.op.name,
            b.shape,
            b.dtype,
        )
        assert [p.name for p in a.args] == [p.name for p in b.args]
        for k, v in a.attrs.items():
            assert type(b.attrs[k]) is type(v) and repr(b.attrs[k]) == repr(v), (a.name, k)
    assert g2["W" if "W" in g2 else "layer1/W"].value.dtype == np.float32
    # the loaded graph computes the same loss and gradients as the original
    run2 = g2.forward("L", feed()).backward(keep_messages=True)
    assert np.allclose(run2["L"], run["L"]) and np.allclose(
        run2.grad("layer1/W"), run.grad("layer1/W")
    )
    # the saved run is what the original run computed
    assert snap.outputs == ["L"] and np.array_equal(snap.values["L"], run["L"])
    assert np.array_equal(snap.signals["layer1/W"], run.grad("layer1/W"))
    key = ("layer1/h", "getitem_1", 0)
    assert np.array_equal(snap.messages[key], run.messages[key])
    assert "W\u0304 = " in mg.render(g2, snap).source or "μ" in mg.render(g2, snap).source


def test_a_graph_saved_without_a_run_loads_without_one(tmp_path):
    g, _ = scoped_net()
    mg.save(g, tmp_path / "net")
    assert mg.load(tmp_path / "net").run is None


def test_a_run_of_another_graph_is_not_saved_with_this_one(tmp_path):
    g, L = scoped_net()
    other, L2 = scoped_net()
    with pytest.raises(mg.GraphError, match="the run is of another graph"):
        mg.save(g, tmp_path / "net", other.forward(L2, feed()))


class Apply:
    """A plugin op whose attribute is a Python function: nothing a file can hold."""

    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op(
                "apply_fn",
                lambda x, fn=None: fn(x),
                vjp=(lambda g, ans, x, fn=None: g,),
                shape=lambda s, fn=None: s,
            )
        ]


def test_unsavable_attribute_is_refused_naming_node_and_attribute(tmp_path):
    name = mg.plugins.register(Apply())
    try:
        g = mg.Graph()
        mg.ops.apply_fn(g.input("x", shape=(3,)), fn=np.negative, name="neg")
        with pytest.raises(
            SaveError, match="cannot save node 'neg': attribute 'fn': it holds a ufunc"
        ):
            mg.save(g, tmp_path / "bad")
    finally:
        mg.plugins.unregister(name)


def broken(tmp_path, edit):
    g, L = scoped_net()
    mg.save(g, tmp_path / "net", g.forward(L, feed()).backward(keep_messages=True))
    json_path, _ = paths(tmp_path / "net")
    doc = json.loads(json_path.read_text())
    edit(doc)
    json_path.write_text(json.dumps(doc))
    return tmp_path / "net"


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["nodes"][3].update(op="no_such_op"),
            r"'nodes' do not make a valid graph: .*no_such_op",
        ),
        (
            lambda d: d["nodes"][3].update(args=["nowhere"]),
            r"nodes\[3\] \('layer1/matmul_1'\): argument 0 is 'nowhere', which is not a node saved before",
        ),
        (
            lambda d: d["nodes"][2].update(value={"$array": "a99"}),
            r"nodes\[2\] \('layer1/W'\): value: array 'a99' is not in the .npz file",
        ),
        (lambda d: d["nodes"][0].update(shape="3"), r"nodes\[0\] \('x'\): 'shape' must be a list"),
        (
            lambda d: d["nodes"][4].update(shape=[7, 7]),
            r"nodes\[4\] \('layer1/h'\): saved shape \(7, 7\), but its op gives",
        ),
        (lambda d: d.update(version=99), r"'version' is 99"),
        (
            lambda d: d["nodes"][5]["attrs"].update(index={"$float": "lots"}),
            r"nodes\[5\] \('getitem_1'\): attribute 'index': cannot read .*could not convert",
        ),
        (
            lambda d: d["nodes"][5]["attrs"].update(index={"$what": 1}),
            r"nodes\[5\] \('getitem_1'\): attribute 'index': unknown tagged value",
        ),
        (
            lambda d: d["run"]["messages"][0].__setitem__(1, "x"),
            r"run messages\[0\]: expected \[parent, child, argnum, value\] naming an edge",
        ),
        (lambda d: d["run"]["signals"].update(ghost=1.0), r"run signals: 'ghost' is not a node"),
    ],
)
def test_a_broken_file_says_which_part_is_wrong(tmp_path, edit, message):
    with pytest.raises(LoadError, match=message):
        mg.load(broken(tmp_path, edit))


def test_missing_or_invalid_files(tmp_path):
    with pytest.raises(LoadError, match="nothing.json: no such file"):
        mg.load(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LoadError, match="bad.json: not valid JSON: .*line 1 column 2"):
        mg.load(tmp_path / "bad")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(LoadError, match="not a saved mpgraph graph"):
        mg.load(tmp_path / "other")
    g, _ = scoped_net()
    mg.save(g, tmp_path / "net")
    (tmp_path / "net.npz").unlink()
    with pytest.raises(LoadError, match=r"net.npz: no such file \(the arrays of net.json\)"):
        mg.load(tmp_path / "net")


def logistic_run():
    g = mg.Graph()
    x, w = g.input("x"), g.param("w", 2.0)
    z = mg.ops.multiply(w, x, name="z")
    y = mg.ops.tanh(z, name="y")
    return g, g.forward(y, {"x": 0.5}).backward(keep_messages=True)


def test_to_networkx_carries_values_signals_and_messages_and_builds_again():
    g, run = logistic_run()
    G = to_networkx(g, run)
    zbar = 1 - np.tanh(1.0) ** 2
    assert G.nodes["z"]["value"] == 1.0 and np.isclose(G.nodes["z"]["signal"], zbar)
    assert np.isclose(G.edges["w", "z", 0]["message"], zbar * 0.5)  # z̄ x
    assert G.nodes["w"]["kind"] == "param" and G.nodes["z"]["op"] == "multiply"
    g2 = mg.Graph.from_networkx(G)
    assert np.isclose(g2.grad("y", wrt="w", feed={"x": 0.5}), zbar * 0.5)


def test_graphml_and_json_through_networkx_writers(tmp_path):
    g, run = logistic_run()
    write_graphml(g, tmp_path / "g.graphml", run)
    H = nx.read_graphml(tmp_path / "g.graphml")
    zbar = 1 - np.tanh(1.0) ** 2
    assert np.isclose(H.nodes["z"]["signal"], zbar) and H.nodes["z"]["op"] == "multiply"
    assert any(np.isclose(d["message"], zbar * 0.5) for _, _, d in H.edges("w", data=True))
    write_json(g, tmp_path / "g.json", run)
    data = json.loads((tmp_path / "g.json").read_text())
    back = nx.node_link_graph(data, edges="edges")
    assert np.isclose(back.nodes["w"]["signal"], zbar * 0.5) and back.nodes["w"]["shape"] == "()"


def test_export_of_arrays_and_nan_stays_valid_json(tmp_path):
    g = mg.Graph()
    x = g.input("x", shape=(2, 3))
    y = mg.ops.sum(mg.ops.log(x), name="y")
    with np.errstate(all="ignore"):
        run = g.forward(y, {"x": np.array([[1.0, -1.0, 2.0], [0.0, 1.0, 1.0]])}).backward()
    write_json(g, tmp_path / "nan.json", run)
    data = json.loads((tmp_path / "nan.json").read_text())  # strict JSON: no NaN tokens
    node = next(n for n in data["nodes"] if n["id"] == "log_1")
    assert json.loads(node["value"])[0][1] == "nan" and json.loads(node["value"])[1][0] == "-inf"
    assert node["value_summary"].startswith("1 NaN 1 Inf")


def test_a_loaded_run_prints_as_counts_not_arrays(tmp_path):
    import numpy as np

    import mpgraph as mg

    g = mg.Graph()
    x = g.input("x", shape=(1000,))
    y = mg.ops.sum(mg.ops.tanh(x), name="y")
    run = g.forward(y, {"x": np.ones(1000)}).backward(y, keep_messages=True)
    mg.save(g, tmp_path / "net.json", run)
    text = repr(mg.load(tmp_path / "net.json"))
    assert "<Snapshot of y: 3 values, 3 error signals, 2 messages>" in text
    assert len(text) < 2000  # not the thousand-element arrays
