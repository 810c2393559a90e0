"""``mg.fit`` with the gradients of each minibatch computed by workers.

The driver runs the training loop of :func:`mpgraph.fit` unchanged: the same batches from the
same ``rng``, the optimizer, validation, callbacks and checkpoints stay in the driver. Only each
batch's forward and backward pass moves to the workers, which hold their shard of ``data`` from
the start and receive the batch's row indices and the parameters at each step. The result is
the single-process one to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import GraphError
from ..training.fit import History
from ..training.fit import fit as fit_in_process
from ..training.optim import Optimizer
from .data_parallel import DataParallel

__all__ = ["fit"]


def fit(
    opt: Optimizer,
    loss: Any,
    data: Sequence[np.ndarray],
    *,
    inputs: Sequence[str],
    workers: int = 2,
    backend: str = "local",
    plugins: Sequence[Any] = (),
    parallel: DataParallel | None = None,
    **kwargs: Any,
) -> History:
    """Train as :func:`mpgraph.fit` does, with each batch's gradients from ``workers``.

    Parameters
    ----------
    opt, loss, data, inputs
        As for :func:`mpgraph.fit`; ``opt`` is bound to the graph holding ``loss``.
    workers, backend, plugins
        As for :class:`DataParallel`, which is started for this call and closed after it.
    parallel : DataParallel, optional
        Workers already started on ``data`` (with ``reduce="mean"``), used instead and left
        open: to train several times on the same workers, or to watch them.
    **kwargs
        ``epochs``, ``batch_size``, ``rng``, ``val``, ``metrics``, ``patience``, ``callbacks``,
        ``progress``, ``drop_last`` of :func:`mpgraph.fit`.

    Returns
    -------
    History

    Raises
    ------
    GraphError
        ``parallel`` is on another graph than the optimizer's, or does not average.
    WorkerError
        A worker raised, or died more often than its ``max_restarts`` in one step.

    See also
    --------
    mpgraph.fit, DataParallel

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x, y = g.input("x", shape=(None,)), g.input("y", shape=(None,))
    >>> w = g.param("w", 0.0)
    >>> loss = mg.ops.mean((w * x - y) ** 2)
    >>> X = np.linspace(-1, 1, 32)
    >>> opt = mg.optim.Optimizer.for_graph(mg.optim.sgd(0.5), g)
    >>> hist = mg.distributed.fit(opt, loss, (X, 2 * X), inputs=("x", "y"), workers=2,
    ...                           epochs=30, batch_size=8, progress=False)
    >>> round(float(g["w"].value), 4)
    2.0
    """
    if parallel is not None:
        if parallel.graph is not opt.graph or parallel.reduce != "mean":
            raise GraphError(
                "mpgraph: distributed.fit: parallel= must be a DataParallel on the "
                "optimizer's graph with reduce='mean'; got one on "
                f"{'another graph' if parallel.graph is not opt.graph else 'it'} "
                f"with reduce={parallel.reduce!r}"
            )
        return _fit(opt, loss, data, inputs, parallel, kwargs)
    with DataParallel(
        opt.graph, loss, dict(zip(inputs, data)), workers=workers, backend=backend, plugins=plugins
    ) as dp:
        return _fit(opt, loss, data, inputs, dp, kwargs)


def _fit(opt, loss, data, inputs, dp: DataParallel, kwargs: dict) -> History:
    # the workers read the graph's parameters, which opt.step writes back after each batch
    return fit_in_process(
        opt,
        loss,
        data,
        inputs=inputs,
        value_and_grad=lambda rows: dp.value_and_grad(rows=rows),
        **kwargs,
    )
