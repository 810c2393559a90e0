"""The explorer's data and page: what it ships is what the run computed, its layouts do not
overlap, its backward steps are the order the messages were sent, and the page is one file."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.cli import main as cli
from mpgraph.explorer.data import FULL_LIMIT, explorer_data, summarise
from mpgraph.explorer.layout import Box, lay_out

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "render_lectures", ROOT / "examples" / "render_lectures.py"
)
lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lectures)


def r4(x):
    return float(f"{x:.4g}")


@pytest.fixture(scope="module")
def logistic():
    return lectures.logistic()


@pytest.fixture(scope="module")
def units():
    return lectures.mlp_units(np.random.default_rng(6))


def by_name(data):
    return {n["name"]: (i, n) for i, n in enumerate(data["nodes"])}


def test_summaries_are_the_arrays_statistics():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 7))
    s = summarise(a)
    assert s["shape"] == [30, 7] and s["dtype"] == "float64" and "full" not in s  # 210 > 64
    assert s["mean"] == r4(a.mean()) and s["std"] == r4(a.std())
    assert (
        s["min"] == r4(a.min()) and s["max"] == r4(a.max()) and s["absmax"] == r4(np.abs(a).max())
    )
    counts, _ = np.histogram(a, bins=len(s["hist"]))
    assert s["hist"] == counts.tolist() and sum(s["hist"]) == a.size
    small = rng.normal(size=(4, 4))
    assert summarise(small)["full"] == [r4(v) for v in small.ravel()]
    assert len(summarise(np.zeros(FULL_LIMIT))["full"]) == FULL_LIMIT


def test_summaries_of_integers_zeros_and_nonfinite_entries():
    ints = summarise(np.arange(10, dtype=np.int64))
    assert (
        ints["min"] == 0 and ints["max"] == 9 and isinstance(ints["max"], int) and ints["sum"] == 45
    )
    assert ints["full"] == list(range(10)) and ints["text"] == "μ 4.5 [0, 9]"
    # a mean that cancels to rounding noise reads 0, not 8.7e-19
    centred = np.array([0.1, 0.2, 0.3]) - np.mean([0.1, 0.2, 0.3])
    assert summarise(centred)["mean"] == 0.0
    bad = summarise(np.array([1.0, np.nan, np.inf, 3.0, 5.0]))
    assert (bad["nan"], bad["inf"], bad["mean"], bad["max"]) == (1, 1, 3.0, 5.0)
    assert bad["full"][1:3] == ["NaN", "Inf"]
    json.dumps(bad, allow_nan=False)  # NaN travels as a string: the page's JSON stays valid
    assert summarise(np.float32(0.25))["full"] == 0.25 and summarise(None) is None


def test_nodes_edges_and_messages_are_the_runs(logistic):
    g, run = logistic
    data = explorer_data(g, run)
    assert [n["name"] for n in data["nodes"]] == [n.name for n in g]
    names = by_name(data)
    for node in g:
        entry = names[node.name][1]
        assert entry["value"]["full"] == r4(float(run[node]))
        signal = (
            run.signals[run.schedule.slot[node.name]] if node.name in run.schedule.slot else None
        )
        if signal is None:
            assert entry["signal"] is None
        else:
            assert entry["signal"]["full"] == r4(float(signal))
    assert len(data["edges"]) == sum(len(n.args) for n in g)
    nodes = data["nodes"]
    for parent, child, argnum, m in data["edges"]:
        key = (nodes[parent]["name"], nodes[child]["name"], argnum)
        assert g[key[1]].args[argnum].name == key[0]
        if key in run.messages:
            assert data["messages"][m]["full"] == r4(float(run.messages[key]))
        else:
            assert m == -1
    # w fans out to two uses: its signal is the sum of the two messages the page ships for it
    w = names["w"][0]
    into_w = [data["messages"][m]["full"] for p, _, _, m in data["edges"] if p == w and m >= 0]
    assert len(into_w) == 2
    assert np.isclose(sum(into_w), names["w"][1]["signal"]["full"], rtol=1e-3)
    assert np.isclose(names["w"][1]["signal"]["full"], 1.5 * run.grad("z") + 0.1 * 0.8, rtol=1e-3)


def test_steps_are_the_backward_pass_in_reverse_topological_order(logistic):
    g, run = logistic
    data = explorer_data(g, run)
    nodes, edges = data["nodes"], data["edges"]
    seeds = [nodes[i]["name"] for i in data["seeds"]]
    assert seeds == ["L_reg"]
    sent = set()
    for step in data["steps"]:
        node = step["node"]
        # every message into the sender has arrived before it sends: its signal is complete
        arriving = {k for k, e in enumerate(edges) if e[0] == node and e[3] >= 0}
        assert arriving <= sent
        assert step["edges"] and all(edges[k][1] == node for k in step["edges"])
        sent.update(step["edges"])
    assert sent == {k for k, e in enumerate(edges) if e[3] >= 0}  # every message, once
    order = [nodes[s["node"]]["name"] for s in data["steps"]]
    index = {n.name: n.index for n in g}
    assert [index[n] for n in order] == sorted((index[n] for n in order), reverse=True)


def test_forward_steps_are_the_ops_in_topological_order(logistic):
    g, run = logistic
    data = explorer_data(g, run)
    nodes = data["nodes"]
    known = {i for i, n in enumerate(nodes) if n["kind"] != "op"}  # fed, parameters, constants
    for i in data["forward"]:
        assert nodes[i]["kind"] == "op" and set(nodes[i]["args"]) <= known
        known.add(i)
    assert known == set(range(len(nodes)))  # every op of the run, once
    assert len(data["forward"]) == sum(n.kind == "op" for n in g)
    assert explorer_data(g)["forward"] == []  # no run, nothing to step through
    page = mg.explore(g, run, start="forward")
    assert page.data["start"] == "forward"
    with pytest.raises(mg.GraphError, match="forward pass needs a run"):
        mg.explore(g, start="forward")
    with pytest.raises(mg.GraphError, match="expected 'overview', 'steps' or 'forward'"):
        mg.explore(g, run, start="backward")


def overlaps(boxes):
    for i, (a, ax, ay, aw, ah) in enumerate(boxes):
        for b, bx, by, bw, bh in boxes[i + 1 :]:
            if abs(ax - bx) * 2 < aw + bw - 0.5 and abs(ay - by) * 2 < ah + bh - 0.5:
                return a, b
    return None


@pytest.mark.parametrize("engine", ["dot", "layered"])
def test_each_scope_is_laid_out_once_without_overlaps(units, engine):
    g, run = units
    data = explorer_data(g, run, engine=engine)
    scopes, nodes = data["scopes"], data["nodes"]
    assert [s["name"] for s in scopes[:4]] == ["", "hidden", "hidden/unit1", "hidden/unit2"]
    assert scopes[1]["count"] == sum(n["name"].startswith("hidden/") for n in nodes) == 210
    for k, s in enumerate(scopes):
        layout = s["layout"]
        assert layout["engine"] == (engine if len(layout["items"]) > 1 else "layered")
        direct = {f"n{i}" for i, n in enumerate(nodes) if n["scope"] == k}
        direct |= {f"s{j}" for j, t in enumerate(scopes) if t["parent"] == k}
        assert {key for key, _, _ in layout["items"]} == direct
        boxes = []
        for key, x, y in layout["items"]:
            o = nodes[int(key[1:])] if key[0] == "n" else scopes[int(key[1:])]
            assert -1 <= x - o["width"] / 2 and x + o["width"] / 2 <= layout["width"] + 1
            assert -1 <= y - o["height"] / 2 and y + o["height"] / 2 <= layout["height"] + 1
            boxes.append((key, x, y, o["width"], o["height"]))
        assert overlaps(boxes) is None
    # in the top level, the three layers are boxes, left to right: hidden, output, loss
    top = {key: x for key, x, _ in scopes[0]["layout"]["items"]}
    s = {t["name"]: f"s{j}" for j, t in enumerate(scopes)}
    assert top[s["hidden"]] < top[s["output"]] < top[s["loss"]]


def test_the_layered_layout_ranks_by_longest_path():
    boxes = [Box(k, 30, 20) for k in "abcd"]
    (lay,) = lay_out([(boxes, [("a", "b"), ("b", "c"), ("a", "c"), ("a", "d")])], "TB", "layered")
    y = {k: c[1] for k, c in lay.centres.items()}
    assert y["a"] < y["b"] == y["d"] < y["c"]  # c waits for b, d does not
    with pytest.raises(mg.LayoutError, match="'spring'"):
        lay_out([(boxes, [])], engine="spring")


def test_engine_dot_without_graphviz_says_what_to_install(logistic, monkeypatch):
    monkeypatch.setenv("PATH", "")
    g, run = logistic
    with pytest.raises(mg.LayoutError, match="dot.*not on the PATH"):
        explorer_data(g, run, engine="dot")
    assert explorer_data(g, run)["scopes"][0]["layout"]["engine"] == "layered"  # auto falls back


def test_metrics_and_a_compared_run(logistic):
    g, run = logistic
    other = g.forward("L_reg", {"x": -0.5, "t": 0.0}).backward()
    data = explorer_data(g, run, compare=other, metrics={"fan-out": {"w": 2, g["x"]: 1}})
    names = by_name(data)
    assert data["metrics"] == ["fan-out"] and names["w"][1]["metrics"] == {"fan-out": 2.0}
    assert "metrics" not in names["b"][1]
    for n in ("w", "b", "z", "y"):
        assert names[n][1]["diff"]["full"] == r4(float(run.grad(n) - other.grad(n)))
    with pytest.raises(mg.GraphError, match="'nowhere', which is not a node"):
        explorer_data(g, run, metrics={"m": {"nowhere": 1.0}})
    with pytest.raises(mg.GraphError, match="metric 'm' at node 'w' is 'big'; expected a number"):
        explorer_data(g, run, metrics={"m": {"w": "big"}})
    with pytest.raises(mg.GraphError, match="compare needs two runs with error signals"):
        explorer_data(g, run, compare=g.forward("L_reg", {"x": 1.0, "t": 0.0}))


def test_a_compared_run_gives_differences_of_values_and_messages(logistic):
    g, run = logistic
    other = g.forward("L_reg", {"x": -0.5, "t": 0.0}).backward(keep_messages=True)
    data = explorer_data(g, run, compare=other)
    names = by_name(data)
    assert data["has_signal_diff"] and data["has_message_diff"]
    for n in ("x", "z", "y", "L_reg"):
        assert names[n][1]["value_diff"]["full"] == r4(float(run[n] - other[n]))
    assert names["w"][1]["value_diff"]["full"] == 0.0  # the same parameter in both runs
    order = [n["name"] for n in data["nodes"]]
    checked = 0
    for parent, child, argnum, m in data["edges"]:
        if m < 0:
            continue
        key = (order[parent], order[child], argnum)
        diff = data["message_diffs"][m]["full"]
        assert diff == r4(float(run.messages[key] - other.messages[key])), key
        checked += 1
    assert checked == len(run.messages) == len(data["message_diffs"])
    # a run that did not keep its messages: values and signals only
    no_messages = explorer_data(g, run, compare=g.forward("L_reg", {"x": 0.0, "t": 0.0}).backward())
    assert not no_messages["has_message_diff"] and set(no_messages["message_diffs"]) == {None}
    # two forward runs: their values compare, no signals needed
    forward = g.forward("L_reg", {"x": 1.5, "t": 1.0})
    values = explorer_data(g, forward, compare=g.forward("L_reg", {"x": 0.5, "t": 1.0}))
    assert by_name(values)["x"][1]["value_diff"]["full"] == 1.0
    assert not values["has_signal_diff"] and "diff" not in by_name(values)["x"][1]
    with pytest.raises(mg.GraphError, match="compare needs a run"):
        explorer_data(g, compare=forward)


def test_compared_runs_of_other_batch_sizes_say_the_shapes_differ():
    g = mg.Graph()
    x = g.input("x", shape=(None,))
    L = mg.ops.sum(mg.ops.tanh(x * g.param("w", 2.0)), name="L")
    three = g.forward(L, {"x": np.ones(3)}).backward()
    four = g.forward(L, {"x": np.zeros(4)}).backward()
    names = by_name(explorer_data(g, three, compare=four))
    assert names["x"][1]["value_diff"]["text"] == "shapes differ: (3,) and (4,)"
    assert names["L"][1]["value_diff"]["full"] == r4(float(3 * np.tanh(2.0)))
    assert names["w"][1]["diff"]["full"] == r4(float(3 * (1 - np.tanh(2.0) ** 2)))


def test_the_page_is_one_file_holding_the_data(logistic, tmp_path):
    g, run = logistic
    page = mg.explore(g, run, path=tmp_path / "logistic.html", title="lecture 6 </script>")
    text = (tmp_path / "logistic.html").read_text(encoding="utf-8")
    assert text == page.html and page.path == tmp_path / "logistic.html"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # loads nothing
    assert "<link" not in text and "@import" not in text
    payload = re.search(
        r'<script type="application/json" id="mpgraph-data">(.*?)</script>', text, re.S
    )
    assert json.loads(payload.group(1)) == page.data  # "</script>" in the title was escaped
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in page._repr_html_()
    assert "19 nodes" in repr(page) and "logistic.html" in repr(page)


def test_import_mpgraph_does_not_import_the_explorer():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mpgraph; "
            "print('mpgraph.explorer' in sys.modules, callable(mpgraph.explore), "
            "'mpgraph.explorer' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.stdout.split() == ["False", "True", "True"], done.stderr


def test_the_command_line_writes_the_page_of_a_saved_graph(logistic, tmp_path, capsys):
    g, run = logistic
    mg.save(g, tmp_path / "net", run)
    other = g.forward("L_reg", {"x": -0.5, "t": 0.0}).backward()
    mg.save(g, tmp_path / "other", other)
    assert cli(["explore", str(tmp_path / "net.json"), "--compare", str(tmp_path / "other")]) == 0
    out = tmp_path / "net.html"
    assert capsys.readouterr().out.strip() == str(out)
    data = json.loads(
        re.search(r'id="mpgraph-data">(.*?)</script>', out.read_text(), re.S).group(1)
    )
    w = by_name(data)["w"][1]
    assert w["signal"]["full"] == r4(float(run.grad("w")))
    assert w["diff"]["full"] == r4(float(run.grad("w") - other.grad("w")))
    assert (
        cli(
            [
                "explore",
                str(tmp_path / "net"),
                "--no-run",
                "--out",
                str(tmp_path / "s.html"),
                "--layout",
                "layered",
            ]
        )
        == 0
    )
    assert '"has_run":false' in (tmp_path / "s.html").read_text()
    assert cli(["explore", str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err


def test_the_explorer_page_examples_run(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "explorer.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)  # the examples write files
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/explorer.md:example", "exec"), namespace)
    assert (tmp_path / "net.html").read_text().startswith("<!DOCTYPE html>")
    linked = re.findall(r"\]\(([\w.]+\.png)\)", text)
    assert linked and all((ROOT / "docs" / name).exists() for name in linked)


@pytest.mark.parametrize("engine", ["dot", "layered"])
def test_every_lifted_edge_runs_left_to_right(units, engine):
    g, run = units
    data = explorer_data(g, run, engine=engine)
    scopes = data["scopes"]
    index = {s["name"]: k for k, s in enumerate(scopes)}

    def item(name, level):  # the box standing for node `name` in the layout of scope `level`
        inside = name[len(level) + 1 :] if level else name
        return (
            f"n{by_name(data)[name][0]}"
            if "/" not in inside
            else f"s{index[(level + '/' if level else '') + inside.split('/')[0]]}"
        )

    for node in g:
        for parent in node.args:
            a, b = parent.name.split("/")[:-1], node.name.split("/")[:-1]
            common = []
            for x, y in zip(a, b):
                if x != y:
                    break
                common.append(x)
            level = "/".join(common)
            u, v = item(parent.name, level), item(node.name, level)
            if u != v:
                centres = {key: x for key, x, _ in scopes[index[level]]["layout"]["items"]}
                assert centres[u] < centres[v], (parent.name, node.name, level)


@pytest.mark.parametrize("engine", ["dot", "layered"])
def test_edges_lifted_into_a_cycle_are_laid_out(engine):
    g = mg.Graph()
    x = g.input("x")
    with g.scope("A"):
        a = mg.ops.exp(x, name="a")
    n = mg.ops.negative(a, name="n")  # reads from A ...
    with g.scope("A"):
        mg.ops.add(a, n, name="b")  # ... and feeds it: A -> n -> A at the top level
    data = explorer_data(g, engine=engine)
    top = {key: (x, y) for key, x, y in data["scopes"][0]["layout"]["items"]}
    assert set(top) == {"n0", "s1", "n2"}
    sizes = {k: data["nodes"][int(k[1:])] if k[0] == "n" else data["scopes"][1] for k in top}
    boxes = [(k, x, y, sizes[k]["width"], sizes[k]["height"]) for k, (x, y) in top.items()]
    assert overlaps(boxes) is None and top["n0"][0] < top["s1"][0]
