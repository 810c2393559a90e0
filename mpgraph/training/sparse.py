"""Row-sparse gradients of embedding tables: only the rows a batch used.

The message an embedding (``E[ids]``, ``take``, ``embedding``) sends to its table is dense by
default: an array of the table's shape, zero on the rows no id used. For a large table, ask
instead for the gradient of the gathered rows (the node ``E[ids]``), which touches only the
rows used, and gather it per row with :class:`RowSparse`.

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> from mpgraph.training.sparse import RowSparse
>>> g = mg.Graph()
>>> E = g.param("E", np.ones((1000, 2)))
>>> ids = g.input("ids", (None,), np.int64)
>>> rows = E[ids]
>>> loss = mg.ops.sum(rows * rows)
>>> feed = {ids: np.array([7, 3, 7])}
>>> d = RowSparse.from_rows(feed[ids], g.grad(loss, wrt=rows, feed=feed), num_rows=1000)
>>> d.indices, d.values
(array([3, 7]), array([[2., 2.],
       [4., 4.]]))
>>> bool(np.array_equal(d.dense(), g.grad(loss, wrt=E, feed=feed)))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FeedError

__all__ = ["RowSparse"]


@dataclass(frozen=True)
class RowSparse:
    """The gradient of a table of shape ``shape`` that is zero except on the rows ``indices``.

    Attributes
    ----------
    indices : numpy.ndarray
        The rows, sorted and unique.
    values : numpy.ndarray
        ``(len(indices),) + shape[1:]``: the gradient of each of those rows.
    shape : tuple
        The shape of the whole table.
    """

    indices: np.ndarray
    values: np.ndarray
    shape: tuple

    @classmethod
    def from_rows(cls, ids, row_grads, num_rows: int) -> RowSparse:
        """Sum the gradients of the gathered rows ``row_grads`` (``ids.shape + row shape``)
        per row of the table; a row gathered several times gets the sum of its gradients.

        Raises
        ------
        FeedError
            ``row_grads`` does not have the shape ``ids.shape + row shape``, or an id is not
            a row of a table of ``num_rows`` rows.
        """
        ids = np.asarray(ids)
        row_grads = np.asarray(row_grads)
        if ids.dtype.kind not in "iu":
            raise FeedError(f"mpgraph: RowSparse: ids must be integers, got {ids.dtype}")
        if row_grads.shape[: ids.ndim] != ids.shape:
            raise FeedError(
                f"mpgraph: RowSparse: row gradients of shape {row_grads.shape} do "
                f"not start with the shape of the ids {ids.shape}"
            )
        if ids.size and (ids.min() < -num_rows or ids.max() >= num_rows):
            raise FeedError(
                f"mpgraph: RowSparse: ids from {ids.min()} to {ids.max()} are not "
                f"all rows of a table of {num_rows} rows"
            )
        row_shape = row_grads.shape[ids.ndim :]
        unique, inverse = np.unique(ids.reshape(-1) % num_rows, return_inverse=True)
        values = np.zeros((len(unique),) + row_shape, dtype=row_grads.dtype)
        np.add.at(values, inverse, row_grads.reshape((-1,) + row_shape))
        return cls(unique, values, (num_rows,) + row_shape)

    def dense(self) -> np.ndarray:
        """The whole gradient as an array of ``shape``, zero on the other rows."""
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[self.indices] = self.values
        return out

    def added_to(self, table, scale: float = 1.0) -> np.ndarray:
        """A copy of ``table`` with ``scale`` times this gradient added on its rows only (an
        SGD step is ``d.added_to(E, -learning_rate)``); ``table`` is not modified."""
        out = np.array(table, copy=True)
        out[self.indices] += scale * self.values
        return out
