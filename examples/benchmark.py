"""Benchmark mpgraph against the same computations written by hand in NumPy.

    python examples/benchmark.py            # the full suite; prints a table (about 3 minutes)
    python examples/benchmark.py --smoke    # tiny sizes, few repeats: checks that it all runs

Every figure is a median over many repeats, with the garbage collector on, and the contenders
of one workload are timed in turn within each repeat (interleaved, in rotating order), so
that a noisy machine slows them alike; a ratio is the median of the ratios within each repeat.
Before each timed call of the small-op workloads, garbage is collected, so that one
contender's garbage does not make another pay for a collection.
Ratios are against hand-written NumPy measured in the same run. PyTorch (CPU) and HIPS autograd
are measured too when they are installed; neither is required. The table's last column is the
target this project set itself, and whether this run met it. The first line gives the machine
and its load average: on a shared machine the absolute times move with the load.

Workloads
---------
- mlp: one training step of a 784-256-256-10 MLP (tanh hidden layers, softmax cross-entropy
  averaged over a batch of 128): forward + backward, gradients for every weight and bias,
  in float64 and float32. The baseline is Nielsen's four backprop equations, vectorised.
- fwd: the MLP forward alone, paired with the step, to print backward/forward =
  (step - forward) / forward.
- mem: peak memory (tracemalloc) allocated by one MLP step.
- chain: 2,000 steps of ``y = tanh(y * -0.95 + 0.1)`` on a scalar (6,000 op nodes), forward
  + backward, in microseconds per op node: re-running a built Graph, and ``mg.grad``
  (trace + run).
- fan: one input of shape (64,), 1,000 branches ``sum(sin(x * c_i))``, all summed; by hand
  (branch by branch, as the graph runs it), re-running a built Graph, and ``mg.grad``.
- scaling: the chain at 500, 2,000 and 8,000 steps (re-running a built Graph).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's
import mpgraph as mg  # noqa: E402
from mpgraph.engine.run import COMPILE_AFTER  # noqa: E402

try:
    import torch
except ImportError:  # an optional peer
    torch = None
try:
    import threadpoolctl
except ImportError:  # optional: without it NumPy's BLAS keeps its own thread count
    threadpoolctl = None
try:
    import autograd
    import autograd.numpy as anp
except ImportError:  # an optional peer
    autograd = None

LAYERS = (784, 256, 256, 10)
CHAIN_A, CHAIN_B = -0.95, 0.1  # keeps the chain's gradient a normal float (0.9 goes subnormal)


# -- the MLP step ---------------------------------------------------------------------------------


def mlp_data(layers=LAYERS, batch: int = 128, dtype=np.float64, seed: int = 0):
    """Weights, biases, a batch of inputs and integer labels."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        params.append((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype))
        params.append(np.zeros(n_out, dtype=dtype))
    x = rng.standard_normal((batch, layers[0])).astype(dtype)
    labels = rng.integers(0, layers[-1], size=batch)
    return params, x, labels


def hand_forward(params, x, labels):
    """The forward pass by hand; returns the loss and what the backward pass needs."""
    activations = [x]
    a = x
    for W, b in zip(params[:-2:2], params[1:-2:2]):
        a = np.tanh(a @ W + b)
        activations.append(a)
    z = a @ params[-2] + params[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = -np.mean(np.log(probs[rows, labels]))
    return loss, activations, probs


def hand_step(params, x, labels):
    """Loss and gradients by Nielsen's four equations (BP1-BP4), vectorised over the batch."""
    loss, activations, probs = hand_forward(params, x, labels)
    delta = probs  # BP1 for softmax cross-entropy: (softmax(z) - onehot) / batch
    delta[np.arange(len(labels)), labels] -= 1
    delta /= len(labels)
    grads = [None] * len(params)
    for layer in range(len(params) // 2 - 1, -1, -1):
        a = activations[layer]
        grads[2 * layer] = a.T @ delta  # BP4
        grads[2 * layer + 1] = delta.sum(axis=0)  # BP3
        if layer:
            delta = (delta @ params[2 * layer].T) * (1 - a * a)  # BP2, tanh' = 1 - tanh^2
    return loss, grads


def mpgraph_mlp(params, x, labels):
    """The same MLP as an mpgraph Graph, built once; returns (step, forward) callables."""
    g = mg.Graph()
    xin = g.input("x", shape=(None, x.shape[1]), dtype=x.dtype)
    t = g.input("labels", shape=(None,))
    ws = []
    a = xin
    n_layers = len(params) // 2
    for k in range(n_layers):
        with g.scope(f"layer{k + 1}"):
            W, b = g.param("W", params[2 * k]), g.param("b", params[2 * k + 1])
            ws += [W, b]
            z = a @ W + b
            a = mg.ops.tanh(z) if k < n_layers - 1 else z
    loss = mg.ops.softmax_cross_entropy(a, t, reduction="mean", name="loss")
    feed = {"x": x, "labels": labels}

    def step():
        return g.grad(loss, wrt=ws, feed=feed)

    def forward():
        return g.forward(loss, feed)[loss]

    return step, forward


def torch_mlp(params, x, labels):
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    tx, tt = torch.from_numpy(x), torch.from_numpy(labels)

    def forward():
        a = tx
        for k in range(0, len(tp) - 2, 2):
            a = torch.tanh(a @ tp[k] + tp[k + 1])
        return torch.nn.functional.cross_entropy(a @ tp[-2] + tp[-1], tt)

    def step():
        for p in tp:
            p.grad = None
        forward().backward()
        return [p.grad for p in tp]

    def forward_only():
        with torch.no_grad():
            return forward()

    return step, forward_only


def autograd_mlp(params, x, labels):
    def loss(ps):
        a = x
        for k in range(0, len(ps) - 2, 2):
            a = anp.tanh(a @ ps[k] + ps[k + 1])
        z = a @ ps[-2] + ps[-1]
        z = z - anp.max(z, axis=1, keepdims=True)
        logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.mean(logp[np.arange(len(labels)), labels])

    grad = autograd.grad(loss)
    return (lambda: grad(list(params))), (lambda: loss(list(params)))


def mlp_contenders(dtype, layers=LAYERS, batch: int = 128) -> dict[str, tuple[Callable, Callable]]:
    """Name -> (step, forward) for every contender available."""
    params, x, labels = mlp_data(layers, batch, dtype)
    out = {
        "numpy (hand)": (
            lambda: hand_step(params, x, labels),
            lambda: hand_forward(params, x, labels)[0],
        ),
        "mpgraph": mpgraph_mlp(params, x, labels),
    }
    if torch is not None:
        out["torch"] = torch_mlp(params, x, labels)
    if autograd is not None:
        out["autograd"] = autograd_mlp(params, x, labels)
    return out


# -- the CNN step ---------------------------------------------------------------------------------

CNN_INPUT = (64, 1, 28, 28)  # batch, channels, height, width: MNIST-sized digits


def cnn_data(batch: int = 64, side: int = 28, dtype=np.float64, seed: int = 0):
    """Parameters (w1, b1, w2, b2, W, b), images and labels of the CNN
    conv 1->8 3x3, relu, max-pool 2, conv 8->16 3x3, relu, max-pool 2, linear -> 10."""
    rng = np.random.default_rng(seed)
    flat = 16 * cnn_side(side) ** 2
    params = [
        rng.standard_normal((8, 1, 3, 3)) / 3,
        np.zeros(8),
        rng.standard_normal((16, 8, 3, 3)) / np.sqrt(72),
        np.zeros(16),
        rng.standard_normal((flat, 10)) / np.sqrt(flat),
        np.zeros(10),
    ]
    x = rng.standard_normal((batch, 1, side, side))
    return [p.astype(dtype) for p in params], x.astype(dtype), rng.integers(0, 10, size=batch)


def cnn_side(side: int) -> int:
    """The side of the second pooling's output for a ``side`` x ``side`` image."""
    return ((side - 2) // 2 - 2) // 2


def _im2col(x, k: int):
    """Channel-major ``x`` (C, N, H, W) as the (C*k*k, N*Ho*Wo) matrix of its k x k windows."""
    c, n, h, w = x.shape
    ho, wo = h - k + 1, w - k + 1
    cols = np.empty((c, k, k, n, ho, wo), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = x[:, :, i : i + ho, j : j + wo]
    return cols.reshape(c * k * k, -1)


def _pool2(a):
    """2x2 max-pooling of channel-major ``a``: the pooled values and where the maxima were."""
    c, n, h, w = a.shape
    blocks = a[:, :, : h // 2 * 2, : w // 2 * 2].reshape(c, n, h // 2, 2, w // 2, 2)
    p = blocks.max(axis=(3, 5))
    return p, blocks == p[:, :, :, None, :, None]


def hand_cnn_step(params, x, labels):
    """The CNN's loss and gradients written by hand in NumPy: im2col convolutions, channel-major
    (C, N, H, W) activations, reshaped 2x2 pooling."""
    w1, b1, w2, b2, W, b = params
    n = x.shape[0]
    c1 = _im2col(x.transpose(1, 0, 2, 3), 3)
    h1 = x.shape[2] - 2
    z1 = (w1.reshape(8, -1) @ c1).reshape(8, n, h1, h1) + b1[:, None, None, None]
    a1 = np.maximum(z1, 0)
    p1, m1 = _pool2(a1)
    c2 = _im2col(p1, 3)
    h2 = p1.shape[2] - 2
    z2 = (w2.reshape(16, -1) @ c2).reshape(16, n, h2, h2) + b2[:, None, None, None]
    a2 = np.maximum(z2, 0)
    p2, m2 = _pool2(a2)
    flat = p2.transpose(1, 0, 2, 3).reshape(n, -1)
    z = flat @ W + b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = -np.mean(np.log(probs[rows, labels]))
    delta = probs
    delta[rows, labels] -= 1
    delta /= n
    gW, gb = flat.T @ delta, delta.sum(axis=0)
    gp2 = (delta @ W.T).reshape(p2.shape[1], p2.shape[0], *p2.shape[2:]).transpose(1, 0, 2, 3)
    ga2 = np.zeros_like(a2)
    s = p2.shape[2] * 2
    ga2[:, :, :s, :s] = (m2 * gp2[:, :, :, None, :, None]).reshape(16, n, s, s)
    gz2 = ga2 * (z2 > 0)
    gw2 = (gz2.reshape(16, -1) @ c2.T).reshape(w2.shape)
    gcols = (w2.reshape(16, -1).T @ gz2.reshape(16, -1)).reshape(8, 3, 3, n, h2, h2)
    gp1 = np.zeros_like(p1)
    for i in range(3):
        for j in range(3):
            gp1[:, :, i : i + h2, j : j + h2] += gcols[:, i, j]
    ga1 = (m1 * gp1[:, :, :, None, :, None]).reshape(a1.shape)
    gz1 = ga1 * (z1 > 0)
    gw1 = (gz1.reshape(8, -1) @ c1.T).reshape(w1.shape)
    return loss, [gw1, gz1.sum(axis=(1, 2, 3)), gw2, gz2.sum(axis=(1, 2, 3)), gW, gb]


def mpgraph_cnn(params, x, labels):
    """The CNN as an mpgraph Graph, built once (conv2d and max_pool2d from the conv plugin)."""
    g = mg.Graph()
    xin = g.input("x", shape=(None,) + x.shape[1:], dtype=x.dtype)
    t = g.input("labels", shape=(None,))
    w1, b1, w2, b2, W, b = (
        g.param(name, p) for name, p in zip(("w1", "b1", "w2", "b2", "W", "b"), params)
    )
    h = mg.ops.max_pool2d(mg.ops.relu(mg.ops.conv2d(xin, w1) + mg.ops.reshape(b1, (8, 1, 1))), 2)
    h = mg.ops.max_pool2d(mg.ops.relu(mg.ops.conv2d(h, w2) + mg.ops.reshape(b2, (16, 1, 1))), 2)
    logits = mg.ops.reshape(h, (-1, W.shape[0])) @ W + b
    loss = mg.ops.softmax_cross_entropy(logits, t, reduction="mean")
    ws, feed = [w1, b1, w2, b2, W, b], {"x": x, "labels": labels}
    return lambda: g.grad(loss, wrt=ws, feed=feed)


def torch_cnn(params, x, labels):
    """The CNN as PyTorch users write it: functional ops on leaf tensors, eager autograd."""
    F = torch.nn.functional
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    tx, tt = torch.from_numpy(x), torch.from_numpy(labels)

    def step():
        w1, b1, w2, b2, W, b = tp
        for p in tp:
            p.grad = None
        h = F.max_pool2d(F.relu(F.conv2d(tx, w1, b1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2)
        F.cross_entropy(h.flatten(1) @ W + b, tt).backward()
        return [p.grad for p in tp]

    return step


def cnn_contenders(dtype, batch: int = 64, side: int = 28) -> dict[str, Callable]:
    """Name -> step for every CNN contender available; None for mpgraph without the conv
    plugin."""
    params, x, labels = cnn_data(batch, side, dtype)
    out = {"numpy (hand)": lambda: hand_cnn_step(params, x, labels)}
    if hasattr(mg.ops, "conv2d"):
        out["mpgraph"] = mpgraph_cnn(params, x, labels)
    if torch is not None:
        out["torch"] = torch_cnn(params, x, labels)
    return out


# -- the small-op chain and the fan-out -----------------------------------------------------------


def chain(y, steps: int):
    """``steps`` times ``y = tanh(y * -0.95 + 0.1)``: three op nodes a step."""
    for _ in range(steps):
        y = mg.ops.tanh(y * CHAIN_A + CHAIN_B)
    return y


def chain_by_hand(y0: float, steps: int) -> tuple[float, float]:
    """The chain's value and derivative by the chain rule, forward mode, in plain floats."""
    y, dy = y0, 1.0
    for _ in range(steps):
        y = float(np.tanh(y * CHAIN_A + CHAIN_B))
        dy *= CHAIN_A * (1 - y * y)
    return y, dy


def chain_graph(steps: int):
    """A built Graph of the chain; returns a callable that re-runs it (forward + backward)."""
    g = mg.Graph()
    y0 = g.input("y0", shape=())
    out = chain(y0, steps)
    feed = {"y0": np.float64(0.3)}
    return lambda: g.grad(out, wrt=y0, feed=feed)


def chain_grad(steps: int):
    """``mg.grad`` of the chain: traces a new Graph and runs it at every call."""
    f = mg.grad(lambda y: chain(y, steps))
    return lambda: f(np.float64(0.3))


def torch_chain(steps: int):
    def step():
        y0 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        y = y0
        for _ in range(steps):
            y = torch.tanh(y * CHAIN_A + CHAIN_B)
        y.backward()
        return y0.grad

    return step


def autograd_chain(steps: int):
    def f(y):
        for _ in range(steps):
            y = anp.tanh(y * CHAIN_A + CHAIN_B)
        return y

    grad = autograd.grad(f)
    return lambda: grad(0.3)


def fan(x, cs):
    """``sum_i sum(sin(x * c_i))``: one input fanning out to ``len(cs)`` branches."""
    total = None
    for c in cs:
        branch = mg.ops.sum(mg.ops.sin(x * c))
        total = branch if total is None else total + branch
    return total


def fan_by_hand(x: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """The fan-out's gradient in closed form: sum_i c_i cos(c_i x)."""
    return np.sum(cs[:, None] * np.cos(np.multiply.outer(cs, x)), axis=0)


def fan_numpy(x: np.ndarray, cs: np.ndarray):
    """The fan-out by hand, branch by branch as the graph runs it: value and gradient."""

    def step():
        total, grad = 0.0, np.zeros_like(x)
        for c in cs:
            u = x * c
            total += np.sum(np.sin(u))
            grad += c * np.cos(u)
        return total, grad

    return step


def fan_graph(x: np.ndarray, cs: np.ndarray):
    g = mg.Graph()
    xin = g.input("x", shape=x.shape)
    out = fan(xin, [float(c) for c in cs])
    return lambda: g.grad(out, wrt=xin, feed={"x": x})


def fan_grad(x: np.ndarray, cs: np.ndarray):
    f = mg.grad(lambda x: fan(x, [float(c) for c in cs]))
    return lambda: f(x)


def fan_data(n: int = 64, branches: int = 1000):
    rng = np.random.default_rng(1)
    return rng.standard_normal(n), rng.uniform(-1, 1, branches)


# -- measuring ------------------------------------------------------------------------------------


def set_threads(n: int) -> str:
    """Give every contender ``n`` threads: NumPy's BLAS (and any OpenMP runtime) through
    threadpoolctl, PyTorch through ``torch.set_num_threads``; returns what was set, for the
    machine line. Without threadpoolctl NumPy keeps its own count, and the line says so."""
    said = []
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(n)
        libs = sorted(
            {f"{i['internal_api']} {i['num_threads']}" for i in threadpoolctl.threadpool_info()}
        )
        said.append("threadpoolctl: " + ", ".join(libs))
    else:
        said.append("threadpoolctl not installed: NumPy's thread count not set")
    if torch is not None:
        torch.set_num_threads(n)
        said.append(f"torch {torch.get_num_threads()}")
    return f"{n} thread{'s' if n != 1 else ''} each ({'; '.join(said)})"


def measure(
    contenders: dict[str, Callable],
    repeats: int,
    warmup: int = 2,
    collect: bool = False,
    pause: float = 0.0,
) -> dict[str, list[float]]:
    """Seconds per call of each contender, one entry per repeat.

    Within each repeat every contender is timed once, in an order rotated from one repeat to
    the next, so that each follows every other equally often; ratios are taken within one
    repeat (see :func:`ratio`), so that a burst of load from elsewhere on the machine slows
    both sides of it alike. With ``collect``, garbage is collected before each timed call
    (the collector stays on during it), so that a contender pays for the collections its own
    objects trigger, not for those another contender's garbage made due. ``pause`` seconds
    of sleep before each timed call let the worker threads of the previous contender's BLAS
    or OpenMP calls stop spinning (they keep a core busy for about 0.1 s after a call), so
    that they do not slow whoever runs next.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn = contenders[name]
            if collect:
                gc.collect()
            if pause:
                time.sleep(pause)
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def ratio(times: dict[str, list[float]], name: str, base: str) -> float:
    """The median over repeats of ``name``'s time over ``base``'s in the same repeat."""
    return statistics.median([t / b for t, b in zip(times[name], times[base])])


def interleaved(
    contenders: dict[str, Callable],
    repeats: int,
    warmup: int = 2,
    collect: bool = False,
    pause: float = 0.0,
) -> dict[str, tuple[float, float]]:
    """Each contender's median seconds per call, and its median ratio to the first one (see
    :func:`measure`)."""
    times = measure(contenders, repeats, warmup, collect, pause)
    first = next(iter(times))
    return {name: (statistics.median(ts), ratio(times, name, first)) for name, ts in times.items()}


def peak_memory(fn: Callable) -> int:
    """Bytes allocated at the peak of one call of ``fn``, beyond what existed before it."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak - base


def resident_growth(who: str, steps: int) -> int:
    """Bytes by which a fresh Python process's resident memory grows while it builds the chain
    of ``steps`` steps and keeps it: ``who`` is "mpgraph" (a built Graph) or "torch" (the tape
    PyTorch records in the forward pass). Resident memory counts what tracemalloc does not see
    (PyTorch's C++ tape) the same way as Python's; a fresh process has no freed memory that
    the build could reuse unseen."""
    # the peers this child does not measure are kept from loading (None in sys.modules
    # blocks an import): importing PyTorch takes seconds
    blocked = ["autograd"] + (["torch"] if who != "torch" else [])
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); "
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
        f"import benchmark; print(benchmark.grown_by({who!r}, {steps}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def grown_by(who: str, steps: int) -> int:
    """In this process: the resident memory a kept chain of ``steps`` steps adds (see
    :func:`resident_growth`)."""
    build = chain_build(steps) if who == "mpgraph" else torch_chain_tape(steps)
    small = chain_build(10) if who == "mpgraph" else torch_chain_tape(10)
    small()  # first calls fill caches (op table, dispatch) that are not the graph's

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    gc.collect()
    before = rss()
    kept = build()
    grown = rss() - before
    del kept
    return grown


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    peers = [
        f"torch {torch.__version__}"
        if torch is not None
        else "torch not installed: no PyTorch column (pip install torch)",
        f"autograd {autograd_version()}" if autograd is not None else "autograd not installed",
    ]
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{cpu}, {os.cpu_count()} cores{load}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, mpgraph {mg.__version__}; {', '.join(peers)}"
    )


def autograd_version() -> str:
    from importlib.metadata import version

    return version("autograd")


# -- the suite ------------------------------------------------------------------------------------


def target(value: float, limit: float, unit: str = "x") -> str:
    """The issue's target for a figure, and whether this run met it."""
    return f"<= {limit:g}{unit}: {'met' if value <= limit else 'missed'}"


def chain_build(steps: int):
    """Building the chain's Graph alone (what tracing costs before anything runs)."""

    def build():
        g = mg.Graph()
        return g, chain(g.input("y0", shape=()), steps)

    return build


def torch_chain_tape(steps: int):
    """The chain's forward in PyTorch, its recorded tape kept (nothing run backward)."""

    def build():
        y0 = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        y = y0
        for _ in range(steps):
            y = torch.tanh(y * CHAIN_A + CHAIN_B)
        return y

    return build


def run_suite(
    smoke: bool = False, repeats: int | None = None, pause: float = 0.0
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Run every workload; return the table rows (workload, contender, figure, against hand,
    target) and the rows of the targets table (target, figure, met or missed)."""
    rows: list[tuple[str, ...]] = []
    goals: list[tuple[str, ...]] = []

    def goal(what: str, value: float, limit: float, unit: str, figure: str) -> None:
        goals.append((what, figure, f"<= {limit:g}{unit}", "met" if value <= limit else "missed"))

    layers, batch = ((20, 8, 8, 3), 4) if smoke else (LAYERS, 128)
    cnn_batch, cnn_side_ = (4, 12) if smoke else (CNN_INPUT[0], CNN_INPUT[2])
    steps, scales = (20, (5, 20)) if smoke else (2000, (500, 2000, 8000))
    branches = 10 if smoke else 1000
    r_mlp = repeats or (3 if smoke else 40)
    r_cnn = repeats or (3 if smoke else 30)
    r_small = repeats or (2 if smoke else 15)
    # The steps of a training loop (MLP, CNN) are timed as they run after its first hundred
    # steps: by then mpgraph has compiled the step's plan (see COMPILE_AFTER), and every
    # contender is warmed up alike.
    warm = 2 if smoke else COMPILE_AFTER + 1

    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        cont = mlp_contenders(dtype, layers, batch)
        step = interleaved({k: v[0] for k, v in cont.items()}, r_mlp, warm, pause=pause)
        for who, (t, r) in step.items():
            rows.append(
                (
                    f"mlp step {name}",
                    who,
                    f"{t * 1e3:.2f} ms",
                    f"{r:.2f}x",
                    target(r, 1.05) if who == "mpgraph" else "",
                )
            )
        for who, (step_fn, fwd_fn) in cont.items():
            both = interleaved({"forward": fwd_fn, "forward+backward": step_fn}, r_mlp, pause=pause)
            t_fwd, r = both["forward"][0], both["forward+backward"][1]
            rows.append(
                (
                    f"mlp backward/forward {name}",
                    who,
                    f"{r - 1:.2f} (forward {t_fwd * 1e3:.2f} ms)",
                    "",
                    target(r - 1, 1.6, "") if who == "mpgraph" else "",
                )
            )
        for who in ("numpy (hand)", "mpgraph"):
            peak = peak_memory(cont[who][0])
            if who == "numpy (hand)":
                hand_peak = peak
            rows.append(
                (
                    f"mlp peak memory {name}",
                    who,
                    f"{peak / 2**20:.2f} MiB",
                    f"{peak / hand_peak:.2f}x",
                    target(peak / hand_peak, 1.2) if who == "mpgraph" else "",
                )
            )

    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        cont = cnn_contenders(dtype, cnn_batch, cnn_side_)
        times = measure(cont, r_cnn, warm, pause=pause)
        for who, ts in times.items():
            vs_torch = (
                f", {ratio(times, who, 'torch'):.2f}x torch"
                if "torch" in times and who != "torch"
                else ""
            )
            rows.append(
                (
                    f"cnn step {name}",
                    who,
                    f"{statistics.median(ts) * 1e3:.2f} ms",
                    f"{ratio(times, who, 'numpy (hand)'):.2f}x{vs_torch}",
                    "",
                )
            )
        if "mpgraph" in times and "torch" in times:
            r = ratio(times, "mpgraph", "torch")
            goal(f"CNN step {name} (batch {cnn_batch}), vs PyTorch eager", r, 1.5, "x", f"{r:.2f}x")
        elif "mpgraph" not in times:
            print(
                "cnn: the conv plugin is not installed (pip install -e plugins/conv): "
                "no mpgraph row",
                file=sys.stderr,
            )

    nodes = 3 * steps
    chain_cont = {
        "mpgraph Graph re-run": chain_graph(steps),
        "mg.grad (trace+run)": chain_grad(steps),
        "graph construction": chain_build(steps),
    }
    if torch is not None:
        chain_cont["torch"] = torch_chain(steps)
    if autograd is not None:
        chain_cont["autograd"] = autograd_chain(steps)
    limits = {"mpgraph Graph re-run": 4, "graph construction": 5}
    times = measure(chain_cont, r_small, collect=True)
    for who, ts in times.items():
        per_node = statistics.median(ts) / nodes * 1e6
        vs_torch = ratio(times, who, "torch") if "torch" in times and who != "torch" else None
        rows.append(
            (
                f"chain {steps} steps ({nodes} nodes)",
                who,
                f"{per_node:.2f} us/node",
                f"{vs_torch:.2f}x torch" if vs_torch is not None else "",
                target(per_node, limits[who], " us/node") if who in limits else "",
            )
        )
        if who == "graph construction":
            goal(
                f"graph construction, chain of {nodes} nodes",
                per_node,
                5,
                " us/node",
                f"{per_node:.2f} us/node",
            )
        if who == "mg.grad (trace+run)" and vs_torch is not None:
            goal(
                f"mg.grad on the chain of {nodes} nodes, vs PyTorch eager",
                vs_torch,
                0.8,
                "x",
                f"{vs_torch:.2f}x ({per_node:.2f} us/node)",
            )

    x, cs = fan_data(64 if not smoke else 4, branches)
    fan_cont = {
        "numpy (hand)": fan_numpy(x, cs),
        "mpgraph Graph re-run": fan_graph(x, cs),
        "mg.grad (trace+run)": fan_grad(x, cs),
    }
    fan_nodes = 4 * branches - 1
    for who, (t, r) in interleaved(fan_cont, r_small, collect=True).items():
        rows.append(
            (
                f"fan-out {branches} branches ({fan_nodes} nodes)",
                who,
                f"{t * 1e3:.2f} ms ({t / fan_nodes * 1e6:.2f} us/node)",
                f"{r:.2f}x",
                target(r, 2.5) if who == "mpgraph Graph re-run" else "",
            )
        )
        if who == "mpgraph Graph re-run":
            goal(
                f"fan-out {branches} branches, Graph re-run vs a NumPy loop",
                r,
                2.5,
                "x",
                f"{r:.2f}x",
            )

    big = 200 if smoke else 20000  # enough nodes for the resident size to move by megabytes
    # smoke: in this process, without the seconds a child process takes to start
    per_node = {"mpgraph": (grown_by if smoke else resident_growth)("mpgraph", big) / (3 * big)}
    if torch is not None and not smoke:  # a child process importing PyTorch takes seconds
        per_node["torch tape"] = resident_growth("torch", big) / (3 * big)
    for who, b in per_node.items():
        rows.append((f"memory of a built chain ({3 * big} nodes)", who, f"{b:.0f} B/node", "", ""))
    if "torch tape" in per_node:
        mine, theirs = per_node["mpgraph"], per_node["torch tape"]
        goal(
            "memory of a built graph, vs PyTorch's recorded tape",
            mine / max(theirs, 1),
            1,
            "x",
            f"{mine:.0f} vs {theirs:.0f} B/node",
        )

    scale = interleaved({s: chain_graph(s) for s in scales}, r_small, collect=True)
    for prev, s in zip((None,) + scales, scales):
        growth = scale[s][1] / scale[prev][1] if prev else None
        rows.append(
            (
                f"scaling chain {s} steps",
                "mpgraph Graph re-run",
                f"{scale[s][0] / (3 * s) * 1e6:.2f} us/node",
                f"{growth:.2f}x time for {s // prev}x nodes" if prev else "",
                target(growth, 4.4 * (s // prev) / 4) if prev else "",
            )
        )
    return rows, goals


def print_table(
    rows, out=sys.stdout, header=("workload", "contender", "median", "vs hand NumPy", "target")
) -> None:
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
    print(line, file=out)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=out)
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |", file=out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few repeats")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for every contender's BLAS / OpenMP (default 1)",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=None,
        help="seconds of sleep before each timed call of the BLAS workloads "
        "(default 0.2 with more than one thread, else 0)",
    )
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    pause = args.pause if args.pause is not None else (0.2 if args.threads > 1 else 0.0)
    print(f"machine: {machine()}\nthreads: {threads}; pause {pause:g} s\n")
    rows, goals = run_suite(args.smoke, args.repeats, pause)
    print_table(rows)
    print("\ntargets (issue 11), from this run:\n")
    print_table(goals, header=("target", "measured", "limit", ""))


if __name__ == "__main__":
    main()
