"""The one-time cost of compiling a built graph's schedule from its NetworkX DAG.

A Graph's schedule for a set of outputs is compiled once (the outputs' ancestors, found by
NetworkX, in topological order) and then re-run from flat lists. This measures that compile for a
chain of 6,000 and of 100,000 nodes, against the same schedule derived from the nodes' argument
lists (what ``mg.grad``'s throwaway trace does), and shows that re-running does not pay it again.

    python examples/schedule_compile.py
"""

from __future__ import annotations

import time

import numpy as np

import mpgraph as mg


def _chain(nodes: int, throwaway: bool) -> tuple[mg.Graph, mg.Node]:
    g = mg.Graph(throwaway=throwaway)
    h = g.input("x", shape=(3,))
    for _ in range(nodes // 3):  # a constant and two op nodes per step
        h = mg.ops.tanh(h) * 1.0001
    return g, mg.ops.sum(h)


def _seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    print(
        f"{'nodes':>8} {'from NetworkX':>14} {'from arguments':>15} {'ratio':>6} "
        f"{'re-run forward':>15}"
    )
    for nodes in (6_000, 100_000):
        g, loss = _chain(nodes, throwaway=False)
        t_nx = _seconds(g.schedule, loss)
        rerun = _seconds(g.forward, loss, {"x": np.ones(3)})
        g2, loss2 = _chain(nodes, throwaway=True)
        t_args = _seconds(g2.schedule, loss2)
        assert [n.index for n in g.schedule(loss).nodes] == [
            n.index for n in g2.schedule(loss2).nodes
        ]
        print(
            f"{len(g.schedule(loss).nodes):>8,} {t_nx:>13.3f}s {t_args:>14.3f}s "
            f"{t_nx / t_args:>5.1f}x {rerun:>14.3f}s"
        )


if __name__ == "__main__":
    main()
