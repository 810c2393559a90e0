"""Where the time of ``mg.grad`` goes, phase by phase, on the benchmark's scalar chain.

    python examples/grad_phases.py               # 2,000 steps (6,000 op nodes), 15 repeats
    python examples/grad_phases.py --steps 500 --repeats 5

Prints microseconds per op node for each phase of what ``mg.grad`` does: building the graph
(tracing), the schedule (which nodes, their argument slots, the bound forward functions), the
backward plan (which nodes send which messages, what to free when), and the forward and
backward run; then ``mg.grad`` itself, which does all four. Times are the calling thread's CPU
time (``time.thread_time``), so that other processes' load counts less than in wall time; the
minimum and the median over the repeats are shown. To compare two checkouts, run this script
from each in turn, several times, with ``PYTHONPATH`` pointing at the checkout.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's
import mpgraph as mg  # noqa: E402

CHAIN_A, CHAIN_B = -0.95, 0.1  # as in examples/benchmark.py


def chain(y, steps: int):
    """``steps`` times ``y = tanh(y * -0.95 + 0.1)``: three op nodes a step."""
    for _ in range(steps):
        y = mg.ops.tanh(y * CHAIN_A + CHAIN_B)
    return y


def phases(steps: int, repeats: int) -> tuple[dict[str, list[float]], float, float]:
    """Microseconds per op node of each phase, one entry per repeat; and the derivative at
    0.3 from the phases run one by one and from ``mg.grad`` (the last repeat's), which must
    agree: the phases time what ``mg.grad`` does."""
    nodes = 3 * steps
    f = mg.grad(lambda y: chain(y, steps))
    clock = time.thread_time
    times: dict[str, list[float]] = {
        k: [] for k in ("build", "schedule", "backward plan", "run", "mg.grad")
    }
    for _ in range(repeats):
        gc.collect()
        t0 = clock()
        g = mg.Graph(throwaway=True)
        y0 = g.input("arg0", shape=(), dtype=np.float64)
        out = chain(y0, steps)
        t1 = clock()
        sched = g.schedule(out)
        sched.steps  # noqa: B018 (made when first read: part of the schedule's cost)
        t2 = clock()
        sched.backward_plan(sched.slot[out.name], (sched.slot[y0.name],))
        t3 = clock()
        run = mg.Run.for_gradients(sched, out, [y0], {y0: np.float64(0.3)})
        t4 = clock()
        by_phases = float(run.grad(y0))
        del g, y0, out, sched, run
        gc.collect()
        t5 = clock()
        by_grad = float(f(np.float64(0.3)))
        t6 = clock()
        for key, t in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5)):
            times[key].append(t * 1e6 / nodes)
    return times, by_phases, by_grad


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="chain steps (3 op nodes each)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    times, _, _ = phases(args.steps, args.repeats)
    print(f"mg.grad on a chain of {3 * args.steps} op nodes, us per op node (thread CPU time)")
    for key, ts in times.items():
        print(f"  {key:14s} min {min(ts):6.2f}   median {statistics.median(ts):6.2f}")


if __name__ == "__main__":
    main()
