"""Draw the pictures of docs/training.md.

    PYTHONPATH=$PWD python examples/training_pictures.py [OUTDIR] [--fast]   # default: docs/

- ``walk_forward.svg``, ``walk_backward.svg``, ``walk_trained.svg``: Grosse's univariate logistic
  least squares (CSC321 lecture 6) walked once: the forward values, then the error signals and
  the messages on the edges, then the same graph after 200 gradient-descent steps;
- ``digits_learning_curve.png`` and ``digits_graph.svg``: what ``examples/train_digits.py``
  writes (the learning curves, and the trained MLP with the error signals of one batch);
  ``--fast`` trains two epochs instead of thirty.

It needs Graphviz's ``dot`` (or graphviz-pure) on the PATH.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import mpgraph as mg  # noqa: E402
from mpgraph.drawing.dot import write  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_digits  # noqa: E402

FEED = {"x": 2.0, "t": 0.9}


def walk():
    """The tutorial's graph: z = w x + b, y = sigmoid(z), r = y - t, L = r r / 2."""
    g = mg.Graph()
    x, t = g.input("x"), g.input("t")
    w, b = g.param("w", 0.5), g.param("b", 0.0)
    z = mg.ops.add(w * x, b, name="z")
    y = mg.ops.sigmoid(z, name="y")
    r = mg.ops.subtract(y, t, name="r")
    L = mg.ops.multiply(0.5, r * r, name="L")
    return g, L


def main(out: Path, fast: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    g, L = walk()
    run = g.forward(L, FEED).backward(L, keep_messages=True)
    written = [
        write(mg.render(g, run, view="forward"), out / "walk_forward.svg"),
        write(mg.render(g, run, view="backward"), out / "walk_backward.svg"),
    ]
    opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(1.0), g)
    for _ in range(200):
        opt.minimize(L, FEED)
    run = g.forward(L, FEED).backward(L, keep_messages=True)
    written.append(write(mg.render(g, run, view="both"), out / "walk_trained.svg"))
    plot, picture = out / "digits_learning_curve.png", out / "digits_graph.svg"
    train_digits.main(
        epochs=2 if fast else 30, plot=str(plot), picture=str(picture), progress=False
    )
    return written + [plot, picture]


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--fast"]
    for path in main(
        Path(args[0]) if args else Path(__file__).resolve().parents[1] / "docs",
        fast="--fast" in sys.argv,
    ):
        print(path)
