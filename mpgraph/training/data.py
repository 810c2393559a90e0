"""Minibatches from arrays, shuffled by an explicit ``np.random.Generator``.

Examples
--------
>>> import numpy as np
>>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
>>> [yb.tolist() for _, yb in minibatches(X, y, batch_size=2)]
[[0, 1], [2, 3], [4]]
>>> [yb.tolist() for _, yb in minibatches(X, y, batch_size=2, drop_last=True)]
[[0, 1], [2, 3]]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import FeedError

__all__ = ["batch_indices", "minibatches"]


def minibatches(
    *arrays: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield tuples of aligned slices of ``arrays`` along axis 0.

    Parameters
    ----------
    *arrays : arrays with the same first dimension
    batch_size : int
    rng : numpy Generator, optional
        Shuffles the order when given; otherwise batches come in order.
    drop_last : bool
        Skip a final batch smaller than ``batch_size``.

    Raises
    ------
    FeedError
        If the arrays have different lengths.
    """
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise FeedError(
            f"mpgraph: minibatches: arrays of lengths {[len(a) for a in arrays]} "
            "do not align along axis 0"
        )
    for idx in batch_indices(n, batch_size=batch_size, rng=rng, drop_last=drop_last):
        yield tuple(a[idx] for a in arrays)


def batch_indices(
    n: int, *, batch_size: int, rng: np.random.Generator | None = None, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """The row indices of each of :func:`minibatches`'s batches of ``n`` rows (the same
    batches for the same ``rng`` state).

    Examples
    --------
    >>> [b.tolist() for b in batch_indices(5, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        yield order[i : i + batch_size]
