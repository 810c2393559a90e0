"""The main demo: Grosse's L2-regularised univariate logistic least squares, by message passing.

    z = w x + b,  y = sigmoid(z),  L = (y - t)^2 / 2,  R = w^2 / 2,  L_reg = L + lambda R

``w`` fans out to two children (``w * x`` and ``w ** 2``), so its error signal is the sum of the
two messages it receives: w̄ = z̄ x + R̄ w (the multivariate chain rule). The demo runs forward
and backward, prints every node's value and error signal, and the message on every edge into
``w``, then checks w̄ and b̄ against the closed form, and draws the annotated graph to
out/demo.svg (values, error signals and the message on every edge).
"""

from pathlib import Path

import numpy as np

import mpgraph as mg
from mpgraph.drawing.dot import LayoutError, write


def build(lam: float = 0.1):
    g = mg.Graph()
    x, t = g.input("x"), g.input("t")
    w, b = g.param("w", 0.8), g.param("b", -0.3)
    z = mg.ops.add(w * x, b, name="z")
    y = mg.ops.sigmoid(z, name="y")
    L = mg.ops.multiply(0.5, (y - t) ** 2, name="L")
    R = mg.ops.multiply(0.5, w**2, name="R")
    L_reg = mg.ops.add(L, mg.ops.multiply(lam, R, name="λR"), name="L_reg")
    return g, L_reg


def main() -> None:
    lam, feed = 0.1, {"x": 1.5, "t": 1.0}
    g, L_reg = build(lam)
    run = g.forward(L_reg, feed).backward(keep_messages=True)
    print(f"{'node':<12} {'op':<9} {'value':>10} {'error signal':>14}")
    for node in g:
        signal = run.grad(node) if node.name in run.schedule.slot else None
        value = float(run[node])
        bar = "" if signal is None else f"{float(signal):14.6f}"
        print(f"{node.name:<12} {node.op.name if node.op else node.kind:<9} {value:10.6f} {bar}")
    print("\nmessages into w (their sum is w̄):")
    for (parent, child, argnum), msg in run.messages.items():
        if parent == "w":
            print(f"  {child} (argument {argnum}) -> w: {float(msg):.6f}")
    x, t, w, b = 1.5, 1.0, 0.8, -0.3
    y = 1 / (1 + np.exp(-(w * x + b)))
    z_bar = (y - t) * y * (1 - y)
    print(f"\nclosed form: w̄ = z̄ x + λ w = {z_bar * x + lam * w:.6f}, b̄ = z̄ = {z_bar:.6f}")
    print(f"mpgraph:     w̄ = {float(run.grad('w')):.6f}, b̄ = {float(run.grad('b')):.6f}")
    draw(g, run, Path("out"))


def draw(g, run, out: Path) -> None:
    """Write the picture of the run; without a layout program, its DOT source."""
    out.mkdir(exist_ok=True)
    picture = mg.render(g, run, view="both")
    try:
        path = write(picture, out / "demo.svg")
    except LayoutError as e:
        path = out / "demo.gv"
        path.write_text(picture.source)
        print(f"\n{e}")
    print(f"\nthe annotated graph (values, error signals, messages): {path}")


if __name__ == "__main__":
    main()
