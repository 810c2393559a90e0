"""Shape ops: transpose, reshape and indexing. Their messages move the error signal back
into the input's layout; indexing accumulates repeated indices as ``np.add.at`` does."""
import numpy as np

from mpgraph.op import Op
from mpgraph.registry import hookimpl


def transpose(x, axes=None):
    """x with its axes permuted (reversed by default).  Message: g permuted back."""
    return np.transpose(x, axes)


def _transpose_shape(s, axes=None):
    if axes is None:
        return s[::-1]
    if sorted(int(a) % max(len(s), 1) for a in axes) != list(range(len(s))) or len(axes) != len(s):
        raise ValueError(f"axes {tuple(axes)} are not a permutation of the {len(s)} axes of {s}")
    return tuple(s[a] for a in axes)


def _transpose_vjp(g, ans, x, axes=None):
    return np.transpose(g, None if axes is None else np.argsort([a % np.ndim(x) for a in axes]))


def reshape(x, shape):
    """x with a new shape of the same size.  Message: g reshaped to x's shape."""
    return np.reshape(x, shape)


def _reshape_shape(s, shape):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if None in s:
        return tuple(None if d == -1 else d for d in shape)
    size = int(np.prod(s))
    known = int(np.prod([d for d in shape if d != -1]))
    if shape.count(-1) > 1 or (-1 in shape and (known == 0 or size % known)) or (
            -1 not in shape and known != size):
        raise ValueError(f"cannot reshape {s} (size {size}) into {shape}")
    return tuple(size // known if d == -1 else d for d in shape)


def getitem(x, index):
    """x[index]: basic slices, integer arrays, boolean masks.  Message: g scattered back,
    repeated indices summed."""
    return x[index]


def _getitem_vjp(g, ans, x, index):
    out = np.zeros(np.shape(x), dtype=np.result_type(g))
    np.add.at(out, index, g)
    return out


def _getitem_shape(s, index):
    if None in s:
        return None
    return np.broadcast_to(np.empty(()), s)[index].shape


def _index_samples(rng):
    x = rng.standard_normal((4, 3))
    for index in [1, (slice(1, 3), 0), np.array([0, 2, 0]), x[:, 0] > 0, (Ellipsis, None, 1)]:
        yield [x], {"index": index}


def _transpose_samples(rng):
    yield [rng.standard_normal((2, 3))], {}
    yield [rng.standard_normal((2, 3, 4))], {"axes": (1, 2, 0)}


def _reshape_samples(rng):
    yield [rng.standard_normal((2, 3))], {"shape": (3, 2)}
    yield [rng.standard_normal((2, 3, 2))], {"shape": (-1, 4)}


OPS = [
    Op("transpose", transpose, (_transpose_vjp,), _transpose_shape, samples=_transpose_samples),
    Op("reshape", reshape, (lambda g, ans, x, shape: np.reshape(g, np.shape(x)),),
       _reshape_shape, samples=_reshape_samples),
    Op("getitem", getitem, (_getitem_vjp,), _getitem_shape, samples=_index_samples),
]


@hookimpl
def mpgraph_ops():
    return OPS
