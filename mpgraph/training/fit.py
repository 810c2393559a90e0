"""The fit loop: epochs of minibatch steps on a graph, validation, early stopping, a tqdm bar,
history as a plain dict, checkpoints that resume exactly.

Steps run in training mode and validation in evaluation mode (see :mod:`mpgraph.training.layers`:
a :class:`~mpgraph.training.layers.Dropout` drops in the steps, not in validation).

>>> import numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x, y = g.input("x", shape=(None,)), g.input("y", shape=(None,))
>>> w = g.param("w", 0.0)
>>> loss = mg.ops.mean((w * x - y) * (w * x - y))
>>> X = np.linspace(-1, 1, 32)
>>> opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(0.5), g)
>>> hist = mg.fit(opt, loss, (X, 2 * X), inputs=("x", "y"), epochs=30, batch_size=8,
...               progress=False)
>>> round(float(g["w"].value), 4), len(hist["loss"])
(2.0, 30)
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import FeedError, LoadError
from .data import batch_indices
from .layers import mode, statistics, update_statistics
from .optim import Optimizer

__all__ = ["History", "accuracy", "fit", "load_checkpoint", "save_checkpoint"]


class History(dict):
    """Per-epoch lists by name (``loss``, ``val_<metric>``, ...): a plain dict with helpers."""

    def to_pandas(self):
        """The history as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(dict(self))

    def plot(self, path: str | None = None):
        """Learning curves with matplotlib; saved to ``path`` when given. Returns the figure."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, values in self.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
        if path is not None:
            fig.savefig(path, dpi=100, bbox_inches="tight")
        return fig


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the label.

    >>> accuracy(np.array([[0.1, 2.0], [3.0, 0.0]]), np.array([1, 1]))
    0.5
    """
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def fit(
    opt: Optimizer,
    loss: Any,
    data: Sequence[np.ndarray],
    *,
    inputs: Sequence[str],
    epochs: int = 1,
    batch_size: int = 32,
    rng: np.random.Generator | None = None,
    val: Sequence[np.ndarray] | None = None,
    metrics: Mapping[str, Callable[[dict], float]] | None = None,
    patience: int | None = None,
    callbacks: Sequence[Callable] = (),
    progress: bool = True,
    drop_last: bool = False,
    value_and_grad: Callable[[np.ndarray], tuple[float, dict]] | None = None,
) -> History:
    """Train ``opt`` (made with :meth:`Optimizer.for_graph`) on ``loss``.

    The steps run in training mode and the validation (loss and metrics) in evaluation mode
    (:func:`mpgraph.training.layers.mode`); the graph's mode is restored after each.

    Parameters
    ----------
    opt : Optimizer bound to the graph that holds ``loss``
    loss : the scalar loss node, built once
    data : arrays fed, batch by batch, to the graph inputs named in ``inputs``
    val : arrays for validation after each epoch (``val_loss`` and ``val_<metric>``)
    metrics : name -> ``f(feed) -> float`` evaluated on the validation feed
    patience : stop after this many epochs without a better ``val_loss``
    callbacks : ``f(epoch, history)`` after each epoch; returning True stops training
    value_and_grad : ``f(rows) -> (loss, grads by parameter name)`` for the batch of ``data``
        at indices ``rows``, in place of a forward and backward pass here; the gradients of
        workers, for example (:func:`mpgraph.distributed.fit`)

    Returns
    -------
    History

    Raises
    ------
    FeedError
        The arrays of ``data`` are not aligned along axis 0.
    """
    from tqdm.auto import tqdm

    lengths = [len(a) for a in data]
    if len(set(lengths)) != 1:
        raise FeedError(f"mpgraph: fit: data arrays of lengths {lengths} do not align along axis 0")
    graph = opt.graph
    hist = History(loss=[])
    best, waited = np.inf, 0
    bar = tqdm(range(epochs), disable=not progress, unit="epoch")
    for epoch in bar:
        losses, sizes = [], []
        with mode(graph, training=True):
            for rows in batch_indices(
                len(data[0]), batch_size=batch_size, rng=rng, drop_last=drop_last
            ):
                if value_and_grad is None:
                    feed = {k: a[rows] for k, a in zip(inputs, data)}
                    update_statistics(graph, feed)  # batch norm's, from this step's batch
                    losses.append(opt.minimize(loss, feed))
                else:
                    if statistics(graph):  # from the whole batch, as in one process
                        update_statistics(graph, {k: a[rows] for k, a in zip(inputs, data)})
                    value, grads = value_and_grad(rows)
                    opt.step(grads)
                    losses.append(value)
                sizes.append(len(rows))
        hist["loss"].append(float(np.average(losses, weights=sizes)))
        if val is not None:
            feed = dict(zip(inputs, val))
            with mode(graph, training=False):
                hist.setdefault("val_loss", []).append(float(graph.forward(loss, feed)[loss]))
                for name, f in (metrics or {}).items():
                    hist.setdefault(f"val_{name}", []).append(float(f(feed)))
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in hist.items()})
        if any(cb(epoch, hist) for cb in callbacks):
            break
        if patience is not None and val is not None:
            if hist["val_loss"][-1] < best:
                best, waited = hist["val_loss"][-1], 0
            else:
                waited += 1
                if waited >= patience:
                    break
    return hist


def save_checkpoint(path: str, opt: Optimizer, **extra: Any) -> None:
    """Write parameters, optimizer state, the state of every ``numpy.random.Generator`` held
    by a node of the optimizer's graph (dropout masks), batch norm's running statistics and
    ``extra`` (e.g. the shuffling rng's state) to ``path``.

    See also
    --------
    load_checkpoint
    """
    states = {key: gen.bit_generator.state for key, gen in _generators(opt.graph).items()}
    stats = {name: np.array(node.value) for name, node in _statistics(opt.graph).items()}
    with open(path, "wb") as f:
        pickle.dump(
            {
                "optimizer": opt.state_dict(),
                "generators": states,
                "statistics": stats,
                "extra": extra,
            },
            f,
        )


def load_checkpoint(path: str, opt: Optimizer) -> dict:
    """Restore ``opt`` (and its graph's parameters and node Generators) from ``path``, so that
    training continues exactly as it would have; returns the ``extra`` dict.

    Raises
    ------
    LoadError
        The checkpoint holds the Generator of a node that the graph does not have (a graph
        built differently).
    """
    with open(path, "rb") as f:
        saved = pickle.load(f)
    gens = _generators(opt.graph)
    missing = sorted(set(saved.get("generators", {})) - set(gens))
    if missing:
        raise LoadError(
            f"mpgraph: checkpoint '{path}' holds the random state of "
            f"{', '.join(missing)}, which this graph does not have "
            f"(its Generators: {', '.join(sorted(gens)) or 'none'})"
        )
    stats = _statistics(opt.graph)
    missing = sorted(set(saved.get("statistics", {})) - set(stats))
    if missing:
        raise LoadError(
            f"mpgraph: checkpoint '{path}' holds the running statistics {', '.join(missing)}, "
            "which this graph does not have"
        )
    opt.load_state_dict(saved["optimizer"])
    for key, state in saved.get("generators", {}).items():
        gens[key].bit_generator.state = state
    for name, value in saved.get("statistics", {}).items():
        value.flags.writeable = False
        stats[name].fixed = value  # as update_statistics sets them
    return saved["extra"]


def _statistics(graph: Any) -> dict:
    return {} if graph is None else statistics(graph)


def _generators(graph: Any) -> dict[str, np.random.Generator]:
    """``node/attribute`` -> Generator, for the Generators held by the nodes of ``graph``."""
    if graph is None:
        return {}
    return {
        f"{node.name}.{k}": v
        for node in graph
        if node.attrs
        for k, v in node.attrs.items()
        if isinstance(v, np.random.Generator)
    }
