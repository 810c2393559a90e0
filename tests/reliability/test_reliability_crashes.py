"""Regression tests for the crashes and raw tracebacks of issue 16: each input once ended in an
AttributeError, a RecursionError or a traceback from deep inside; now it works, or raises an
MpgraphError that names what was wrong."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.cli import main
from mpgraph.testing import numerical_grad

ROOT = Path(__file__).resolve().parents[2]


# -- NumPy calls and ops that crashed ----------------------------------------------------------


def test_dot_with_a_python_number_inside_grad():
    A = np.arange(4.0).reshape(2, 2)
    dA = mg.grad(lambda A: mg.ops.sum(mg.ops.dot(A, 2.0) * A))(A)
    assert np.allclose(dA, 4 * A)


def test_np_shape_ndim_size_of_a_node_answer_from_its_shape():
    g = mg.Graph()
    x = g.input("x", shape=(2, 3))
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
    assert np.shape(mg.ops.sum(x, axis=0)) == (3,)
    u = g.input("u", shape=(None, 3))
    assert np.ndim(u) == 2
    with pytest.raises(mg.ShapeError, match="'u'"):
        np.size(u)


def test_einsum_in_its_sublist_form():
    g = mg.Graph()
    x = g.input("x", shape=(2, 3))
    y = np.einsum(x, [0, 1], [1])
    assert y.shape == (3,)
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    assert np.allclose(mg.ops.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    da = mg.grad(lambda a: mg.ops.sum(np.einsum(a, [0, 1], a, [0, 1], [0])))(a)
    assert np.allclose(da, 2 * a)


def test_einsum_vjp_where_a_size_one_dim_broadcasts_against_a_label():
    a, b = np.linspace(-1, 1, 8).reshape(2, 4), np.array([[0.5, -1.0, 2.0]])
    w = np.random.default_rng(0).standard_normal((2, 3))
    f = lambda a, b: mg.ops.sum(mg.ops.einsum("ij,jk->ik", a, b) * w)  # noqa: E731
    da, db = mg.grad(f, argnums=(0, 1))(a, b)
    h = lambda a, b: np.sum(np.einsum("ij,jk->ik", a, b) * w)  # noqa: E731
    assert np.allclose(da, numerical_grad(h, [a, b], 0), atol=1e-6)
    assert np.allclose(db, numerical_grad(h, [a, b], 1), atol=1e-6)


# -- damaged files -------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    y = mg.ops.sum(mg.ops.tanh(x * g.param("w", [1.0, 2.0, 3.0])), name="y")
    run = g.forward(y, {"x": np.ones(3)}).backward(keep_messages=True)
    json_path, npz_path = mg.save(g, tmp_path / "net", run)
    return json_path, npz_path


def _edit(json_path, change):
    doc = json.loads(json_path.read_text())
    change(doc)
    json_path.write_text(json.dumps(doc))


def _node(doc, name):
    return next(n for n in doc["nodes"] if n["name"] == name)


def test_a_truncated_npz_is_a_load_error(saved):
    json_path, npz_path = saved
    data = npz_path.read_bytes()
    npz_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(mg.LoadError, match=r"net\.npz: a damaged \.npz"):
        mg.load(json_path)


def test_a_non_zip_npz_is_described_without_numpys_pickle_advice(saved):
    json_path, npz_path = saved
    npz_path.write_bytes(b"this is text, not arrays\n")
    with pytest.raises(mg.LoadError, match=r"not a \.npz file") as e:
        mg.load(json_path)
    assert "pickle" not in str(e.value)


@pytest.mark.parametrize(
    "change, part",
    [
        (lambda d: _node(d, "y")["attrs"].update(axis={"$dict": [1, 2]}), "attribute 'axis'"),
        (lambda d: _node(d, "w").update(value=[[1.0, 2.0], [3.0]]), "'w'"),
        (lambda d: d["run"].update(messages=5), "run messages"),
        (lambda d: d["run"].update(messages=[[["w"], "multiply_1", 0, 1.0]]), "run messages"),
        (lambda d: d["run"].update(signals=[1, 2]), "run signals"),
        (lambda d: d["run"].update(values={"y": {"$tuple": 5}}), "run values"),
        (
            lambda d: d["run"].update(
                values={"y": {"$generator": {"bit_generator": "os", "state": {}}}}
            ),
            "run values",
        ),
    ],
)
def test_damaged_json_parts_are_load_errors_naming_the_part(saved, change, part):
    json_path, _ = saved
    _edit(json_path, change)
    with pytest.raises(mg.LoadError) as e:
        mg.load(json_path)
    assert part in str(e.value) and str(json_path) in str(e.value)


def test_deeply_nested_json_is_a_load_error(saved):
    json_path, _ = saved
    doc = json.loads(json_path.read_text())
    text = json.dumps(doc).replace(
        '"attrs": {}', '"attrs": {"deep": ' + "[" * 100000 + "]" * 100000 + "}", 1
    )
    json_path.write_text(text)
    with pytest.raises(mg.LoadError, match="nested too deeply"):
        mg.load(json_path)


def test_a_graph_with_dropout_driven_by_a_generator_saves_and_loads(tmp_path):
    g = mg.Graph()
    x = g.input("x", shape=(50,))
    rng = np.random.default_rng(7)
    y = mg.ops.dropout(x, 0.5, rng, name="d")
    mg.save(g, tmp_path / "drop")
    g2, _ = mg.load(tmp_path / "drop")
    ones = {"x": np.ones(50)}
    # the saved generator continues from the state it had: both graphs draw the same masks
    for _ in range(2):
        assert np.array_equal(g.forward(y, ones)[y], g2.forward("d", ones)["d"])
    assert g2["d"].attrs["rng"] is not rng


def test_dropout_nodes_sharing_a_generator_share_it_after_loading(tmp_path):
    g = mg.Graph()
    x = g.input("x", shape=(50,))
    rng = np.random.default_rng(3)
    mg.ops.dropout(x, 0.5, rng, name="d1")
    mg.ops.dropout(x, 0.5, rng, name="d2")
    mg.save(g, tmp_path / "drop2")
    g2, _ = mg.load(tmp_path / "drop2")
    assert g2["d1"].attrs["rng"] is g2["d2"].attrs["rng"]
    ones = {"x": np.ones(50)}
    # one stream: d1 then d2 draw different masks, as they did before saving
    want = g.forward(["d1", "d2"], ones)
    got = g2.forward(["d1", "d2"], ones)
    assert np.array_equal(want["d1"], got["d1"]) and np.array_equal(want["d2"], got["d2"])
    assert not np.array_equal(got["d1"], got["d2"])


# -- wrong arguments to running ----------------------------------------------------------------


def test_a_feed_given_as_a_list_and_a_seed_given_as_a_word():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    h = x * 2.0
    with pytest.raises(mg.FeedError, match="mapping"):
        g.forward(mg.ops.sum(h), [("x", np.ones(3))])
    run = g.forward(h, {"x": np.ones(3)})
    with pytest.raises(mg.FeedError, match="seed for node 'multiply_1'.*shape \\(3,\\).*'ones'"):
        run.backward(h, seed="ones")
    assert run.backward(h, seed=np.ones(3)).grad(x).tolist() == [2.0, 2.0, 2.0]


# -- plugins -----------------------------------------------------------------------------------------


class _Raising:
    @mg.hookimpl
    def mpgraph_node_value(self, node, value):
        if node.name in ("x", "y"):
            raise ZeroDivisionError("observer bug")


@pytest.mark.parametrize("at", ["x", "y"])
def test_an_observer_that_raises_is_named_not_the_op(at):
    g = mg.Graph()
    x = g.input("x")
    other = g.input("other")
    y = mg.ops.multiply(other if at == "y" else x, 2.0, name="y")
    with mg.plugins.enabled(_Raising()):
        with pytest.raises(mg.PluginError) as e:
            g.forward(y, {"x": 1.0, "other": 1.0} if at == "y" else {"x": 1.0})
    text = str(e.value)
    assert "_Raising" in text and "mpgraph_node_value" in text and f"node '{at}'" in text
    assert "forward raised" not in text
    assert float(g.forward(y, {"x": 1.0, "other": 1.0} if at == "y" else {"x": 1.0})[y]) == 2.0


def test_a_message_observer_that_raises_is_named():
    class Bad:
        @mg.hookimpl
        def mpgraph_message(self, parent, child, message):
            raise KeyError("oops")

    g = mg.Graph()
    x = g.input("x")
    y = x * 3.0
    with mg.plugins.enabled(Bad()):
        with pytest.raises(mg.PluginError, match="Bad.*mpgraph_message"):
            g.forward(y, {"x": 1.0}).backward(y)


def test_needs_given_as_tuples_is_a_plugin_error():
    with pytest.raises(mg.PluginError, match="needs entry 0 must be a string"):
        mg.Op("rel_needs", lambda x: x, vjp=(lambda g, ans, x: g,), needs=(("x",),))


def test_a_forward_returning_a_list_is_blamed_on_its_op():
    class Listy:
        @mg.hookimpl
        def mpgraph_ops(self):
            return [
                mg.Op(
                    "rel_listy",
                    lambda x: [1.0, 2.0],
                    vjp=(lambda g, ans, x: g,),
                    shape=lambda s: (2,),
                )
            ]

    name = mg.plugins.register(Listy())
    try:
        g = mg.Graph()
        x = g.input("x")
        y = mg.ops.sum(mg.ops.rel_listy(x))
        with pytest.raises(
            mg.OpError,
            match="op 'rel_listy' at node 'rel_listy_1': forward returned a list, not an array",
        ):
            g.grad(y, wrt=x, feed={"x": 1.0})  # sum's vjp reads the list's shape
    finally:
        mg.plugins.unregister(name)


def test_a_plugin_without_hookimpl_markers_is_refused():
    class Unmarked:
        def mpgraph_ops(self):
            return []

    with pytest.raises(mg.PluginError, match="must be marked with @mg.hookimpl"):
        mg.plugins.register(Unmarked())
    assert "Unmarked" not in [n for n, _ in mg.plugins.plugin_manager().list_name_plugin()]


def test_grad_of_a_function_of_a_dict_is_a_dict_and_a_bad_leaf_says_so():
    assert mg.grad(lambda d: d["a"] * 2.0)({"a": 1.0}) == {"a": 2.0}
    with pytest.raises(
        mg.MpgraphError, match=r"argument 0 leaf \['b'\]\['c'\] of <lambda> is object"
    ):
        mg.grad(lambda d: d["a"] * 2.0)({"a": 1.0, "b": {"c": object()}})


def test_messages_and_freed_signals_say_why_they_are_missing():
    g = mg.Graph()
    x = g.input("x")
    h = mg.ops.tanh(x, name="h")
    y = h * 2.0
    run = g.forward(y, {"x": 0.5}).backward(y)
    with pytest.raises(mg.MpgraphError, match="keep_messages=True"):
        run.messages[("x", "h", 0)]
    assert not run.has_messages
    assert run.backward(y, keep_messages=True).has_messages
    run = g.forward(y, {"x": 0.5}).backward(y, wrt=[x], keep=False)
    with pytest.raises(mg.MpgraphError, match="'h' was freed.*keep=True"):
        run.grad(h)
    assert float(run.grad(x)) == pytest.approx(2 * (1 - np.tanh(0.5) ** 2))


# -- building ---------------------------------------------------------------------------------


def test_an_input_shape_with_minus_one_is_refused():
    g = mg.Graph()
    with pytest.raises(mg.GraphError, match=r"shape \(-1, 3\) has the dim -1"):
        g.input("x", shape=(-1, 3))
    with pytest.raises(mg.GraphError, match="sequence of ints"):
        g.input("x", shape="abc")
    assert g.input("x", shape=(None, 3)).shape == (None, 3)


def test_a_reshape_to_non_ints_is_refused_when_built():
    g = mg.Graph()
    h = g.input("x", shape=(2, 3)) * 2.0
    for bad in [(2, "3"), "abc", 6.0]:
        with pytest.raises(mg.ShapeError, match="sequence of ints"):
            mg.ops.reshape(h, bad)
    assert mg.ops.reshape(h, (np.int64(3), -1)).shape == (3, 2)


def test_a_reshape_of_a_node_of_unknown_shape_is_checked_when_built(tmp_path):
    g = mg.Graph()
    h = g.input("x") * 2.0  # no shape declared: the shape rule cannot run yet
    for reshape in (mg.ops.reshape, np.reshape, lambda a, s: a.reshape(s)):
        with pytest.raises(mg.ShapeError, match="sequence of ints"):
            reshape(h, "abc")
    y = mg.ops.reshape(h, (3, -1))
    mg.save(g, tmp_path / "net")  # what was accepted saves and loads
    g2, _ = mg.load(tmp_path / "net.json")
    assert g2.forward(g2[y.name], {"x": np.ones(6)})[g2[y.name]].shape == (3, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: bool(x),
        lambda x: np.median(x),
        lambda x: mg.ops.tanh(np.ones(2), name="t"),
        lambda x: len(mg.Graph().input("u")),
    ],
)
def test_errors_the_docs_promise_are_mpgraph_errors(call):
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    with pytest.raises(mg.MpgraphError):
        call(x)


def test_tree_mismatches_are_mpgraph_errors():
    with pytest.raises(mg.TreeError):
        mg.tree.tree_map(lambda a, b: a + b, {"a": 1}, {"b": 1})


# -- the command line --------------------------------------------------------------------------------


def _env():
    path = os.pathsep.join(
        [str(ROOT)]
        + [str(p) for p in (ROOT / "plugins").iterdir()]
        + [os.environ.get("PYTHONPATH", "")]
    )
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.parametrize(
    "command, reader",
    [("plugins", "head -1"), ("plugins", "true"), ("check-ops tanh add multiply", "true")],
)
def test_a_closed_pipe_ends_the_command_quietly(command, reader):
    # `true` reads nothing and exits at once: mpgraph's first write meets a closed pipe
    done = subprocess.run(
        f"{sys.executable} -m mpgraph {command} | {reader}",
        shell=True,
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    assert done.stdout.count("\n") == (1 if reader == "head -1" else 0)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_render_to_standard_output(saved, capsysbinary, tmp_path, monkeypatch):
    json_path, _ = saved
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(json_path), "--format", "dot", "--out", "-"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"digraph") and b"tanh" in out
    assert not (tmp_path / "-").exists()
