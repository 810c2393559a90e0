"""The bad-input catalogue: every public entry point, given wrong types, shapes, names or a
damaged file, raises an MpgraphError that names what was wrong; it changes nothing the caller
passed in; and the graph gives the same gradients as before at the next correct call."""

import json
from pathlib import Path

import numpy as np
import pytest

import mpgraph as mg


class Ctx:
    """A small model, the caller's arrays, and a saved copy of it to damage."""

    def __init__(self, tmp: Path) -> None:
        self.X = np.linspace(-1, 1, 12).reshape(4, 3)
        self.T = np.zeros((4, 2))
        self.W0 = np.arange(6.0).reshape(3, 2) / 10
        self.user = [self.X, self.T, self.W0]
        self.copies = [a.copy() for a in self.user]
        g = self.g = mg.Graph()
        self.x, self.t = g.input("x", shape=(None, 3)), g.input("t", shape=(None, 2))
        self.W, self.b = g.param("W", self.W0), g.param("b", np.zeros(2))
        self.y = mg.ops.tanh(self.x @ self.W + self.b, name="y")
        self.L = mg.ops.mean((self.y - self.t) ** 2, name="L")
        self.feed = {"x": self.X, "t": self.T}
        self.run = self.g.forward(self.L, self.feed)
        self.tmp = tmp
        self.json, self.npz = mg.save(
            g, tmp / "model", self.g.forward(self.L, self.feed).backward()
        )

    def grads(self):
        return self.g.grad(self.L, feed=self.feed)

    def damage_json(self, change):
        doc = json.loads(self.json.read_text())
        change(doc)
        self.json.write_text(json.dumps(doc))
        return self.json


def _other_node():
    other = mg.Graph()
    _other_node.keep = other  # alive: the node's graph exists, and is another one
    return other.input("x", shape=(None, 3))


# (what, call, error class, words the message must contain)
CASES = [
    # building
    ("input name not a string", lambda c: c.g.input(3), mg.GraphError, "non-empty string"),
    ("input name taken", lambda c: c.g.input("x"), mg.GraphError, "'x' is already used"),
    ("input shape -1", lambda c: c.g.input("u", shape=(-1, 3)), mg.GraphError, "-1"),
    (
        "input shape a word",
        lambda c: c.g.input("u", shape="abc"),
        mg.GraphError,
        "sequence of ints",
    ),
    (
        "input dtype unknown",
        lambda c: c.g.input("u", dtype="nonsense"),
        mg.GraphError,
        "'nonsense'",
    ),
    ("input dtype complex", lambda c: c.g.input("u", dtype=complex), mg.GraphError, "complex128"),
    ("param a word", lambda c: c.g.param("p", "abc"), mg.GraphError, "'p' needs a numeric value"),
    (
        "param ragged",
        lambda c: c.g.param("p", [[1.0], [1.0, 2.0]]),
        mg.GraphError,
        "'p' is not an array",
    ),
    ("param None", lambda c: c.g.param("p", None), mg.GraphError, "NoneType"),
    ("param complex", lambda c: c.g.param("p", [1j]), mg.GraphError, "complex"),
    ("constant a word", lambda c: c.g.constant("abc"), mg.GraphError, "str"),
    ("constant of objects", lambda c: c.g.constant(np.array([None])), mg.GraphError, "object"),
    ("apply unknown op", lambda c: c.g.apply("tahn", [c.x]), mg.UnknownOpError, "'tanh'"),
    (
        "apply arity",
        lambda c: c.g.apply("tanh", [c.x, c.x]),
        mg.GraphError,
        "takes 1 array argument, got 2",
    ),
    (
        "apply args not a list",
        lambda c: c.g.apply("tanh", c.x),
        mg.ArityError,
        "list of the op's array",
    ),
    (
        "apply unknown attribute",
        lambda c: c.g.apply("sum", [c.x], {"axes": 0}),
        mg.ArityError,
        "'axes'",
    ),
    (
        "apply another graph's node",
        lambda c: c.g.apply("tanh", [_other_node()]),
        mg.GraphError,
        "another graph",
    ),
    (
        "op shapes do not align",
        lambda c: c.x @ np.ones((5, 2)),
        mg.ShapeError,
        "(None, 3) and (5, 2)",
    ),
    ("op axis out of range", lambda c: mg.ops.sum(c.x, axis=5), mg.ShapeError, "axis 5"),
    ("op unknown attribute", lambda c: mg.ops.sum(c.x, axes=0), mg.ArityError, "'axes'"),
    (
        "op too few arguments",
        lambda c: mg.ops.add(c.x),
        mg.ArityError,
        "takes 2 array arguments, got 1",
    ),
    (
        "op attribute given a node",
        lambda c: mg.ops.sum(c.x, axis=c.b),
        mg.ArityError,
        "attribute 'axis'",
    ),
    ("op name= on arrays", lambda c: mg.ops.tanh(c.X, name="t"), mg.UsageError, "name="),
    ("eager op shapes", lambda c: mg.ops.matmul(c.X, c.X), mg.ShapeError, "(4, 3) and (4, 3)"),
    ("eager norm ord", lambda c: mg.ops.norm(c.X, 2), mg.ShapeError, "spectral"),
    ("unknown op function", lambda c: mg.ops.tahn, mg.UnknownOpError, "'tahn'"),
    (
        "reshape to words",
        lambda c: mg.ops.reshape(c.y, (2, "3")),
        mg.ShapeError,
        "sequence of ints",
    ),
    ("index out of range", lambda c: c.W[5], mg.ShapeError, "index 5"),
    ("bool of a node", lambda c: bool(c.y), mg.UsageError, "truth value"),
    ("float of a node", lambda c: float(c.L), mg.UsageError, "run[node]"),
    ("len of an unknown dim", lambda c: len(c.t), mg.UsageError, "'t' has no known length"),
    ("numpy function with no op", lambda c: np.median(c.y), mg.UsageError, "median"),
    ("np.size of an unknown dim", lambda c: np.size(c.x), mg.ShapeError, "'x'"),
    ("a word added to a node", lambda c: c.y + "abc", mg.GraphError, "str"),
    ("complex constant", lambda c: c.y * 1j, mg.GraphError, "complex"),
    ("set_param wrong shape", lambda c: c.g.set_param(c.W, np.ones(3)), mg.ShapeError, "(3, 2)"),
    (
        "set_param on an input",
        lambda c: c.g.set_param(c.x, np.ones(3)),
        mg.GraphError,
        "not a parameter",
    ),
    ("set_param a word", lambda c: c.g.set_param(c.W, "abc"), mg.GraphError, "numeric"),
    ("unknown node name", lambda c: c.g["nosuch"], mg.GraphError, "'nosuch'"),
    ("from_networkx not a graph", lambda c: mg.Graph.from_networkx(3), mg.GraphError, "DiGraph"),
    # running
    ("forward unknown output", lambda c: c.g.forward("nosuch", c.feed), mg.GraphError, "'nosuch'"),
    ("forward no outputs", lambda c: c.g.forward([], c.feed), mg.GraphError, "at least one output"),
    (
        "forward outputs a number",
        lambda c: c.g.forward(3, c.feed),
        mg.GraphError,
        "outputs must be",
    ),
    ("feed missing", lambda c: c.g.forward(c.L, {"x": c.X}), mg.FeedError, "'t' is not fed"),
    (
        "feed wrong shape",
        lambda c: c.g.forward(c.L, {"x": c.X.T, "t": c.T}),
        mg.FeedError,
        "(3, 4)",
    ),
    (
        "feed of words",
        lambda c: c.g.forward(c.L, {"x": np.array([["a"] * 3]), "t": c.T}),
        mg.FeedError,
        "'x'",
    ),
    (
        "feed ragged",
        lambda c: c.g.forward(c.L, {"x": [[1.0], [1.0, 2.0]], "t": c.T}),
        mg.FeedError,
        "'x' is not an array",
    ),
    (
        "feed complex",
        lambda c: c.g.forward(c.L, {"x": c.X * 1j, "t": c.T}),
        mg.FeedError,
        "complex",
    ),
    (
        "feed a list of pairs",
        lambda c: c.g.forward(c.L, [("x", c.X), ("t", c.T)]),
        mg.FeedError,
        "mapping",
    ),
    (
        "feed names a param",
        lambda c: c.g.forward(c.L, {**c.feed, "W": c.W0}),
        mg.FeedError,
        "g.set_param",
    ),
    ("feed keyed by a number", lambda c: c.g.forward(c.L, {0: c.X, "t": c.T}), mg.FeedError, "int"),
    (
        "feed keyed by another graph's input",
        lambda c: c.g.forward(c.L, {_other_node(): c.X, "t": c.T}),
        mg.FeedError,
        "another graph",
    ),
    (
        "grad wrt unknown",
        lambda c: c.g.grad(c.L, wrt=["nosuch"], feed=c.feed),
        mg.GraphError,
        "'nosuch'",
    ),
    (
        "grad wrt a number",
        lambda c: c.g.grad(c.L, wrt=3, feed=c.feed),
        mg.GraphError,
        "wrt must be",
    ),
    ("grad of a non-scalar", lambda c: c.g.grad(c.y, feed=c.feed), mg.ShapeError, "needs a seed"),
    (
        "run of an unknown node",
        lambda c: c.run["nosuch"],
        mg.GraphError,
        "'nosuch' was not computed",
    ),
    ("run of another graph's node", lambda c: c.run[_other_node()], mg.GraphError, "another graph"),
    ("run read by a number", lambda c: c.run[3], mg.GraphError, "int"),
    (
        "run.grad before backward",
        lambda c: c.g.forward(c.L, c.feed).grad(c.W),
        mg.MpgraphError,
        "run.backward",
    ),
    (
        "seed of the wrong shape",
        lambda c: c.g.forward(c.L, c.feed).backward(c.L, seed=np.ones(3)),
        mg.ShapeError,
        "(3,)",
    ),
    (
        "seed a word",
        lambda c: c.g.forward(c.y, c.feed).backward(c.y, seed="ones"),
        mg.FeedError,
        "'ones'",
    ),
    (
        "backward from a node not computed",
        lambda c: c.g.forward(c.y, c.feed).backward(c.L),
        mg.GraphError,
        "'L'",
    ),
    (
        "messages not kept",
        lambda c: c.g.forward(c.L, c.feed).backward(c.L).messages,
        mg.MpgraphError,
        "keep_messages=True",
    ),
    (
        "signal freed",
        lambda c: c.g.forward(c.L, c.feed).backward(c.L, wrt=[c.W], keep=False).grad(c.y),
        mg.MpgraphError,
        "'y' was freed",
    ),
    # tracing
    (
        "mg.grad argnums",
        lambda c: mg.grad(lambda a: a * 2.0, argnums=3)(1.0),
        mg.MpgraphError,
        "argnums 3",
    ),
    ("mg.grad of an int", lambda c: mg.grad(lambda a: a * 2.0)(1), mg.MpgraphError, "1.0, not 1"),
    (
        "mg.grad of a dict with a str leaf",
        lambda c: mg.grad(lambda d: mg.ops.sum(d["W"]))({"W": c.W0, "name": "w"}),
        mg.MpgraphError,
        "leaf ['name'] of <lambda> is str",
    ),
    ("mg.grad of complex", lambda c: mg.grad(lambda a: a * 2.0)(1j), mg.MpgraphError, "complex"),
    (
        "mg.grad non-scalar",
        lambda c: mg.grad(lambda a: a * 2.0)(c.X),
        mg.MpgraphError,
        "shape (4, 3)",
    ),
    (
        "mg.grad returns a tuple",
        lambda c: mg.grad(lambda a: (a, a))(1.0),
        mg.MpgraphError,
        "has_aux",
    ),
    (
        "has_aux without aux",
        lambda c: mg.value_and_grad(lambda a: a * 2.0, has_aux=True)(1.0),
        mg.MpgraphError,
        "(loss, aux)",
    ),
    ("gradients wrt a number", lambda c: mg.gradients(c.L, [3]), mg.GraphError, "wrt entry"),
    ("gradients of a number", lambda c: mg.gradients(3, [c.W]), mg.GraphError, "graph node"),
    # plugins
    ("Op without a name", lambda c: mg.Op("", np.tanh, vjp=(None,)), mg.PluginError, "no name"),
    (
        "Op vjp not a tuple",
        lambda c: mg.Op("q", np.tanh, vjp=lambda g, ans, x: g),
        mg.PluginError,
        "tuple",
    ),
    (
        "Op needs as tuples",
        lambda c: mg.Op("q", np.tanh, vjp=(lambda g, ans, x: g,), needs=(("x",),)),
        mg.PluginError,
        "needs entry 0",
    ),
    (
        "Op needs a number",
        lambda c: mg.Op("q", np.tanh, vjp=(lambda g, ans, x: g,), needs=3),
        mg.PluginError,
        "needs must be",
    ),
    (
        "plugin without markers",
        lambda c: mg.plugins.register(type("NoMarks", (), {"mpgraph_ops": lambda self: []})()),
        mg.PluginError,
        "@mg.hookimpl",
    ),
    (
        "plugin redefining an op",
        lambda c: mg.plugins.register(
            type(
                "Dup",
                (),
                {"mpgraph_ops": mg.hookimpl(lambda self: [mg.Op("tanh", np.tanh, vjp=(None,))])},
            )()
        ),
        mg.PluginError,
        "'tanh'",
    ),
    ("unregister unknown", lambda c: mg.plugins.unregister("nosuch"), mg.PluginError, "'nosuch'"),
    # files
    ("save not a graph", lambda c: mg.save(3, c.tmp / "n"), mg.SaveError, "Graph"),
    (
        "save a function attribute",
        lambda c: mg.save(_lambda_graph(), c.tmp / "n"),
        mg.SaveError,
        "axis",
    ),
    ("save a run that is no run", lambda c: mg.save(c.g, c.tmp / "n", 3), mg.GraphError, "int"),
    ("load a number", lambda c: mg.load(3), mg.LoadError, "path"),
    ("load a missing file", lambda c: mg.load(c.tmp / "missing"), mg.LoadError, "no such file"),
    (
        "load invalid JSON",
        lambda c: (c.json.write_text("{nope"), mg.load(c.json)),
        mg.LoadError,
        "not valid JSON",
    ),
    (
        "load another format",
        lambda c: mg.load(c.damage_json(lambda d: d.update(format="x"))),
        mg.LoadError,
        "'format'",
    ),
    (
        "load an unknown op",
        lambda c: mg.load(c.damage_json(lambda d: d["nodes"][-1].update(op="nosuch"))),
        mg.LoadError,
        "nosuch",
    ),
    (
        "load attrs of the wrong type",
        lambda c: mg.load(
            c.damage_json(lambda d: d["nodes"][-1].update(attrs={"axis": {"$dict": [1]}}))
        ),
        mg.LoadError,
        "attribute 'axis'",
    ),
    (
        "load a ragged constant",
        lambda c: mg.load(
            c.damage_json(
                lambda d: d["nodes"].insert(
                    0, {"name": "k", "kind": "const", "value": [[1.0], [1.0, 2.0]]}
                )
            )
        ),
        mg.LoadError,
        "'k'",
    ),
    (
        "load run messages of the wrong type",
        lambda c: mg.load(c.damage_json(lambda d: d["run"].update(messages={"a": 1}))),
        mg.LoadError,
        "run messages",
    ),
    (
        "load deep nesting",
        lambda c: (c.json.write_text("[" * 100000 + "]" * 100000), mg.load(c.json)),
        mg.LoadError,
        "nested too deeply",
    ),
    (
        "load a truncated npz",
        lambda c: (c.npz.write_bytes(c.npz.read_bytes()[:40]), mg.load(c.json)),
        mg.LoadError,
        "damaged .npz",
    ),
    (
        "load a text npz",
        lambda c: (c.npz.write_text("hello"), mg.load(c.json)),
        mg.LoadError,
        "not a .npz",
    ),
    (
        "render an unknown view",
        lambda c: mg.render(c.g, view="sideways"),
        mg.GraphError,
        "'sideways'",
    ),
    ("render not a graph", lambda c: mg.render(3), mg.GraphError, "int"),
    # training and trees
    ("learning rate a word", lambda c: mg.optim.sgd("abc"), mg.UsageError, "learning rate"),
    (
        "trees that differ",
        lambda c: mg.tree.tree_map(lambda a, b: a, [1], [1, 2]),
        mg.TreeError,
        "differ",
    ),
    ("check_op arity", lambda c: mg.testing.check_op("tanh", [c.X, c.X]), mg.ArityError, "attrs"),
]


def _lambda_graph():
    g = mg.Graph()
    g.apply("sum", [g.input("z")], {"axis": lambda: 0})
    return g


@pytest.mark.filterwarnings("ignore:mpgraph. plugin problems")
@pytest.mark.parametrize("what, call, error, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named_changes_nothing_and_leaves_the_graph_usable(
    tmp_path, what, call, error, words
):
    c = Ctx(tmp_path)
    before = c.grads()
    with pytest.raises(error) as raised:
        call(c)
    assert isinstance(raised.value, mg.MpgraphError)
    message = str(raised.value)
    assert message.startswith("mpgraph: "), message
    assert words in message, f"{what}: {words!r} not in {message!r}"
    assert "Traceback" not in message
    for array, copy in zip(c.user, c.copies):  # the caller's arrays are untouched
        assert np.array_equal(array, copy)
    after = c.grads()  # the same graph, the same gradients
    for a, b in zip(before, after):
        assert np.array_equal(a, b)


def test_the_catalogue_covers_every_error_class():
    raised = {error for _, _, error, _ in CASES}
    classes = {
        mg.GraphError,
        mg.ArityError,
        mg.UnknownOpError,
        mg.ShapeError,
        mg.FeedError,
        mg.PluginError,
        mg.SaveError,
        mg.LoadError,
        mg.UsageError,
        mg.TreeError,
    }
    assert classes <= raised, classes - raised
