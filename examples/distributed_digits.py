"""The digits MLP trained on 1 and 2 workers (Ray actors, local processes) against one process:
epoch time, held-out accuracy, and what one distributed step costs beyond its computation.

    PYTHONPATH=$PWD python examples/distributed_digits.py             # about a minute
    PYTHONPATH=$PWD python examples/distributed_digits.py --epochs 3 --repeats 20   # quicker

Each process uses one BLAS thread. Every figure is a median over repeats, the contenders interleaved within each repeat, the
garbage collector on. Ray runs a local cluster, ``ray.init(num_cpus=2)``; on a shared machine
absolute times move with its load, so compare within one run. The figures feed the model of
docs/distributed.md.
"""

import argparse
import os

# One BLAS thread in every process, as Ray gives its workers (OMP_NUM_THREADS=1): two workers
# are then two cores against the one process's one, not a comparison of thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pickle
import statistics
import time

import numpy as np
import ray
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mpgraph as mg
from mpgraph.distributed import DataParallel
from mpgraph.training.fit import accuracy


def build(rng, hidden=64):
    """The MLP of examples/train_digits.py: x -> tanh(x W1 + b1) -> W2 + b2 -> cross-entropy."""
    g = mg.Graph()
    x, y = g.input("x", shape=(None, 64)), g.input("y", shape=(None,))
    with g.scope("layer1"):
        h = mg.ops.tanh(
            x @ g.param("W", mg.nn_init.glorot_uniform((64, hidden), rng))
            + g.param("b", np.zeros(hidden))
        )
    with g.scope("layer2"):
        logits = h @ g.param("W", mg.nn_init.glorot_uniform((hidden, 10), rng)) + g.param(
            "b", np.zeros(10)
        )
    return g, logits, mg.ops.softmax_cross_entropy(logits, y)


def median_ms(times):
    return 1e3 * statistics.median(times)


def interleaved(contenders, repeats):
    """Median seconds of each ``name -> f()``, all of them once per repeat, in rotated order."""
    times = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(epochs, repeats, batch_size):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    train = {"x": Xtr, "y": ytr}
    g, logits, loss = build(np.random.default_rng(0))
    initial = {p.name: p.value for p in g.params()}
    params_bytes = sum(v.nbytes for v in initial.values())
    print(
        f"digits MLP 64-64-10: {len(initial)} parameter arrays, {params_bytes} bytes "
        f"({len(pickle.dumps(initial))} pickled); {len(ytr)} training rows, batch {batch_size}"
    )

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    setups = {"ray x1": ("ray", 1), "ray x2": ("ray", 2), "local x2": ("local", 2)}
    start = time.perf_counter()
    dps = {
        name: DataParallel(g, loss, train, workers=w, backend=b) for name, (b, w) in setups.items()
    }
    print(
        f"starting the {sum(w for _, w in setups.values())} workers: "
        f"{time.perf_counter() - start:.1f} s"
    )

    # -- one step: a minibatch, and the full training set ------------------------------------
    rng = np.random.default_rng(1)
    rows = rng.permutation(len(ytr))[:batch_size]
    batch = {k: a[rows] for k, a in train.items()}
    actor = dps["ray x1"].workers[0]
    ref = ray.put(initial)
    steps = {"one process": lambda: g.grad(loss, feed=batch)}
    steps.update({name: (lambda dp=dp: dp.value_and_grad(rows=rows)) for name, dp in dps.items()})
    steps["ray round trip (no-op call)"] = lambda: ray.get(actor.pid.remote())
    pair = dps["ray x2"].workers
    steps["ray no-op calls to 2 workers"] = lambda: ray.get([w.pid.remote() for w in pair])
    steps["ray.put(params)"] = lambda: ray.put(initial)
    steps["ray.get(params) in driver"] = lambda: ray.get(ref)
    steps["pickle params + grads"] = lambda: pickle.loads(pickle.dumps((initial, initial)))
    step_times = interleaved(steps, repeats)
    full = {"one process": lambda: g.grad(loss, feed=train)}
    full.update({name: (lambda dp=dp: dp.value_and_grad()) for name, dp in dps.items()})
    full_times = interleaved(full, repeats)

    print(f"\n| one step ({batch_size} rows) | median | vs one process |\n|---|---|---|")
    base = step_times["one process"]
    for name, t in step_times.items():
        print(f"| {name} | {1e3 * t:.3f} ms | {t / base:.1f}x |")
    print(f"\n| full-data gradient ({len(ytr)} rows) | median | vs one process |\n|---|---|---|")
    base = full_times["one process"]
    for name, t in full_times.items():
        print(f"| {name} | {1e3 * t:.3f} ms | {t / base:.2f}x |")

    model(step_times, full_times, batch_size, len(ytr), params_bytes)

    # -- training: epochs of Adam from the same start, the same batches -----------------------
    def fit(name):
        for k, v in initial.items():
            g.set_param(k, v)
        opt = mg.optim.Optimizer.for_graph(mg.optim.adam(3e-3), g)
        kw = {} if name == "one process" else {"parallel": dps[name]}
        run = mg.fit if name == "one process" else mg.distributed.fit
        start = time.perf_counter()
        run(
            opt,
            loss,
            (Xtr, ytr),
            inputs=("x", "y"),
            epochs=epochs,
            batch_size=batch_size,
            rng=np.random.default_rng(2),
            progress=False,
            **kw,
        )
        seconds = time.perf_counter() - start
        acc = accuracy(g.forward(logits, {"x": Xte})[logits], yte)
        return seconds / epochs, acc

    print(f"\n| training, {epochs} epochs | time per epoch | held-out accuracy |\n|---|---|---|")
    for name in ["one process", *dps]:
        per_epoch, acc = fit(name)
        print(f"| {name} | {1e3 * per_epoch:.0f} ms | {acc:.4f} |")
    for dp in dps.values():
        dp.close()
    ray.shutdown()
    load = os.getloadavg()[0]
    print(
        f"\n(load average {load:.1f} on {os.cpu_count()} cores; Ray {ray.__version__}, "
        f"NumPy {np.__version__})"
    )


def model(step_times, full_times, batch, rows, params_bytes, bandwidth=1.25e9):
    """Time per step on P machines from the measured costs: ``T1 / P`` of computation,
    the fixed cost of a distributed step (one worker's step beyond its computation), ``c`` per
    further worker (the driver's part of one more call: submit, fetch, unpickle, add), and the
    parameters out and gradients back through the driver's network link, ``2 P S / bandwidth``
    (10 Gbit/s by default)."""
    fixed = step_times["ray x1"] - step_times["one process"]
    c = step_times["ray no-op calls to 2 workers"] - step_times["ray round trip (no-op call)"]
    net = 2 * params_bytes / bandwidth
    print(
        f"\nmodel: fixed {1e3 * fixed:.2f} ms per step, {1e3 * c:.3f} ms per further worker "
        f"in the driver, {1e6 * net:.0f} us per worker on a 10 Gbit/s link "
        f"(S = {params_bytes} bytes out and back)"
    )
    print("\n| P machines | " + " | ".join(["1", "2", "8", "16", "32", "64"]) + " | best P |")
    print("|---|" + "---|" * 7)
    for label, T1 in [
        (f"batch {batch}", step_times["one process"]),
        (f"full data, {rows} rows", full_times["one process"]),
        ("100x the full data", 100 * full_times["one process"]),
    ]:
        cells = [T1 / P + fixed + (P - 1) * c + P * net for P in (1, 2, 8, 16, 32, 64)]
        best = max(1.0, (T1 / (c + net)) ** 0.5)
        print(
            f"| {label} (T1 = {1e3 * T1:.1f} ms) | "
            + " | ".join(f"{1e3 * t:.1f} ms" for t in cells)
            + f" | {best:.0f} |"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    main(a.epochs, a.repeats, a.batch_size)
