"""Draw the lectures' examples: the pictures of docs/rendering.md.

    python examples/render_lectures.py [OUTDIR]      # default: docs/

Grosse's CSC321 lecture 6 works two examples by message passing: the regularised univariate
logistic least squares model (slide 15) and a multilayer perceptron (slide 16). This script
builds both, runs them forward and backward with their messages kept, and writes:

- ``logistic_{forward,backward,both}.svg`` and ``logistic_steps.html`` (the explorer's page,
  opened at the first step of the backward pass, with previous and next buttons);
- ``mlp_{forward,backward}.svg``: the MLP with weight matrices, one node per layer operation;
- ``mlp_units.svg``, ``mlp_units_collapsed.svg``, ``mlp_units_focus.svg``: the same MLP written
  unit by unit as on the slide (z_i = sum_j w_ij x_j + b_i), a few hundred nodes, drawn whole,
  with the hidden layer collapsed, and around one hidden unit;
- ``deep_sigmoid.svg``: a deep chain of sigmoid layers whose error signals vanish.

It needs Graphviz's ``dot`` (or graphviz-pure) on the PATH.
"""

import sys
from pathlib import Path

import numpy as np

import mpgraph as mg
from mpgraph.drawing.dot import write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import build  # noqa: E402  (the demo's graph, drawn here)


def logistic(lam: float = 0.1):
    """The demo's graph: z = w x + b, y = σ(z), L = (y - t)² / 2, R = w² / 2, L_reg = L + λ R."""
    g, L_reg = build(lam)
    return g, g.forward(L_reg, {"x": 1.5, "t": 1.0}).backward(keep_messages=True)


def mlp(rng, sizes=(4, 3, 2)):
    """Slide 16 with matrices: z = W1 x + b1, h = σ(z), y = W2 h + b2, L = Σ (y - t)² / 2."""
    d, m, k = sizes
    g = mg.Graph()
    x, t = g.input("x", shape=(d,)), g.input("t", shape=(k,))
    with g.scope("layer1"):
        W1, b1 = g.param("W", rng.normal(0, 0.7, (m, d))), g.param("b", np.zeros(m))
        z = mg.ops.add(W1 @ x, b1, name="z")
        h = mg.ops.sigmoid(z, name="h")
    with g.scope("layer2"):
        W2, b2 = g.param("W", rng.normal(0, 0.7, (k, m))), g.param("b", np.zeros(k))
        y = mg.ops.add(W2 @ h, b2, name="y")
    with g.scope("loss"):
        L = mg.ops.multiply(0.5, mg.ops.sum((y - t) ** 2), name="L")
    feed = {"x": rng.normal(size=d), "t": np.array([1.0, 0.0])}
    return g, g.forward(L, feed).backward(keep_messages=True)


def mlp_units(rng, sizes=(8, 10, 3)):
    """Slide 16 unit by unit: every weight a scalar parameter, every unit a scope."""
    d, m, k = sizes
    g = mg.Graph()
    xs = [g.input(f"x{j + 1}") for j in range(d)]
    hs = []
    with g.scope("hidden"):
        for i in range(m):
            with g.scope(f"unit{i + 1}"):
                terms = [g.param(f"w{j + 1}", rng.normal(0, 0.6)) * x for j, x in enumerate(xs)]
                z = mg.ops.add(
                    mg.ops.sum(mg.ops.stack(terms), name="Σ"), g.param("b", 0.0), name="z"
                )
                hs.append(mg.ops.sigmoid(z, name="h"))
    ys = []
    with g.scope("output"):
        for c in range(k):
            with g.scope(f"unit{c + 1}"):
                terms = [g.param(f"w{i + 1}", rng.normal(0, 0.6)) * h for i, h in enumerate(hs)]
                ys.append(
                    mg.ops.add(
                        mg.ops.sum(mg.ops.stack(terms), name="Σ"), g.param("b", 0.0), name="y"
                    )
                )
    with g.scope("loss"):
        ts = [g.input(f"t{c + 1}") for c in range(k)]
        sq = [(y - t) ** 2 for y, t in zip(ys, ts)]
        L = mg.ops.multiply(0.5, mg.ops.sum(mg.ops.stack(sq), name="Σ"), name="L")
    feed = {f"x{j + 1}": v for j, v in enumerate(rng.normal(size=d))}
    feed.update({f"loss/t{c + 1}": float(c == 0) for c in range(k)})
    return g, g.forward(L, feed).backward(keep_messages=True)


def deep_sigmoid(depth: int = 10):
    """A chain of sigmoid layers: each multiplies the error signal by at most 1/4."""
    g = mg.Graph()
    h = g.input("x")
    for i in range(depth):
        with g.scope(f"layer{i + 1}"):
            h = mg.ops.sigmoid(mg.ops.multiply(g.param("w", 0.5), h, name="wh"), name="h")
    L = mg.ops.multiply(0.5, h**2, name="L")
    return g, g.forward(L, {"x": 1.0}).backward(keep_messages=True)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(6)
    written = []

    def save(name, dot):
        written.append(write(dot, out / f"{name}.svg"))

    g, run = logistic()
    for view in ("forward", "backward", "both"):
        save(f"logistic_{view}", mg.render(g, run, view=view))
    written.append(
        mg.explore(g, run, out / "logistic_steps.html", view="backward", start="steps").path
    )

    g, run = mlp(rng)
    save("mlp_forward", mg.render(g, run))
    save("mlp_backward", mg.render(g, run, view="backward"))

    g, run = mlp_units(rng)
    save("mlp_units", mg.render(g, run))
    save("mlp_units_collapsed", mg.render(g, run, view="backward", collapse=["hidden"]))
    save("mlp_units_focus", mg.render(g, run, view="both", focus="hidden/unit3/h", radius=2))

    g, run = deep_sigmoid()
    save("deep_sigmoid", mg.render(g, run, view="backward", rankdir="TB", detail="compact"))
    for path in written:
        print(path)


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs"
    )
