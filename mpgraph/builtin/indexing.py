"""Indexing by integer arrays that are op arguments, so they may be graph inputs fed per run:
``take``, ``take_along_axis``, ``embedding`` (gathers), ``index_add``, ``scatter_add``
(their adjoints, as forward ops), ``one_hot``, ``sort``, ``topk``, ``argsort``,
``argmax``, ``argmin``.

The indices carry no gradient. A gather's message scatters the error signal back with
``index_add``/``scatter_add``, so repeated indices sum their messages (as ``np.add.at`` does)
and the message can itself be differentiated. The message to an embedding table is dense: an
array of the table's shape, zero on the rows no id used.

Indices must be integers: float indices are refused when the node is built, naming the op.
"""

import numpy as np

from mpgraph.extend import (
    Op,
    add_at,
    apply_op,
    broadcast_shapes,
    hookimpl,
    normalize_axis,
    to_numpy,
)
from mpgraph.extend import like as array_like


def _integer_dtype(name):
    """A dtype rule: argument ``name`` (position 1) must hold integers; the result takes the
    dtype of argument 0."""

    def rule(a, indices, *rest, **_):
        if indices is not None and indices.kind not in "iu":
            raise ValueError(f"{name} must be integers, got {indices}")
        return a

    return rule


def _sum_array(a, values):
    """A copy of ``a`` in the dtype of ``a + values``, to add the values into."""
    dtype = np.result_type(a, values)
    if array_like(a) is not None:
        return a.astype(dtype)
    return np.array(a, dtype=dtype, copy=True)


def _zeros(like, g):
    return np.zeros(like.shape, dtype=_float(g), like=array_like(g))


def _float(v):
    dtype = getattr(v, "dtype", None)  # a node's dtype may be unknown
    return np.dtype(np.float64) if dtype is None else dtype


def _same_dims(a, b, what):
    if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b)):
        raise ValueError(f"{what}: shapes {a} and {b} differ")


# -- take / index_add --------------------------------------------------------------------------


def take(a, indices, axis=None):
    """a indexed by the integer array ``indices`` along axis (a flattened when axis is None),
    as np.take; out-of-range indices are an error

    Derivative: the message to a is g added back into zeros at the indices (index_add):
    rows picked several times receive the sum of their messages; none to the indices.
    """
    return _take(a, indices, axis)


def _take(a, indices, axis):
    """np.take; on another library than NumPy with an n-d index, through the flattened index
    (Dask indexes with one 1-d integer array at a time)."""
    if array_like(a) is None or (np.ndim(indices) <= 1 and axis is not None):
        return np.take(a, indices, axis=axis)
    flat = np.reshape(indices, (-1,))
    if axis is None:
        return np.reshape(np.take(np.reshape(a, (-1,)), flat, axis=0), np.shape(indices))
    ax = normalize_axis(axis, a.ndim)[0]
    picked = np.take(a, flat, axis=ax)
    return np.reshape(picked, a.shape[:ax] + tuple(np.shape(indices)) + a.shape[ax + 1 :])


def _take_shape(a, indices, axis=None):
    if axis is None:
        return tuple(indices)
    ax = normalize_axis(axis, len(a))[0]
    return a[:ax] + tuple(indices) + a[ax + 1 :]


def _take_vjp(g, ans, a, indices, axis=None):
    return apply_op(INDEX_ADD, _zeros(a, g), indices, g, axis=axis)


def index_add(a, indices, values, axis=None):
    """a with ``values`` added at the integer ``indices`` along axis (a flattened when axis is
    None); repeated indices add up, as np.add.at (PyTorch's index_add; the adjoint of take)

    Derivative: 1 to a (the message g); to values, g taken at the indices (take); none to
    the indices.
    """
    out = _sum_array(a, values)
    if axis is None:
        return add_at(out.reshape(-1), indices, values).reshape(out.shape)
    ax = normalize_axis(axis, out.ndim)[0]
    out = add_at(out, (slice(None),) * ax + (indices,), values)
    return out


def _index_add_shape(a, indices, values, axis=None):
    _same_dims(
        _take_shape(a, indices, axis),
        values,
        "index_add: the values must have the shape take(a, indices, axis) has",
    )
    return a


def _index_add_dtype(a, indices, values, **_):
    if indices is not None and indices.kind not in "iu":
        raise ValueError(f"indices must be integers, got {indices}")
    known = [d for d in (a, values) if d is not None]
    return np.result_type(*known) if known else None


# -- take_along_axis / scatter_add -------------------------------------------------------------


def take_along_axis(a, indices, axis):
    """a picked along axis at the integer ``indices``, which have a's number of dims (the
    other dims broadcast), as np.take_along_axis (PyTorch's gather)

    Derivative: the message to a is g added back into zeros at the indices (scatter_add);
    repeated indices sum; none to the indices.
    """
    return np.take_along_axis(a, indices, axis=axis)


def _along_shape(a, indices, axis):
    if axis is None:
        if len(indices) != 1:
            raise ValueError(f"with axis=None the indices must be 1-D, got shape {indices}")
        return tuple(indices)
    if len(indices) != len(a):
        raise ValueError(f"indices of shape {indices} need the {len(a)} dims of a {a}")
    ax = normalize_axis(axis, len(a))[0]
    return broadcast_shapes(a[:ax] + (1,) + a[ax + 1 :], indices)


def _grid(indices, axis, shape):
    """The full index tuple that puts ``indices`` along ``axis`` of an array of ``shape``
    (the other axes broadcast against them)."""
    ax = normalize_axis(axis, len(shape))[0]
    out_shape = np.broadcast_shapes(shape[:ax] + (1,) + shape[ax + 1 :], indices.shape)
    index = []
    for k, n in enumerate(out_shape):
        if k == ax:
            index.append(np.broadcast_to(indices, out_shape))
        else:
            index.append(np.arange(n).reshape((n,) + (1,) * (len(out_shape) - k - 1)))
    return tuple(index)


def scatter_add(a, indices, values, axis):
    """a with ``values`` added at the integer ``indices`` along axis, which have a's number
    of dims; repeated indices add up (PyTorch's scatter_add; the adjoint of take_along_axis)

    Derivative: 1 to a (the message g); to values, g picked at the indices
    (take_along_axis); none to the indices.
    """
    out = _sum_array(a, values)
    if axis is None:
        return add_at(out.reshape(-1), indices, values).reshape(out.shape)
    out = add_at(out, _grid(np.asarray(to_numpy(indices)), axis, out.shape), values)
    return out


def _scatter_add_shape(a, indices, values, axis):
    _same_dims(
        _along_shape(a, indices, axis),
        values,
        "scatter_add: the values must have the shape take_along_axis(a, indices, axis) has",
    )
    return a


_INT64 = np.dtype(np.int64)


# -- embedding, one_hot ------------------------------------------------------------------------


def embedding(ids, weight, padding_idx=None):
    """weight[ids]: the rows of the table ``weight`` (num_embeddings, dim) named by the
    integer array ``ids`` (any shape), PyTorch's F.embedding(input, weight); positions whose id
    is ``padding_idx`` give a zero vector

    Derivative: to weight, g added into zeros at the rows ids names (repeated ids sum; a
    dense message of weight's shape, zero on unused rows); the ``padding_idx`` row gets none;
    none to ids.

    PyTorch returns the padding row itself and never updates it (it starts at zero); here the
    output is zero there, so that the message is the true derivative whatever the row holds.
    """
    out = _take(weight, ids, 0)
    if padding_idx is not None:
        out = np.where(np.expand_dims(np.not_equal(ids, padding_idx), -1), out, 0)
    return out


def _embedding_vjp(g, ans, ids, weight, padding_idx=None):
    if padding_idx is not None:
        g = np.where(np.expand_dims(np.not_equal(ids, padding_idx), -1), g, 0)
    return apply_op(INDEX_ADD, _zeros(weight, g), ids, g, axis=0)


def _embedding_shape(ids, weight, padding_idx=None):
    if len(weight) != 2:
        raise ValueError(f"the embedding table must be 2-D (num_embeddings, dim), got {weight}")
    return tuple(ids) + weight[1:]


def _embedding_dtype(ids, weight, **_):
    if ids is not None and ids.kind not in "iu":
        raise ValueError(f"ids must be integers, got {ids}")
    return weight


def one_hot(indices, num_classes, dtype=_INT64):
    """1 where the new last axis equals the integer index, else 0: shape
    indices.shape + (num_classes,), PyTorch's F.one_hot (int64 unless ``dtype`` says otherwise;
    pass the float dtype of the arrays it multiplies, e.g. np.float32, to avoid promotion)

    Derivative: none (indices carry no gradient).

    Indices outside [0, num_classes) give an all-zero row (as JAX's; PyTorch raises).
    """
    return np.equal(np.expand_dims(indices, -1), np.arange(num_classes)).astype(dtype)


def _one_hot_shape(s, num_classes, dtype=_INT64):
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return tuple(s) + (int(num_classes),)


def _one_hot_dtype(d, num_classes, dtype=_INT64):
    if d is not None and d.kind not in "iu":
        raise ValueError(f"indices must be integers, got {d}")
    return np.dtype(dtype)


# -- sort, topk, argsort, argmax, argmin -------------------------------------------------------


def sort(a, axis=-1):
    """a sorted along axis (a stable sort: equal elements keep their order)

    Derivative: a permutation: each element's message is g at the position it was sorted to
    (scatter_add by argsort); tied elements each get their own slot's signal.
    """
    return np.sort(a, axis=axis, kind="stable")


def _sort_vjp(g, ans, a, axis=-1):
    return apply_op(SCATTER_ADD, _zeros(a, g), apply_op(ARGSORT, a, axis=axis), g, axis=axis)


def _axis_shape(s, axis=-1):
    if axis is None:  # the flattened array
        return (None if None in s else int(np.prod(s, dtype=int)),)
    normalize_axis(axis, len(s))
    return s


def partition(a, kth, axis=-1):
    """a rearranged along axis so that the element at each position in kth is the one a sort
    would put there, smaller ones before it and larger ones after (in no given order), as
    np.partition; here it is a[argpartition(a, kth)]

    Derivative: a permutation: each element's message is g at the position it was moved to.
    """
    return np.take_along_axis(a, np.argpartition(a, kth, axis=axis), axis=axis)


def _partition_vjp(g, ans, a, kth, axis=-1):
    order = apply_op(ARGPARTITION, a, kth=kth, axis=axis)
    return apply_op(SCATTER_ADD, _zeros(a, g), order, g, axis=axis)


def argpartition(a, kth, axis=-1):
    """the indices that partition a along axis around the positions kth, np.argpartition

    Derivative: none (integer output).
    """
    return np.argpartition(a, kth, axis=axis)


def _partition_shape(s, kth, axis=-1):
    if axis is None:
        raise ValueError("partition needs an axis (NumPy's axis=None flattens first: ravel)")
    ax = normalize_axis(axis, len(s))[0]
    for k in np.atleast_1d(kth):
        if s[ax] is not None and not -s[ax] <= int(k) < s[ax]:
            raise ValueError(f"kth {k} is out of range for axis {axis} of length {s[ax]}")
    return s


def _partition_samples(rng):
    yield [_distinct(rng, (3, 5))], {"kth": 2}
    yield [_distinct(rng, (4, 3))], {"kth": [0, 2], "axis": 0}


def argsort(a, axis=-1):
    """the indices that sort a along axis (stable: ties in index order), as np.argsort with
    kind='stable'

    Derivative: none (integer output).
    """
    return np.argsort(a, axis=axis, kind="stable")


def argmax(a, axis=None, keepdims=False):
    """the index of the largest element along axis (of the flattened a when axis is None);
    on a tie the first, as in NumPy

    Derivative: none (integer output).
    """
    return np.argmax(a, axis=axis, keepdims=keepdims)


def argmin(a, axis=None, keepdims=False):
    """the index of the smallest element along axis (of the flattened a when axis is None);
    on a tie the first, as in NumPy

    Derivative: none (integer output).
    """
    return np.argmin(a, axis=axis, keepdims=keepdims)


def _arg_shape(s, axis=None, keepdims=False):
    if axis is None:
        return (1,) * len(s) if keepdims else ()
    ax = normalize_axis(axis, len(s))[0]
    return s[:ax] + ((1,) if keepdims else ()) + s[ax + 1 :]


def _index_dtype(*_, **__):
    return np.dtype(np.intp)


def _topk_index(a, k, axis=-1, largest=True):
    order = np.argsort(-a if largest else a, axis=axis, kind="stable")
    return np.take(order, np.arange(k), axis=axis)


def topk(a, k, axis=-1, largest=True):
    """the k largest (smallest with largest=False) elements of a along axis, in sorted order,
    PyTorch's topk; ``mg.ops.topk`` returns (values, indices) as PyTorch does

    Derivative: each chosen element's message is g at its slot; the others get 0. Ties are
    broken by index (the first occurrence comes first), so each element gets at most one slot.
    """
    return np.take_along_axis(a, _topk_index(a, k, axis, largest), axis=axis)


def argtopk(a, k, axis=-1, largest=True):
    """the indices of topk(a, k, axis, largest) along axis (ties by index)

    Derivative: none (integer output).
    """
    return _topk_index(a, k, axis, largest)


def _topk_vjp(g, ans, a, k, axis=-1, largest=True):
    index = apply_op(ARGTOPK, a, k=k, axis=axis, largest=largest)
    return apply_op(SCATTER_ADD, _zeros(a, g), index, g, axis=axis)


def _topk_shape(s, k, axis=-1, largest=True):
    ax = normalize_axis(axis, len(s))[0]
    if not isinstance(k, (int, np.integer)) or k < 0 or (s[ax] is not None and k > s[ax]):
        raise ValueError(
            f"k must be an int in [0, {s[ax]}] for axis {axis} of shape {s}, got {k!r}"
        )
    return s[:ax] + (int(k),) + s[ax + 1 :]


def _topk_public(apply, a, k, axis=-1, largest=True, name=None):
    return apply(a, k, axis, largest, name=name), apply_op(
        ARGTOPK, a, k=k, axis=axis, largest=largest
    )


# -- samples -----------------------------------------------------------------------------------


def _take_samples(rng):
    yield [rng.standard_normal((5, 3)), np.array([0, 4, 0, 2])], {"axis": 0}
    yield [rng.standard_normal((2, 4)), np.array([[3, 3], [1, 0]])], {"axis": 1}
    yield [rng.standard_normal((2, 3)), np.array([5, 0, 5])], {}
    yield [rng.standard_normal((3, 2)), np.array(2)], {"axis": -2}


def _index_add_samples(rng):
    yield (
        [rng.standard_normal((5, 3)), np.array([0, 4, 0]), rng.standard_normal((3, 3))],
        {"axis": 0},
    )
    yield [rng.standard_normal((2, 4)), np.array([3, 3]), rng.standard_normal((2, 2))], {"axis": -1}
    yield [rng.standard_normal((2, 3)), np.array([5, 0, 5]), rng.standard_normal(3)], {}


def _along_samples(rng):
    yield [rng.standard_normal((3, 4)), np.array([[0, 3], [1, 1], [2, 0]])], {"axis": 1}
    yield [rng.standard_normal((3, 4)), np.array([[2, 0, 2, 1]])], {"axis": 0}
    yield [rng.standard_normal(5), np.array([4, 4, 1])], {"axis": None}


def _scatter_samples(rng):
    yield (
        [
            rng.standard_normal((3, 4)),
            np.array([[0, 3], [1, 1], [2, 0]]),
            rng.standard_normal((3, 2)),
        ],
        {"axis": 1},
    )
    yield (
        [rng.standard_normal((3, 4)), np.array([[2, 0, 2, 1]]), rng.standard_normal((1, 4))],
        {"axis": 0},
    )
    yield [rng.standard_normal(5), np.array([4, 4, 1]), rng.standard_normal(3)], {"axis": None}


def _embedding_samples(rng):
    yield [np.array([[1, 3, 1], [0, 2, 3]]), rng.standard_normal((4, 5))], {}
    yield [np.array([2, 0, 2, 1]), rng.standard_normal((3, 2))], {"padding_idx": 0}
    yield [np.array(1), rng.standard_normal((3, 2))], {}


def _distinct(rng, shape):
    """Values with no ties (a permutation scaled), so that sorting is smooth around them."""
    return np.asarray(
        rng.permutation(int(np.prod(shape, dtype=int))).reshape(shape) * 0.37
        + 0.05 * rng.random(shape)
    )


def _sort_samples(rng):
    yield [_distinct(rng, (3, 4))], {}
    yield [_distinct(rng, (3, 4))], {"axis": 0}
    yield [_distinct(rng, (5,))], {}
    yield [_distinct(rng, (2, 3))], {"axis": None}


def _topk_samples(rng):
    yield [_distinct(rng, (3, 5))], {"k": 2}
    yield [_distinct(rng, (4, 3))], {"k": 3, "axis": 0, "largest": False}


def _arg_samples(rng):
    yield [rng.standard_normal((3, 4))], {}
    yield [rng.standard_normal((3, 4))], {"axis": 1}
    yield [rng.standard_normal((3, 4))], {"axis": 0, "keepdims": True}


INDEX_ADD = Op(
    "index_add",
    index_add,
    (
        lambda g, ans, a, indices, values, axis=None: g,
        None,
        lambda g, ans, a, indices, values, axis=None: _take(g, indices, axis),
    ),
    _index_add_shape,
    _index_add_dtype,
    needs=("", "", "indices"),
    differentiable_vjp=True,
    samples=_index_add_samples,
)
SCATTER_ADD = Op(
    "scatter_add",
    scatter_add,
    (
        lambda g, ans, a, indices, values, axis: g,
        None,
        lambda g, ans, a, indices, values, axis: np.take_along_axis(g, indices, axis=axis),
    ),
    _scatter_add_shape,
    _index_add_dtype,
    needs=("", "", "indices"),
    differentiable_vjp=True,
    samples=_scatter_samples,
)
ARGTOPK = Op(
    "argtopk", argtopk, (None,), _topk_shape, _index_dtype, needs=("",), samples=_topk_samples
)
ARGPARTITION = Op(
    "argpartition",
    argpartition,
    (None,),
    _partition_shape,
    _index_dtype,
    needs=("",),
    samples=_partition_samples,
)
ARGSORT = Op(
    "argsort", argsort, (None,), _axis_shape, _index_dtype, needs=("",), samples=_sort_samples
)


OPS = [
    Op(
        "take",
        take,
        (_take_vjp, None),
        _take_shape,
        _integer_dtype("indices"),
        needs=("indices", ""),
        differentiable_vjp=True,
        samples=_take_samples,
    ),
    INDEX_ADD,
    Op(
        "take_along_axis",
        take_along_axis,
        (
            lambda g, ans, a, indices, axis: apply_op(
                SCATTER_ADD, _zeros(a, g), indices, g, axis=axis
            ),
            None,
        ),
        _along_shape,
        _integer_dtype("indices"),
        needs=("indices", ""),
        differentiable_vjp=True,
        samples=_along_samples,
    ),
    SCATTER_ADD,
    Op(
        "embedding",
        embedding,
        (None, _embedding_vjp),
        _embedding_shape,
        _embedding_dtype,
        needs=("", "ids"),
        differentiable_vjp=True,
        samples=_embedding_samples,
    ),
    Op(
        "one_hot",
        one_hot,
        (None,),
        _one_hot_shape,
        _one_hot_dtype,
        needs=("",),
        samples=lambda rng: [([np.array([[0, 2], [1, 5]])], {"num_classes": 3})],
    ),
    Op(
        "sort",
        sort,
        (_sort_vjp,),
        _axis_shape,
        needs=("a",),
        differentiable_vjp=True,
        samples=_sort_samples,
    ),
    ARGSORT,
    Op(
        "partition",
        partition,
        (_partition_vjp,),
        _partition_shape,
        needs=("a",),
        differentiable_vjp=True,
        samples=_partition_samples,
    ),
    ARGPARTITION,
    Op(
        "topk",
        topk,
        (_topk_vjp,),
        _topk_shape,
        needs=("a",),
        differentiable_vjp=True,
        public=_topk_public,
        samples=_topk_samples,
    ),
    ARGTOPK,
    Op("argmax", argmax, (None,), _arg_shape, _index_dtype, needs=("",), samples=_arg_samples),
    Op("argmin", argmin, (None,), _arg_shape, _index_dtype, needs=("",), samples=_arg_samples),
]


@hookimpl
def mpgraph_ops():
    return OPS
