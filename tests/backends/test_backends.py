"""Graphs on another array library: values stay there through forward, backward, freeing, forward
mode and the optimizers; parameters move on the first run; mixed or non-dispatching feeds are
refused by name; pictures copy to the host and say so."""

from __future__ import annotations

import array_api_strict
import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import load_digits

import mpgraph as mg
from mpgraph.backend import NUMPY, add_at, library_named, library_of, to_numpy
from mpgraph.errors import FeedError, GraphError
from mpgraph.training import optim


def _mlp_graph(seed=0):
    g = mg.Graph()
    x = g.input("x", shape=(None, 4))
    t = g.input("t", shape=(None,), dtype=np.int64)
    w1 = g.param("w1", np.random.default_rng(seed).standard_normal((4, 5)))
    b1 = g.param("b1", np.zeros(5))
    w2 = g.param("w2", np.random.default_rng(seed + 1).standard_normal((5, 3)))
    logits = mg.ops.tanh(x @ w1 + b1) @ w2
    loss = mg.ops.cross_entropy(logits, t, name="loss")
    return g, loss


X = np.random.default_rng(5).standard_normal((6, 4))
T = np.array([0, 2, 1, 1, 0, 2])


def test_gradients_on_dask_are_dask_arrays_equal_to_numpy():
    g_np, loss_np = _mlp_graph()
    want = g_np.grad(loss_np, feed={"x": X, "t": T})
    g, loss = _mlp_graph()
    got = g.grad(loss, feed={"x": da.from_array(X), "t": da.from_array(T)})
    assert g.library.name == "dask"
    for w, gr in zip(want, got):
        assert isinstance(gr, da.Array)
        np.testing.assert_allclose(gr.compute(), w, rtol=1e-12, atol=1e-14)


def test_parameters_move_on_the_first_run_and_stay():
    g, loss = _mlp_graph()
    assert all(type(p.value) is np.ndarray for p in g.params())
    run = g.forward(loss, {"x": da.from_array(X), "t": da.from_array(T)})
    assert run.library.name == "dask"
    assert all(isinstance(p.value, da.Array) for p in g.params())
    # a NumPy feed now: refused, naming the graph's library, the input and the way back
    with pytest.raises(FeedError, match=r"live in dask.*input 'x' is fed a numpy array.*g.to"):
        g.forward(loss, {"x": X, "t": T})
    # g.to moves it back, and NumPy runs give NumPy's values again
    g.to("numpy")
    assert all(type(p.value) is np.ndarray and not p.value.flags.writeable for p in g.params())
    value = g.forward(loss, {"x": X, "t": T})[loss]
    np.testing.assert_allclose(value, run[loss].compute(), rtol=1e-13)


def test_set_param_on_a_moved_graph_keeps_the_library():
    g, loss = _mlp_graph()
    g.forward(loss, {"x": da.from_array(X), "t": da.from_array(T)})
    g.set_param("b1", np.ones(5))  # a NumPy value goes where the graph lives
    assert isinstance(g["b1"].value, da.Array)
    new = da.from_array(np.full(5, 2.0))
    g.set_param("b1", new)
    assert isinstance(g["b1"].value, da.Array) and g["b1"].value is not new
    np.testing.assert_array_equal(g["b1"].value.compute(), np.full(5, 2.0))


def test_feeds_of_two_libraries_are_refused_naming_both():
    g, loss = _mlp_graph()
    with pytest.raises(FeedError, match=r"input 'x' is a dask array and input 't' a numpy array"):
        g.forward(loss, {"x": da.from_array(X), "t": T})


def test_python_numbers_and_lists_go_with_the_run_library():
    g = mg.Graph()
    x, s = g.input("x", shape=(3,)), g.input("s")
    y = mg.ops.sum(x * s)
    run = g.forward(y, {"x": da.from_array(np.arange(3.0)), "s": 2.0})
    assert isinstance(run[s], da.Array) and float(run[y].compute()) == 6.0
    run = g.forward(y, {"x": [1.0, 2.0, 3.0], "s": 2.0})  # the graph has no arrays: any library
    assert float(run[y]) == 12.0


def test_an_array_without_the_dispatch_protocol_is_refused_not_copied():
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    y = mg.ops.sum(x * x)
    strict = array_api_strict.asarray([1.0, 2.0])
    with pytest.raises(
        FeedError, match=r"input 'x' is of type array_api_strict\..*dispatch protocol"
    ):
        g.forward(y, {"x": strict})


def test_freed_values_on_dask_become_dask_stand_ins():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    u = x * 2.0
    y = mg.ops.sum(mg.ops.exp(u))  # exp's vjp reads its output, not u
    run = mg.Run.for_gradients(g.schedule(y), y, [x], {"x": da.from_array(np.zeros(3))})
    assert isinstance(run[u], da.Array) and run[u].shape == (3,)
    assert np.isnan(run[u].compute()).all()  # a freed value reads as NaN, as on NumPy
    np.testing.assert_allclose(run.grad(x).compute(), 2 * np.ones(3))


def test_forward_mode_on_dask():
    g = mg.Graph()
    w = g.input("w", shape=(2,))
    z = mg.ops.sum(w * w + 3.0 * w)
    run = g.forward(z, {"w": da.from_array(np.array([1.0, 2.0]))}).jvp({w: np.array([1.0, 0.0])})
    assert isinstance(run.tangent(z), da.Array)
    assert float(run.tangent(z).compute()) == 5.0  # (2w + 3) . v at w = (1, 2), v = e1


def test_mg_grad_traces_dask_arguments():
    def f(x):
        return mg.ops.sum(mg.ops.tanh(x) ** 2)

    x = np.array([0.3, -1.2, 2.0])
    got = mg.grad(f)(da.from_array(x))
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-12)


def test_training_on_dask_follows_numpy_step_for_step():
    data, labels = load_digits(return_X_y=True)
    data, labels = data[:64] / 16, labels[:64]
    losses = {}
    for lib in ("numpy", "dask"):
        g = mg.Graph()
        x = g.input("x", shape=(None, 64))
        t = g.input("t", shape=(None,), dtype=np.int64)
        out = mg.layers.MLP([64, 16, 10], rng=np.random.default_rng(0))(x)
        loss = mg.ops.cross_entropy(out, t)
        opt = optim.Optimizer.for_graph(optim.adam(1e-2), g)
        feed = {"x": data, "t": labels}
        if lib == "dask":
            feed = {k: da.from_array(v) for k, v in feed.items()}
        losses[lib] = [opt.minimize(loss, feed) for _ in range(4)]
        if lib == "dask":  # the parameters and Adam's moments stayed on Dask
            assert all(isinstance(p.value, da.Array) for p in g.params())
            assert all(isinstance(v, da.Array) for v in optim.tree_leaves(opt.state["slots"]))
    np.testing.assert_allclose(losses["dask"], losses["numpy"], rtol=1e-12)
    assert losses["numpy"][-1] < losses["numpy"][0]


def test_pictures_copy_to_the_host_and_say_where_values_lived():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.ones(3))
    y = mg.ops.sum(mg.ops.tanh(w * x), name="y")
    run = g.forward(y, {"x": da.from_array(np.arange(3.0))}).backward(y, keep_messages=True)
    source = mg.render(run).source
    assert "values in dask" in source
    host = g.forward(y, {"x": da.from_array(np.arange(3.0))})
    assert f"{np.sum(np.tanh(np.arange(3.0))):.4g}" in mg.render(host).source


def test_add_at_on_dask_sums_repeated_indices_as_numpy():
    a = np.arange(12.0).reshape(4, 3)
    index = (np.array([0, 3, 0, 0]), slice(None))
    values = np.random.default_rng(0).standard_normal((4, 3))
    want = a.copy()
    np.add.at(want, index, values)
    got = add_at(da.from_array(a), index, da.from_array(values))
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), want, rtol=1e-14)


def test_libraries_by_name_and_errors():
    assert library_named("numpy") is NUMPY
    assert library_named("dask") == library_of(da.zeros(2))
    assert library_of(np.float32(1.0)) is NUMPY and library_of([1, 2]) is NUMPY
    assert to_numpy(da.ones(2)).tolist() == [1.0, 1.0]
    with pytest.raises(GraphError, match="array library 'no_such_library' is not installed"):
        mg.Graph().to("no_such_library")
    with pytest.raises(GraphError, match="does not implement NumPy's dispatch protocol"):
        mg.Graph().to("array_api_strict")


def test_saving_a_graph_that_lives_on_dask_writes_numpy_arrays(tmp_path):
    g, loss = _mlp_graph()
    run = g.forward(loss, {"x": da.from_array(X), "t": da.from_array(T)})
    mg.save(g, tmp_path / "net.json", run)
    loaded = mg.load(tmp_path / "net.json")
    back = loaded.graph if hasattr(loaded, "graph") else loaded[0]
    assert back.library is NUMPY
    for p in g.params():
        np.testing.assert_array_equal(back[p.name].value, p.value.compute())


def test_fit_with_batch_norm_on_dask_data_follows_numpy():
    data, labels = load_digits(return_X_y=True)
    data, labels = data[:200] / 16, labels[:200]
    hists, graphs = {}, {}
    for lib in ("numpy", "dask"):
        g = mg.Graph()
        x = g.input("x", shape=(None, 64))
        t = g.input("y", shape=(None,), dtype=np.int64)
        rng = np.random.default_rng(0)
        h = mg.ops.relu(mg.layers.BatchNorm(16, name="bn")(mg.layers.Linear(64, 16, rng=rng)(x)))
        loss = mg.ops.cross_entropy(mg.layers.Linear(16, 10, rng=rng)(h), t)
        opt = optim.Optimizer.for_graph(optim.adam(1e-2), g)
        both = (data, labels)
        if lib == "dask":
            both = (da.from_array(data), da.from_array(labels))
        hists[lib] = mg.fit(
            opt,
            loss,
            both,
            inputs=("x", "y"),
            epochs=2,
            batch_size=50,
            rng=np.random.default_rng(1),
            val=both,
            progress=False,
        )
        graphs[lib] = g
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(hists["dask"][key], hists["numpy"][key], rtol=1e-10)
    stats = graphs["dask"]["bn/running_mean"].value
    assert isinstance(stats, da.Array)  # the running statistics stayed on Dask
    np.testing.assert_allclose(
        stats.compute(), graphs["numpy"]["bn/running_mean"].value, rtol=1e-10
    )


def test_graphs_move_by_library_name_or_module_not_by_device():
    g = mg.Graph()
    g.param("w", np.ones(3))
    assert g.to(da).library.name == "dask"  # the module, as in docs/backends.md
    assert g.to(np).library is NUMPY
    assert g.to("dask.array").library.name == "dask"
    with pytest.raises(GraphError, match=r"'cuda' is a device, not an array library.*'cupy'"):
        g.to("cuda")


def test_mg_grad_on_dask_computes_nothing_until_asked_and_jvp_stays_on_dask():
    computed = []

    def block(b):
        computed.append(b.size)
        return b

    x = da.ones((4, 10), chunks=(1, 10)).map_blocks(block, dtype=float)
    before = len(computed)  # Dask calls the function once on an empty block to learn its type
    grad = mg.grad(lambda a: mg.ops.sum(a**2))(x)
    assert computed[before:] == [] and isinstance(grad, da.Array)
    np.testing.assert_allclose(grad.compute(), 2 * np.ones((4, 10)))
    out, tangent = mg.jvp(lambda a: mg.ops.sum(a**2), (x,), (da.ones((4, 10)),))
    assert isinstance(out, da.Array) and isinstance(tangent, da.Array)
    assert float(tangent.compute()) == 80.0  # 2 x . v with x = v = ones(4, 10)
    hessian = mg.hessian(lambda a: mg.ops.sum(a**3))(da.from_array(np.array([1.0, 2.0])))
    np.testing.assert_allclose(hessian, np.diag([6.0, 12.0]))  # assembled on the host


def test_non_dispatching_arrays_are_refused_wherever_they_enter():
    strict = array_api_strict.asarray([1.0, 2.0])
    with pytest.raises(mg.MpgraphError, match=r"argument 0 of <lambda> is of type array_api"):
        mg.grad(lambda a: mg.ops.sum(a * a))(strict)
    g = mg.Graph()
    with pytest.raises(GraphError, match=r"parameter 'w' is of type array_api_strict"):
        g.param("w", strict)
    w = g.param("w", np.ones(2))
    with pytest.raises(GraphError, match=r"parameter 'w' is of type array_api_strict"):
        g.set_param(w, strict)
    with pytest.raises(GraphError, match=r"a constant is of type array_api_strict"):
        g.constant(strict)


def test_the_optimizer_follows_the_graph_back_to_numpy():
    g = mg.Graph()
    x = g.input("x", shape=(None, 3))
    g.param("w", np.ones((3, 1)))
    loss = mg.ops.mean((x @ g["w"]) ** 2)
    opt = optim.Optimizer.for_graph(optim.adam(0.01), g)
    opt.minimize(loss, {"x": da.ones((8, 3))})
    assert isinstance(opt.params["w"], da.Array)
    g.to("numpy")
    opt.minimize(loss, {"x": np.ones((8, 3))})
    assert type(opt.params["w"]) is np.ndarray
    assert all(type(v) is np.ndarray for v in optim.tree_leaves(opt.state["slots"]))


def test_mg_grad_names_pytree_leaves_by_their_path():
    params = {"w": np.ones(3), "b": da.ones(3)}
    with pytest.raises(
        FeedError, match=r"input 'arg0\['b'\]' is a dask array and input 'arg0\['w'\]'"
    ):
        mg.grad(lambda p: mg.ops.sum(p["w"] * p["b"]))(params)
