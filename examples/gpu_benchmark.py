"""The MLP step on a GPU: mpgraph on CuPy against hand-written CuPy and PyTorch CUDA.

    python examples/gpu_benchmark.py             # a machine with a CUDA GPU and CuPy
    python examples/gpu_benchmark.py --check     # the check path only (any machine)

mpgraph runs on the array library of its feeds (docs/backends.md): fed CuPy arrays, every op
runs on the GPU through NumPy's dispatch protocols, and the parameters move there on the first
run. The workload is the MLP step of examples/benchmark.py (784-256-256-10, tanh, softmax
cross-entropy, batch 128, float32), timed interleaved with the device synchronised after each
call; medians of per-repeat ratios to hand-written CuPy.

On a machine without a GPU (or without CuPy) the script says so and runs only the check path:
the same mpgraph step and the same hand-written step, on NumPy and on Dask (the CPU stand-in
that receives NumPy's calls as CuPy does), must give the same gradients. That path is what a
GPU run executes, minus the device.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the benchmark beside it
from benchmark import LAYERS, mlp_data  # noqa: E402 - the same MLP, weights and batch

import mpgraph as mg  # noqa: E402
from mpgraph.backend import library_named, to_numpy  # noqa: E402


def gpu_status() -> tuple[object | None, str]:
    """``(cupy, "cuda:0 <name>")`` when CuPy sees a GPU, else ``(None, why not)``."""
    try:
        import cupy
    except ImportError:
        return None, "CuPy is not installed (pip install 'mpgraph[gpu]' on a CUDA machine)"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - no driver, no device: both mean no GPU
        return None, f"CuPy finds no CUDA device ({type(e).__name__}: {e})"
    if count == 0:
        return None, "CuPy finds no CUDA device"
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return cupy, f"cuda:0 {name}"


def hand_step(params, x, onehot):
    """Loss and gradients by hand (BP1-BP4), in NumPy's names: the same code runs on NumPy,
    CuPy and Dask arrays, each call dispatched to the library of ``x``."""
    activations, a = [x], x
    for W, b in zip(params[:-2:2], params[1:-2:2]):
        a = np.tanh(a @ W + b)
        activations.append(a)
    z = a @ params[-2] + params[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    batch = x.shape[0]
    loss = -np.sum(onehot * np.log(probs)) / batch
    delta = (probs - onehot) / batch
    grads = [None] * len(params)
    for layer in range(len(params) // 2 - 1, -1, -1):
        a = activations[layer]
        grads[2 * layer] = a.T @ delta
        grads[2 * layer + 1] = delta.sum(axis=0)
        if layer:
            delta = (delta @ params[2 * layer].T) * (1 - a * a)
    return loss, grads


def mpgraph_step(params, x, labels) -> Callable:
    """The MLP as an mpgraph Graph built once from NumPy parameters; the returned step feeds
    ``x`` and ``labels`` (arrays of any one library) and returns the gradients."""
    g = mg.Graph()
    xin = g.input("x", shape=(None, x.shape[1]), dtype=x.dtype)
    t = g.input("labels", shape=(None,), dtype=np.int64)
    ws, a = [], xin
    n_layers = len(params) // 2
    for k in range(n_layers):
        with g.scope(f"layer{k + 1}"):
            W, b = g.param("W", params[2 * k]), g.param("b", params[2 * k + 1])
            ws += [W, b]
            a = a @ W + b
            a = mg.ops.tanh(a) if k < n_layers - 1 else a
    loss = mg.ops.cross_entropy(a, t, name="loss")
    feed = {xin: x, t: labels}

    def step():
        return g.grad(loss, wrt=ws, feed=feed)

    return step


def check(libraries=("numpy", "dask"), layers=(12, 7, 5, 3), batch: int = 6) -> list[str]:
    """The check path: on each library, mpgraph's gradients equal the hand-written ones."""
    params, x, labels = mlp_data(layers, batch, np.float64)
    lines = []
    for name in libraries:
        lib = library_named(name)
        dev = [lib.asarray(p) for p in params]
        xd, td = lib.asarray(x), lib.asarray(labels)
        onehot = lib.asarray(np.eye(layers[-1])[labels])
        _, want = hand_step(dev, xd, onehot)
        got = mpgraph_step(params, xd, td)()
        for w, gr in zip(want, got):
            if type(gr) is not type(w):
                raise AssertionError(f"on {name}: a gradient is a {type(gr)}, not a {type(w)}")
            np.testing.assert_allclose(to_numpy(gr), to_numpy(w), rtol=1e-10, atol=1e-12)
        lines.append(f"check path on {name}: mpgraph's gradients equal hand-written ones")
    return lines


def _torch_step(params, x, labels):
    import torch

    dev = torch.device("cuda")
    ps = [torch.tensor(p, device=dev, requires_grad=True) for p in params]
    xt = torch.tensor(x, device=dev)
    lt = torch.tensor(labels, device=dev)

    def step():
        a = xt
        for k in range(len(ps) // 2):
            a = a @ ps[2 * k] + ps[2 * k + 1]
            if k < len(ps) // 2 - 1:
                a = torch.tanh(a)
        loss = torch.nn.functional.cross_entropy(a, lt)
        return torch.autograd.grad(loss, ps)

    return step


def _timed(contenders: dict[str, Callable], sync: Callable, repeats: int) -> dict[str, float]:
    """Median per-repeat ratio of each contender to the first, interleaved, device synced."""
    for fn in contenders.values():
        fn()
        fn()
    sync()
    names = list(contenders)
    times = {n: [] for n in names}
    for r in range(repeats):
        shift = r % len(names)
        for n in names[shift:] + names[:shift]:
            sync()
            start = time.perf_counter()
            contenders[n]()
            sync()
            times[n].append(time.perf_counter() - start)
    base = names[0]
    return {n: statistics.median([t / b for t, b in zip(times[n], times[base])]) for n in names} | {
        f"{base} (ms)": 1e3 * statistics.median(times[base])
    }


def run_gpu(cupy, repeats: int) -> list[str]:
    params, x, labels = mlp_data(dtype=np.float32)
    dev = [cupy.asarray(p) for p in params]
    xd, td = cupy.asarray(x), cupy.asarray(labels)
    onehot = cupy.asarray(np.eye(LAYERS[-1], dtype=np.float32)[labels])
    contenders = {
        "hand-written CuPy": lambda: hand_step(dev, xd, onehot),
        "mpgraph on CuPy": mpgraph_step(params, xd, td),
    }
    try:
        import torch

        if torch.cuda.is_available():
            contenders["PyTorch CUDA"] = _torch_step(params, x, labels)
    except ImportError:
        pass
    ratios = _timed(contenders, cupy.cuda.Device().synchronize, repeats)
    return [f"{name}: {value:.3g}" for name, value in ratios.items()]


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="run the check path only")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    cupy, status = gpu_status()
    lines = [f"GPU: {status}" if cupy is not None else f"no GPU: {status}"]
    libraries = ("numpy", "dask") if cupy is None else ("numpy", "dask", "cupy")
    lines += check(libraries)
    if cupy is not None and not args.check:
        lines.append(f"MLP step {LAYERS}, batch 128, float32; ratio to hand-written CuPy:")
        lines += run_gpu(cupy, args.repeats)
    elif cupy is None:
        lines.append("no GPU figures from this machine: they need a CUDA GPU with CuPy")
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
