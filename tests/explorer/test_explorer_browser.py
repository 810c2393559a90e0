"""The explorer page in a real browser: Debian's chromium, headless, driven by playwright.

Each test opens a page mpgraph wrote and checks what a person would see: no console error,
the numbers of a clicked node, the edges highlighted at a step of the backward pass, the nodes
of an expanded scope, the node a search finds. Screenshots go to ``$MPGRAPH_SCREENSHOTS`` (the
docs' pictures: ``MPGRAPH_SCREENSHOTS=docs pytest tests/explorer/test_explorer_browser.py``) or to a
temporary directory.
"""

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

import mpgraph as mg
from mpgraph.drawing import notation

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_spec = importlib.util.spec_from_file_location(
    "render_lectures", ROOT / "examples" / "render_lectures.py"
)
lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lectures)


def fmt(x):
    return f"{float(x):.4g}"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    where = os.environ.get("MPGRAPH_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def open_page(browser, tmp_path):
    pages = []

    def open_(graph, run, name="page", **options):
        path = tmp_path / f"{name}.html"
        mg.explore(graph, run, path=path, **options)
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        page.errors = errors
        pages.append(page)
        return page

    yield open_
    for page in pages:
        assert page.errors == [], page.errors  # no console error at any point
        page.close()


def panel(page, field):
    return page.locator(f"#panel [data-field='{field}']").all_inner_texts()


def test_clicking_a_node_shows_its_value_signal_and_messages(open_page, shots):
    g, run = lectures.logistic()
    page = open_page(g, run, "logistic")
    assert page.locator(".box").count() == len(g)  # 19 nodes: opens expanded
    page.click("[data-name='w']")
    assert panel(page, "name") == ["w"]
    assert panel(page, "value-full") == [fmt(g["w"].value)]
    assert panel(page, "signal-full") == [fmt(run.grad("w"))]
    uses = [(p.name, n.name, k) for n in g for k, p in enumerate(n.args) if p.name == "w"]
    into_w = [run.messages[key] for key in uses]  # w fans out to two uses
    assert panel(page, "message-in") == [fmt(m) for m in into_w]
    total = " + ".join(fmt(m) for m in into_w)  # the signal as the sum of the messages
    assert panel(page, "sum") == [f"{total} = {fmt(run.grad('w'))}"]
    assert np.isclose(sum(into_w), run.grad("w"))
    page.click("[data-name='y']")
    (sent,) = panel(page, "message-out")  # y sends z̄ = ȳ σ'(z): the local derivative is σ'(z)
    sigma = 1 / (1 + np.exp(-run["z"]))
    assert sent.startswith(fmt(run.grad("z"))) and f"× {fmt(sigma * (1 - sigma))}" in sent
    page.screenshot(path=str(shots / "explorer_logistic.png"))


def test_stepping_highlights_the_edges_of_each_step(open_page, shots):
    g, run = lectures.logistic()
    page = open_page(g, run, "steps")
    senders = list(dict.fromkeys(child for _, child, _ in run.messages))  # the order they sent
    edges = [(p.name, n.name, k) for n in g for k, p in enumerate(n.args)]
    page.click("#step-start")
    assert page.locator(".edge.hot").count() == 0
    assert "seed L_reg" in page.inner_text("#step-caption")
    for step, node in enumerate(senders, 1):
        page.click("#step-next")
        hot = {
            int(k)
            for e in page.locator(".edge.hot").all()
            for k in e.get_attribute("data-edges").split(",")
        }
        expected = {edges.index(key) for key in run.messages if key[1] == node}
        assert hot == expected, (step, node)
        assert page.locator(".box.current").get_attribute("data-name") == node
        assert page.inner_text("#step-caption").startswith(
            f"step {step} of {len(senders)}: {node} "
        )
        if step == 3:
            page.screenshot(path=str(shots / "explorer_step.png"))
    page.click("#step-prev")
    assert page.locator(".box.current").get_attribute("data-name") == senders[-2]
    # at the start, w has heard from neither of its two uses: its signal is pending
    page.click("#step-start")
    page.click("[data-name='w']")
    assert "0 of 2 messages" in panel(page, "signal-pending")[0]


def test_stepping_the_forward_pass_computes_the_ops_in_topological_order(open_page, shots):
    g, run = lectures.logistic()
    page = open_page(g, run, "forward")
    edges = [(p.name, n.name, k) for n in g for k, p in enumerate(n.args)]
    ops = [n for n in g if n.kind == "op"]
    page.select_option("#step-pass", "forward")
    assert page.inner_text("#step-caption") == "start: the inputs and parameters are known"
    assert page.inner_text("#step-count") == f"0 / {len(ops) + 1}"
    assert page.locator(".edge.hot").count() == 0

    def value_text(name):
        return page.locator(f".box[data-name='{name}'] text.value").text_content()

    assert all(value_text(n.name) == "= ?" for n in ops)
    assert page.locator("#colour").input_value() == "value"  # no signal is known yet
    assert {page.locator(f"[data-name='{n.name}'] rect").get_attribute("fill") for n in ops} == {
        "#fff"
    }
    assert value_text("w") == f"= {fmt(g['w'].value)}"  # parameters are known at the start
    page.click("[data-name='z']")  # z = multiply_1 + b: b is known, multiply_1 is not yet
    assert panel(page, "value-pending") == ["not computed yet at this step: 1 of 2 arguments known"]
    done = set()
    for step, node in enumerate(ops, 1):
        page.click("#step-next")
        assert all(a.name in done or a.kind != "op" for a in node.args)  # its arguments are known
        done.add(node.name)
        assert page.locator(".box.current").get_attribute("data-name") == node.name
        hot = {
            int(k)
            for e in page.locator(".edge.hot").all()
            for k in e.get_attribute("data-edges").split(",")
        }
        assert hot == {edges.index((a.name, node.name, k)) for k, a in enumerate(node.args)}
        assert page.inner_text("#step-caption") == (
            f"step {step} of {len(ops)}: {node.name} = {node.op.name}("
            + ", ".join(a.name for a in node.args)
            + f") = {fmt(run[node])}"
        )
        assert value_text(node.name) == f"= {fmt(run[node])}"
        if step == 3:
            page.screenshot(path=str(shots / "explorer_forward.png"))
        later = [n.name for n in ops if n.name not in done]
        assert all(value_text(name) == "= ?" for name in later)
    assert panel(page, "value-full") == [fmt(run["z"])]  # z, still selected, is computed now
    page.click("#step-next")
    assert page.inner_text("#step-caption").startswith("done: every value is known")
    page.keyboard.press("ArrowRight")  # and on to the start of the backward pass
    assert page.locator("#step-pass").input_value() == "backward"
    assert "seed L_reg" in page.inner_text("#step-caption")
    opened = open_page(g, run, "forward-start", start="forward")
    assert opened.locator("#step-pass").input_value() == "forward"
    assert opened.inner_text("#step-count") == f"0 / {len(ops) + 1}"


def test_expanding_a_scope_shows_its_nodes_and_search_finds_a_node(open_page, shots):
    g, run = lectures.mlp_units(np.random.default_rng(6))
    page = open_page(g, run, "units")
    assert page.locator("[data-name='hidden/unit3/h']").count() == 0  # collapsed at first
    assert page.locator(".box.scope").count() == 3  # hidden, output, loss
    page.screenshot(path=str(shots / "explorer_units_collapsed.png"))
    page.click("[data-scope='hidden']")
    assert page.locator(".box.scope").count() == 10 + 2  # ten hidden units
    page.click("[data-scope='hidden/unit3']")
    inside = {n.name for n in g if n.name.startswith("hidden/unit3/")}
    shown = {
        e.get_attribute("data-name") for e in page.locator(".box[data-name^='hidden/unit3/']").all()
    }
    assert shown == inside
    page.click("[data-name='hidden/unit3/h']")
    assert panel(page, "signal-full") == [fmt(run.grad("hidden/unit3/h"))]
    assert len(panel(page, "message-in")) == 3  # one per output unit
    page.screenshot(path=str(shots / "explorer_units_expanded.png"))
    page.click("#fit")  # the whole graph in view
    page.click("[data-collapse='1']")  # the header of hidden/
    assert page.locator("[data-name='hidden/unit3/h']").count() == 0

    page.fill("#search", "unit7/z")
    assert page.locator("#results li").all_inner_texts() == ["hidden/unit7/z"]
    page.press("#search", "Enter")
    assert panel(page, "name") == ["hidden/unit7/z"]
    assert panel(page, "value-full") == [fmt(run["hidden/unit7/z"])]
    assert page.locator(".box.found").get_attribute("data-name") == "hidden/unit7/z"


def test_views_and_colours(open_page):
    g, run = lectures.logistic()
    other = g.forward("L_reg", {"x": -0.5, "t": 0.0}).backward()
    page = open_page(g, run, "views", compare=other, metrics={"depth": {"x": 0, "L_reg": 7}})
    page.select_option("#view", "backward")
    assert page.locator(".edge.back").count() == page.locator(".edge").count() > 0
    assert page.locator(".box text.value").count() == 0
    page.select_option("#view", "forward")
    assert page.locator(".box text.signal").count() == 0
    assert page.locator(".elabel").count() == 0  # messages: not forward
    options = page.locator("#colour option").all_inner_texts()
    assert options == ["kind", "|error signal|", "|value|", "|Δ| from the compared run", "depth"]
    page.select_option("#colour", "metric:depth")
    fill = page.locator("[data-name='L_reg'] rect").get_attribute("fill")
    assert (
        fill == "#b10026"
        and page.locator("[data-name='x'] rect").get_attribute("fill") == "#ffffcc"
    )
    page.select_option("#colour", "diff")
    page.click("[data-name='b']")
    assert panel(page, "diff-full") == [fmt(run.grad("b") - other.grad("b"))]


def test_comparing_two_runs_switches_between_values_signals_and_messages(open_page):
    g, run = lectures.logistic()
    other = g.forward("L_reg", {"x": -0.5, "t": 0.0}).backward(keep_messages=True)
    page = open_page(g, run, "compare", compare=other)
    zero, magnitudes = page.evaluate("[mpgraphExplorer.data.zero, mpgraphExplorer.data.magnitudes]")

    def fill_for(x):  # the colour scale of the static pictures, by the largest |entry|
        m = float(np.max(np.abs(x)))
        if m == 0:
            return zero[1]
        return next(fill for bound, _, fill, _ in magnitudes if bound is None or m < bound)

    def fill(name):
        return page.locator(f"[data-name='{name}'] rect").get_attribute("fill")

    assert page.locator("#compare-box").is_visible()
    assert page.locator("#compare").input_value() == "signal"
    page.select_option("#compare", "value")  # choosing what to compare colours by it
    assert page.locator("#colour").input_value() == "diff"
    for name in ("x", "w", "y", "L_reg"):  # w is the same parameter in both runs: Δ = 0
        assert fill(name) == fill_for(run[name] - other[name]), name
    page.click("[data-name='y']")
    assert panel(page, "value_diff-full") == [fmt(run["y"] - other["y"])]
    assert panel(page, "diff-full") == [fmt(run.grad("y") - other.grad("y"))]
    page.select_option("#compare", "signal")
    for name in ("x", "w", "y", "subtract_1"):
        assert fill(name) == fill_for(run.grad(name) - other.grad(name)), name
    page.select_option("#compare", "message")
    uses = [(p.name, n.name, k) for n in g for k, p in enumerate(n.args) if p.name == "w"]
    page.click("[data-name='w']")
    assert panel(page, "message-in-diff") == [
        "Δ " + notation.fmt(run.messages[k] - other.messages[k]) for k in uses
    ]
    assert fill("w") == fill_for(max((run.messages[k] - other.messages[k] for k in uses), key=abs))
    labels = page.locator(".elabel").all_text_contents()  # each edge: its message's difference
    assert sorted(labels) == sorted(
        "Δ " + notation.fmt(run.messages[k] - other.messages[k]) for k in run.messages
    )
    page.select_option("#compare", "value")
    assert not any(t.startswith("Δ") for t in page.locator(".elabel").all_text_contents())


def overlapping(rects):
    """A pair of rectangles ``(key, x, y, w, h)`` that overlap, or None."""
    for i, (a, ax, ay, aw, ah) in enumerate(rects):
        for b, bx, by, bw, bh in rects[i + 1 :]:
            if (
                ax < bx + bw - 0.5
                and bx < ax + aw - 0.5
                and ay < by + bh - 0.5
                and by < ay + ah - 0.5
            ):
                return a, b
    return None


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_expanded_scopes_side_by_side_are_wrapped_to_fit_the_screen(open_page, rankdir):
    g, run = lectures.mlp_units(np.random.default_rng(6))
    page = open_page(g, run, f"wrap-{rankdir}", rankdir=rankdir)
    canvas = page.locator("#canvas").bounding_box()
    page.click("#expand-all")
    geo = page.evaluate("mpgraphExplorer.geometry()")
    boxes = geo["boxes"]
    scopes = {s["name"]: k for k, s in enumerate(page.evaluate("mpgraphExplorer.data.scopes"))}
    units = [boxes[f"f{scopes[f'hidden/unit{i}']}"] for i in range(1, 11)]
    # the ten hidden units, stacked in their rank, would take ten units' length across the flow:
    # the whole drawing fits the screen at a zoom half as large again as that column alone would
    across = 3 if rankdir == "LR" else 2  # height, or width
    stacked = sum(u[across] for u in units)
    fit = min(canvas["width"] / geo["width"], canvas["height"] / geo["height"])
    assert fit > 1.5 * canvas["height" if rankdir == "LR" else "width"] / stacked
    assert 0.5 < (geo["width"] / geo["height"]) / (canvas["width"] / canvas["height"]) < 2
    # nothing drawn on top of anything else: node boxes, and the frames of one level
    nodes = [(k, *r) for k, r in boxes.items() if k[0] == "n"]
    assert len(nodes) == len(g) and overlapping(nodes) is None
    for level in ("hidden/unit", "output/unit"):
        frames = [(n, *boxes[f"f{k}"]) for n, k in scopes.items() if n.startswith(level)]
        assert overlapping(frames) is None
    # every node sits inside the frame of its scope, and the flow still runs hidden, output, loss
    for node in g:
        if "/" in node.name:
            x, y, w, h = boxes[f"n{[n.name for n in g].index(node.name)}"]
            fx, fy, fw, fh = boxes[f"f{scopes[node.name.rsplit('/', 1)[0]]}"]
            assert fx <= x and x + w <= fx + fw and fy <= y and y + h <= fy + fh, node.name
    along = 0 if rankdir == "LR" else 1
    starts = [boxes[f"f{scopes[n]}"][along] for n in ("hidden", "output", "loss")]
    assert starts == sorted(starts)


def test_a_two_thousand_node_graph_opens_collapsed(open_page, shots):
    g, run = lectures.mlp_units(np.random.default_rng(1), sizes=(16, 36, 10))
    assert len(g) > 2000
    page = open_page(g, run, "big")
    assert page.locator(".box").count() == 16 + 3
    page.click("#expand-all")
    assert sorted(page.evaluate("mpgraphExplorer.shown()")) == sorted(n.name for n in g)
    assert page.locator(".box").count() == 0  # zoomed out: boxes drawn as one path per colour
    x, y = page.evaluate("mpgraphExplorer.locate('hidden/unit5/z')")
    page.mouse.move(x, y)
    k = page.evaluate("mpgraphExplorer.state.k")
    for _ in range(int(np.log(0.39 / k) / 0.45)):  # zoom in on it (x1.57 a turn), staying
        page.mouse.wheel(0, -300)  # below the text's zoom, 0.4
    assert page.locator(".box").count() == 0 and page.evaluate("mpgraphExplorer.state.k") < 0.4
    x, y = page.evaluate("mpgraphExplorer.locate('hidden/unit5/z')")
    page.mouse.click(x, y)  # a click still finds the node under the pointer
    assert panel(page, "name") == ["hidden/unit5/z"]
    assert panel(page, "value-full") == [fmt(run["hidden/unit5/z"])]
    page.click("#collapse-all")
    page.fill("#search", "output/unit10/y")
    page.press("#search", "Enter")
    assert panel(page, "signal-full") == [fmt(run.grad("output/unit10/y"))]
    page.screenshot(path=str(shots / "explorer_big.png"))
    for name in ("explorer_logistic", "explorer_units_collapsed"):
        if (shots / f"{name}.png").exists():
            assert (shots / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_arrays_show_their_statistics_entries_and_histogram(open_page):
    g, run = lectures.mlp(np.random.default_rng(6))
    page = open_page(g, run, "matrices", start="steps", view="backward")
    assert (
        page.inner_text("#step-count")
        == f"0 / {len(page.evaluate('mpgraphExplorer.data.steps')) + 1}"
    )
    page.click("#step-end")
    page.click("[data-name='layer1/W']")
    W, Wbar = run["layer1/W"], run.grad("layer1/W")
    rows = panel(page, "value-full")[0].splitlines()
    assert [[float(v) for v in r.strip(" [],").split(", ")] for r in rows] == [
        [float(fmt(v)) for v in row] for row in W
    ]
    assert panel(page, "signal-mean") == [fmt(Wbar.mean())]
    assert panel(page, "signal-max") == [fmt(Wbar.max())]
    assert page.locator("#panel svg.hist").count() == 2  # value and signal
    bars = page.locator("#panel svg.hist").first.locator("rect")
    counts = [int(b.locator("title").text_content()) for b in bars.all()]
    assert counts == np.histogram(W, bins=len(counts))[0].tolist()


def test_lees_network_shows_the_slides_error_signals(open_page):
    spec = importlib.util.spec_from_file_location(
        "lee_network", ROOT / "examples" / "lee_network.py"
    )
    lee = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lee)
    g, zs, _, loss = lee.build()
    run = g.forward(loss, {"x": np.array([1.0, -1.0])}).backward(loss, keep_messages=True)
    page = open_page(g, run, "lee")
    assert page.locator(".box").count() == len(g)  # 15 nodes: opens expanded
    for z in zs:
        page.click(f"[data-name='{z.name}']")
        shown = [float(v) for v in panel(page, "signal-full")[0].strip("[]").split(", ")]
        assert shown == [float(fmt(v)) for v in run.grad(z)]  # dl/dz of the slides' reverse network


def test_pan_and_zoom(open_page):
    g, run = lectures.logistic()
    page = open_page(g, run, "pan")

    def where():
        return page.evaluate(
            "({k: mpgraphExplorer.state.k, x: mpgraphExplorer.state.x, y: mpgraphExplorer.state.y})"
        )

    box = page.locator("#canvas").bounding_box()
    before = where()
    page.mouse.move(box["x"] + 300, box["y"] + 300)
    page.mouse.wheel(0, -300)  # zoom in around the pointer
    after = where()
    assert after["k"] > before["k"] * 1.2
    # the point under the pointer stays put: (300 - x) / k is the same before and after
    assert np.isclose((300 - before["x"]) / before["k"], (300 - after["x"]) / after["k"], rtol=1e-6)
    page.mouse.move(box["x"] + 500, box["y"] + 600)  # drag the background
    page.mouse.down()
    page.mouse.move(box["x"] + 560, box["y"] + 640, steps=4)
    page.mouse.up()
    moved = where()
    assert (moved["x"] - after["x"], moved["y"] - after["y"]) == (60, 40)
    page.click("#fit")
    assert where()["k"] <= after["k"]


def test_the_page_works_inside_jupyters_iframe_and_without_a_run(browser, tmp_path):
    g, run = lectures.logistic()
    notebook = browser.new_page(viewport={"width": 1200, "height": 800})
    errors = []
    notebook.on("pageerror", lambda e: errors.append(str(e)))
    (tmp_path / "cell.html").write_text(
        f"<html><body>{mg.explore(g, run)._repr_html_()}</body></html>"
    )
    notebook.goto((tmp_path / "cell.html").as_uri())
    frame = notebook.frame_locator("iframe")
    frame.locator("body[data-ready='1']").wait_for()
    frame.locator("[data-name='b']").click()
    assert frame.locator("#panel [data-field='signal-full']").inner_text() == fmt(run.grad("b"))
    structure = tmp_path / "structure.html"
    mg.explore(g, path=structure)  # no run: structure and parameters
    notebook.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    notebook.goto(structure.as_uri())
    notebook.wait_for_selector("body[data-ready='1']")
    notebook.click("[data-name='w']")
    assert notebook.locator("#panel [data-field='value-full']").inner_text() == fmt(g["w"].value)
    assert notebook.locator("#step-next").is_disabled() and notebook.locator("#view").is_disabled()
    assert errors == []
    notebook.close()


def test_an_array_fan_out_shows_its_messages_and_their_sum(open_page):
    g = mg.Graph()
    v = g.param("v", np.array([0.0, 0.5, 1.0]))
    L = mg.ops.add(mg.ops.sum(mg.ops.sin(v)), mg.ops.sum(v * v), name="L")
    run = g.forward(L).backward(keep_messages=True)
    page = open_page(g, run, "fan")
    page.click("[data-name='v']")

    def listed(a):
        return "[" + ", ".join(fmt(x) for x in a) + "]"

    x = v.value
    assert panel(page, "message-in") == [
        listed(np.cos(x)),
        listed(x),
        listed(x),
    ]  # sin's, then v*v's two
    assert panel(page, "sum") == [
        f"Σ of these 3 messages = the signal, {listed(np.cos(x) + 2 * x)}"
    ]
