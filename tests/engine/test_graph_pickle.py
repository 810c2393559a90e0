"""Graphs that travel: pickled, copied, and unpickled in another process (ops found by name)."""

import copy
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mpgraph as mg


def mlp(dtype=np.float64):
    rng = np.random.default_rng(0)
    g = mg.Graph()
    x = g.input("x", shape=(None, 4), dtype=dtype)
    y = g.input("y", shape=(None,))
    with g.scope("layer1"):
        W = g.param("W", rng.standard_normal((4, 5)).astype(dtype))
        h = mg.ops.tanh(x @ W + g.param("b", np.zeros(5, dtype)))
    logits = h[:, 1:] * 0.5  # a slice attribute, a Python constant
    loss = mg.ops.softmax_cross_entropy(logits, y) + 1e-3 * mg.ops.sum(W * W, axis=(0, 1))
    return g, loss


def feed(dtype=np.float64):
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((6, 4)).astype(dtype), "y": np.array([0, 1, 2, 3, 0, 1])}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_pickled_graph_has_the_same_nodes_and_gradients(dtype):
    g, loss = mlp(dtype)
    g2, loss2 = pickle.loads(pickle.dumps((g, loss)))
    assert loss2.graph is g2 and loss2.name == loss.name
    assert [(n.name, n.kind, n.op and n.op.name, n.attrs, n.shape, n.dtype) for n in g] == [
        (n.name, n.kind, n.op and n.op.name, n.attrs, n.shape, n.dtype) for n in g2
    ]
    assert g2["getitem_1"].attrs["index"] == (slice(None), slice(1, None))
    for a, b in zip(g.grad(loss, feed=feed(dtype)), g2.grad(loss2, feed=feed(dtype))):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_a_copy_is_independent_of_the_original():
    g, _ = mlp()
    g2 = copy.deepcopy(g)
    before = g2["layer1/W"].value.copy()
    g.set_param("layer1/W", np.zeros((4, 5)))
    np.testing.assert_array_equal(g2["layer1/W"].value, before)
    assert g2["layer1/W"].value is not g["layer1/W"].value
    assert not g2["layer1/W"].value.flags.writeable  # parameters stay read-only
    # new nodes get fresh names in the copy, as in the original
    assert (g2["layer1/W"] * 2.0).name == (g["layer1/W"] * 2.0).name


def run_elsewhere(tmp_path, data, code):
    """Unpickle ``data`` in a fresh Python process and run ``code`` there (``obj`` is the
    unpickled object); returns the completed process."""
    path = tmp_path / "graph.pkl"
    path.write_bytes(data)
    script = textwrap.dedent(f"""
        import pickle, sys
        import numpy as np
        try:
            obj = pickle.loads(open({str(path)!r}, "rb").read())
        except Exception as e:
            print(type(e).__name__, e, file=sys.stderr)
            sys.exit(3)
    """) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


def test_ops_of_an_installed_plugin_are_found_by_their_entry_point_in_another_process(tmp_path):
    g = mg.Graph()
    x = g.input("x", shape=(None, 2, 6, 6))
    w = g.param("w", np.random.default_rng(0).standard_normal((3, 2, 3, 3)))
    loss = mg.ops.sum(mg.ops.max_pool2d(mg.ops.relu(mg.ops.conv2d(x, w, padding=1)), 2))
    xv = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    expected = g.grad(loss, feed={"x": xv})[0]
    done = run_elsewhere(
        tmp_path,
        pickle.dumps((g, loss, xv)),
        """
        g, loss, xv = obj
        print(g[loss].args[0].args[0].args[0].op.plugin)
        np.save({out!r}, g.grad(loss, feed={{"x": xv}})[0])
    """.format(out=str(tmp_path / "grad.npy")),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["conv"]  # conv2d, from the entry point named conv
    np.testing.assert_array_equal(np.load(tmp_path / "grad.npy"), expected)


class Cube:
    @mg.hookimpl
    def mpgraph_ops(self):
        return [
            mg.Op(
                "cube_here_only",
                lambda x: x**3,
                vjp=(lambda g, ans, x: 3 * g * x**2,),
                shape=lambda s: s,
            )
        ]


def test_an_op_registered_only_in_the_sending_process_is_named_where_it_is_missing(tmp_path):
    name = mg.plugins.register(Cube(), name="cube-plugin")
    try:
        g = mg.Graph()
        y = mg.ops.cube_here_only(g.input("x"), name="y")
        data = pickle.dumps(g)
        assert pickle.loads(data)["y"].op.name == "cube_here_only"  # here it is known
    finally:
        mg.plugins.unregister(name)
    with pytest.raises(mg.UnknownOpError) as err:
        pickle.loads(data)
    assert "op 'cube_here_only' at node 'y'" in str(err.value)
    assert "plugin 'cube-plugin'" in str(err.value)
    done = run_elsewhere(tmp_path, data, "")
    assert done.returncode == 3
    assert "UnknownOpError" in done.stderr and "plugin 'cube-plugin'" in done.stderr
    del y


def test_a_node_pickled_without_its_graph_says_so():
    # a handle refers to its graph weakly: unpickled alone, nothing keeps the graph alive
    g, loss = mlp()
    loss2 = pickle.loads(pickle.dumps(loss))
    with pytest.raises(mg.GraphError, match="node 'add_1': its graph no longer exists"):
        _ = loss2.graph
    assert loss.graph is g  # the original is untouched
