"""Shape ops: they move elements around, so their messages move the error signal back into the
input's layout (reshape back, slice out, sum over copies). Indexing accumulates repeated
indices as ``np.add.at`` does.

Shape rules accept unknown dims (``None``) wherever the result does not depend on them.
"""

import numpy as np

from mpgraph.extend import (
    Op,
    ShapeError,
    add_at,
    broadcast_shapes,
    cases,
    chain,
    hookimpl,
    is_graph_node,
    like,
    normalize_axis,
    unbroadcast,
)


def _axes(axis):
    return (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)


def _size(shape):
    return int(np.prod(shape, dtype=int))


def _sum_dims(dims):
    return None if None in dims else int(np.sum(dims, dtype=int))


# -- transpose, reshape, expand_dims, squeeze, broadcast_to, flip ------------------------------


def transpose(x, axes=None):
    """x with its axes permuted (reversed by default)

    Derivative: a permutation: the message is g permuted back (by the inverse permutation).
    """
    return np.transpose(x, axes)


def _transpose_shape(s, axes=None):
    if axes is None:
        return s[::-1]
    if len(axes) != len(s) or sorted(int(a) % max(len(s), 1) for a in axes) != list(range(len(s))):
        raise ValueError(f"axes {tuple(axes)} are not a permutation of the {len(s)} axes of {s}")
    return tuple(s[a] for a in axes)


def _transpose_vjp(g, ans, x, axes=None):
    return np.transpose(g, None if axes is None else tuple(np.argsort([a % x.ndim for a in axes])))


def reshape(x, shape):
    """x with a new shape of the same size (one dim may be -1)

    Derivative: the identity on elements: the message is g reshaped to x's shape.
    """
    return np.reshape(x, (shape,) if isinstance(shape, (int, np.integer)) else shape)


def _new_shape(shape) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, refusing anything else (a string, floats, bools, < -1)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if isinstance(shape, str) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= -1
        for d in np.atleast_1d(np.asarray(shape, dtype=object)).ravel()
    ):
        raise ValueError(
            f"the new shape must be an int or a sequence of ints (one may be -1), got {shape!r}"
        )
    return tuple(int(d) for d in shape)


def _reshape_public(apply, a, shape=None, name=None):
    # checked here as well as in the shape rule, which runs only once a's shape is known:
    # a node of unknown shape must not take a target that no run (and no load) accepts
    if shape is None:  # as NumPy 2's signature: the engine names the missing attribute
        return apply([a], name=name)
    try:
        _new_shape(shape)
    except ValueError as e:
        raise ShapeError(f"mpgraph: op 'reshape': {e}") from None
    return apply([a], shape=shape, name=name)


def _reshape_shape(s, shape):
    shape = _new_shape(shape)
    if None in s:
        return tuple(None if d == -1 else d for d in shape)
    size = int(np.prod(s, dtype=int))
    known = int(np.prod([d for d in shape if d != -1], dtype=int))
    if (
        shape.count(-1) > 1
        or (-1 in shape and (known == 0 or size % known))
        or (-1 not in shape and known != size)
    ):
        raise ValueError(f"cannot reshape {s} (size {size}) into {shape}")
    return tuple(size // known if d == -1 else d for d in shape)


def _back_to_shape(g, ans, x, *_, **__):
    return np.reshape(g, x.shape)


def expand_dims(x, axis):
    """x with new axes of size 1 at the positions axis (int or tuple) of the result

    Derivative: the identity on elements: the message is g reshaped to x's shape.
    """
    return np.expand_dims(x, axis)


def _expand_dims_shape(s, axis):
    axes = normalize_axis(axis, len(s) + len(_axes(axis)))
    rest = iter(s)
    return tuple(1 if i in axes else next(rest) for i in range(len(s) + len(axes)))


def squeeze(x, axis=None):
    """x without its axes of size 1 (or only those in axis, which must have size 1)

    Derivative: the identity on elements: the message is g reshaped to x's shape.
    """
    return np.squeeze(x, axis)


def _squeeze_shape(s, axis=None):
    if axis is None:
        if None in s:
            raise ValueError(f"squeeze without axis needs known dims, got {s}; pass axis")
        return tuple(d for d in s if d != 1)
    axes = normalize_axis(axis, len(s))
    for a in axes:
        if s[a] not in (1, None):
            raise ValueError(f"cannot squeeze axis {a} of shape {s}: its size is {s[a]}, not 1")
    return tuple(d for i, d in enumerate(s) if i not in axes)


def broadcast_to(x, shape):
    """x broadcast to shape (NumPy's rules)

    Derivative: each element of x is copied: the message sums g over the copies.
    """
    return np.broadcast_to(x, shape)


def _broadcast_to_shape(s, shape):
    shape = _axes(shape)
    if len(s) > len(shape) or broadcast_shapes(s, shape) != shape:
        raise ValueError(f"shape {s} does not broadcast to {shape}")
    return shape


def flip(x, axis=None):
    """x with the order of elements reversed along axis (all axes by default)

    Derivative: a permutation: the message is g flipped back.
    """
    return np.flip(x, axis)


def _flip_shape(s, axis=None):
    if axis is not None:
        normalize_axis(axis, len(s))
    return s


# -- concatenate, stack ------------------------------------------------------------------------


def concatenate(*arrays, axis=0):
    """the arrays joined along an existing axis (axis=None: flattened first)

    Derivative: the message to each array is its own slice of g.

    Called as NumPy's: ``mg.ops.concatenate([a, b], axis=0)``.
    """
    return np.concatenate(arrays, axis=axis)


def _concatenate_shape(*shapes, axis=0):
    if not shapes:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        return (_sum_dims([None if None in s else int(np.prod(s, dtype=int)) for s in shapes]),)
    first = shapes[0]
    if not first:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = normalize_axis(axis, len(first))[0]
    out = list(first)
    for k, s in enumerate(shapes[1:], 1):
        if len(s) != len(first):
            raise ValueError(f"array 0 has {len(first)} dimension(s) and array {k} has {len(s)}")
        for i, (a, b) in enumerate(zip(out, s)):
            if i != ax and a is not None and b is not None and a != b:
                raise ValueError(
                    f"arrays 0 and {k} differ on axis {i} ({a} != {b}); only axis {ax} may differ"
                )
            if i != ax and a is None:
                out[i] = b
    out[ax] = _sum_dims([s[ax] for s in shapes])
    return tuple(out)


def _concatenate_vjp(argnum, g, ans, *arrays, axis=0):
    start = sum(_size(a.shape) if axis is None else a.shape[axis] for a in arrays[:argnum])
    x = arrays[argnum]
    if axis is None:
        return np.reshape(g[start : start + _size(x.shape)], x.shape)
    ax = normalize_axis(axis, x.ndim)[0]
    return g[(slice(None),) * ax + (slice(start, start + x.shape[ax]),)]


def stack(*arrays, axis=0):
    """the arrays (all of one shape) joined along a new axis

    Derivative: the message to array k is g indexed at k along that axis.

    Called as NumPy's: ``mg.ops.stack([a, b], axis=0)``.
    """
    return np.stack(arrays, axis=axis)


def _stack_shape(*shapes, axis=0):
    if not shapes:
        raise ValueError("need at least one array to stack")
    for k, s in enumerate(shapes[1:], 1):
        if len(s) != len(shapes[0]) or any(
            a is not None and b is not None and a != b for a, b in zip(shapes[0], s)
        ):
            raise ValueError(
                f"all arrays must have the same shape: array 0 has shape "
                f"{shapes[0]}, array {k} has shape {s}"
            )
    inner = tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes))
    ax = normalize_axis(axis, len(inner) + 1)[0]
    return inner[:ax] + (len(shapes),) + inner[ax:]


def _stack_vjp(argnum, g, ans, *arrays, axis=0):
    ax = normalize_axis(axis, ans.ndim)[0]
    return g[(slice(None),) * ax + (argnum,)]


def _tile_dims(s, reps):
    reps = _axes(reps)
    d = max(len(s), len(reps))
    return (1,) * (d - len(s)) + tuple(s), (1,) * (d - len(reps)) + reps


def tile(x, reps):
    """x repeated reps[i] times along axis i (NumPy's rules when len(reps) != x.ndim)

    Derivative: each element is copied prod(reps) times: the message sums g over the copies.
    """
    return np.tile(x, reps)


def _tile_shape(s, reps):
    s, reps = _tile_dims(s, reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"reps {reps} must be non-negative")
    return tuple(None if n is None else n * r for n, r in zip(s, reps))


def _tile_vjp(g, ans, x, reps):
    s, reps = _tile_dims(x.shape, reps)
    # out[r0*s0 + i0, ...] = x[i0, ...]: split each axis into (copy, element) and sum the copies
    split_axes = tuple(d for pair in zip(reps, s) for d in pair)
    total = np.sum(np.reshape(g, split_axes), axis=tuple(range(0, 2 * len(s), 2)))
    return np.reshape(total, x.shape)


def repeat(x, repeats, axis=None):
    """each element of x repeated ``repeats`` times (an int, or one count per element) along
    axis (axis=None: x flattened first)

    Derivative: each element is copied: the message sums g over its copies.
    """
    if axis is None:  # NumPy's flattening, spelled out: some libraries need an axis
        return np.repeat(np.reshape(x, (-1,)), repeats, 0)
    return np.repeat(x, repeats, axis)


def _repeat_shape(s, repeats, axis=None):
    if axis is None:
        s, ax = ((None if None in s else int(np.prod(s, dtype=int))),), 0
    else:
        ax = normalize_axis(axis, len(s))[0]
    r = np.asarray(repeats)
    if r.dtype.kind not in "iu" or r.ndim > 1 or np.any(r < 0):
        raise ValueError(
            f"repeats must be a non-negative int or a 1-D array of them, got {repeats!r}"
        )
    if r.ndim == 1:
        if s[ax] is not None and r.size not in (1, s[ax]):
            raise ValueError(f"{r.size} repeat counts for an axis of size {s[ax]}")
        n = int(r.sum()) if r.size != 1 else (None if s[ax] is None else s[ax] * int(r[0]))
    else:
        n = None if s[ax] is None else s[ax] * int(r)
    return s[:ax] + (n,) + s[ax + 1 :]


def _repeat_vjp(g, ans, x, repeats, axis=None):
    flat = axis is None
    ax = 0 if flat else normalize_axis(axis, x.ndim)[0]
    size = _size(x.shape) if flat else x.shape[ax]
    owner = np.repeat(np.arange(size), repeats)  # which element each copy came from
    if is_graph_node(g):  # as nodes: the sum over copies is a product with a 0/1 matrix
        copies = np.equal(np.arange(size)[:, None], owner[None, :]).astype(float)
        if flat:
            return np.reshape(np.reshape(g, (-1,)) @ copies.T, x.shape)
        last = tuple(d for d in range(x.ndim) if d != ax) + (ax,)  # the copies' axis last
        return np.transpose(np.transpose(g, last) @ copies.T, tuple(np.argsort(last)))
    moved = np.moveaxis(g, ax, 0)
    out = np.zeros((size,) + moved.shape[1:], dtype=g.dtype, like=like(g))
    out = add_at(out, owner, moved)
    return np.reshape(out, x.shape) if flat else np.moveaxis(out, 0, ax)


def _pad_width(pad_width, ndim):
    return np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))


def pad(x, pad_width, mode="constant", constant_values=0):
    """x padded with constant_values: pad_width gives (before, after) per axis (NumPy's forms:
    an int, a pair, or one pair per axis)

    Derivative: the identity on x's elements: the message is the middle slice of g.
    """
    return np.pad(x, pad_width, mode=mode, constant_values=constant_values)


def _pad_shape(s, pad_width, mode="constant", constant_values=0):
    if mode != "constant":
        raise ValueError(f"only mode='constant' is supported, got {mode!r}")
    try:
        width = _pad_width(pad_width, len(s))
    except ValueError:
        raise ValueError(f"pad_width {pad_width!r} does not fit {len(s)} dimension(s)") from None
    if np.any(width < 0):
        raise ValueError(f"pad_width {pad_width!r} has negative entries")
    return tuple(None if n is None else n + int(b) + int(a) for n, (b, a) in zip(s, width))


def _pad_vjp(g, ans, x, pad_width, mode="constant", constant_values=0):
    width = _pad_width(pad_width, x.ndim)
    return g[tuple(slice(int(b), int(b) + n) for (b, _), n in zip(width, x.shape))]


# -- indexing ----------------------------------------------------------------------------------


def getitem(x, index):
    """x[index]: basic slices, integer arrays, boolean masks (NumPy's indexing); the index is
    an attribute, fixed when the node is built (not a graph node)

    Derivative: each selected element's message is its slot of g; repeated indices sum
    (as np.add.at does), unselected elements get 0.
    """
    return x[index]


def _is_basic(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _getitem_vjp(g, ans, x, index):
    if is_graph_node(g):  # as a node: getitem_transpose, whose own message is getitem again
        return g.graph.apply("getitem_transpose", [g], {"index": index, "shape": x.shape})
    out = np.zeros(x.shape, dtype=np.result_type(g), like=like(g))
    if _is_basic(index) and type(out) is np.ndarray:  # each element at most once: assignment
        out[index] = g
    else:
        out = add_at(out, index, g)
    return out


# Elements of zero bytes: indexing a stand-in with integer arrays copies nothing.
_NOTHING = np.empty((), dtype=np.dtype([]))


def _dims_from_masks(s, index):
    """``s`` with the unknown dims that a boolean mask in ``index`` covers set to the mask's."""
    s, pos = list(s), 0
    for part in index if isinstance(index, tuple) else (index,):
        if part is Ellipsis:
            break  # positions after it count from the end: leave them unknown
        if part is None:
            continue
        if isinstance(part, np.ndarray) and part.dtype == bool:
            for i, n in enumerate(part.shape):
                if pos + i < len(s) and s[pos + i] is None:
                    s[pos + i] = n
            pos += part.ndim
        else:
            pos += 1
    return tuple(s)


def _getitem_shape(s, index):
    for part in index if isinstance(index, tuple) else (index,):
        if hasattr(part, "graph"):  # a Node: indices are attributes, fixed when the node is built
            raise ValueError(
                f"the index is a graph node ('{part.name}'); indices must be "
                "concrete arrays: use mg.ops.where for data-dependent choices; "
                "integer indices fed per run go alone or among full slices "
                "(x[ids], x[:, ids]), or to mg.ops.take / take_along_axis"
            )
    s = _dims_from_masks(s, index) if None in s else s
    unknown = s.count(None)
    # Index a zero-strided stand-in twice, each unknown dim given one of two large sizes; a
    # result dim that differs between the two depends on an unknown dim. Basic indexing makes
    # a view whatever the size; integer arrays and masks visit every result element, so the
    # stand-in stays small enough for that.
    known = int(np.prod([d for d in s if d is not None], dtype=float))
    budget = 2.0**60 if _is_basic(index) else 2.0**20
    big = int((budget / max(known, 1)) ** (1 / max(unknown, 1)))
    try:
        shapes = [
            np.broadcast_to(_NOTHING, tuple(u if d is None else d for d in s))[index].shape
            for u in ((big - 1, big - 2) if unknown else (0,))
        ]
    except IndexError as e:
        raise ValueError(f"index {index!r} does not fit shape {s}: {e}") from None
    return tuple(a if a == b else None for a, b in zip(shapes[0], shapes[-1]))


# -- jvps: these ops are linear, so the tangent goes through the op itself -------------------------


def _linear(forward):
    def jvp(t, ans, x, *attr_args, **attrs):
        return forward(t, *attr_args, **attrs)

    return (jvp,)


def _pad_jvp(t, ans, x, pad_width, mode="constant", constant_values=0):
    return np.pad(t, pad_width, mode=mode, constant_values=0)


def _variadic_jvp(forward):
    def jvp(argnum, t, ans, *arrays, **attrs):
        parts = [np.zeros(np.shape(a), t.dtype, like=like(t)) for a in arrays]
        parts[argnum] = t
        return forward(*parts, **attrs)

    return jvp


# -- samples -----------------------------------------------------------------------------------


def _index_samples(rng):
    x = rng.standard_normal((4, 3))
    for index in [
        1,
        (slice(1, 3), 0),
        np.array([0, 2, 0]),
        x[:, 0] > 0,
        (Ellipsis, None, 1),
        (np.array([[0, 1], [3, 3]]), slice(None, None, -1)),
        x > 0,
    ]:
        yield [x], {"index": index}


def _variadic(rng, shapes, **attrs):
    return [rng.standard_normal(s) for s in shapes], attrs


OPS = [
    Op(
        "transpose",
        transpose,
        (_transpose_vjp,),
        _transpose_shape,
        jvp=_linear(transpose),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3),)),
            cases(((2, 3, 4),), axes=(1, 2, 0)),
            cases(((2, 3, 4),), axes=(-1, 0, 1)),
        ),
    ),
    Op(
        "reshape",
        reshape,
        (_back_to_shape,),
        _reshape_shape,
        jvp=_linear(reshape),
        needs=("",),
        differentiable_vjp=True,
        public=_reshape_public,
        samples=chain(
            cases(((2, 3),), shape=(3, 2)),
            cases(((2, 3, 2),), shape=(-1, 4)),
            cases(((6,),), shape=6),
        ),
    ),
    Op(
        "expand_dims",
        expand_dims,
        (_back_to_shape,),
        _expand_dims_shape,
        jvp=_linear(expand_dims),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(cases(((2, 3),), axis=0), cases(((2, 3),), axis=(-1, 1))),
    ),
    Op(
        "squeeze",
        squeeze,
        (_back_to_shape,),
        _squeeze_shape,
        jvp=_linear(squeeze),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(cases(((2, 1, 3, 1),)), cases(((2, 1, 3, 1),), axis=-1)),
    ),
    Op(
        "broadcast_to",
        broadcast_to,
        (lambda g, ans, x, shape: unbroadcast(g, x),),
        _broadcast_to_shape,
        jvp=_linear(broadcast_to),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(cases(((3,),), shape=(2, 3)), cases(((2, 1),), shape=(4, 2, 3))),
    ),
    Op(
        "flip",
        flip,
        (lambda g, ans, x, axis=None: np.flip(g, axis),),
        _flip_shape,
        jvp=_linear(flip),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(cases(((2, 3),)), cases(((2, 3, 4),), axis=1), cases(((2, 3),), axis=(0, 1))),
    ),
    Op(
        "concatenate",
        concatenate,
        _concatenate_vjp,
        _concatenate_shape,
        variadic=True,
        jvp=_variadic_jvp(concatenate),
        differentiable_vjp=True,
        samples=lambda rng: [
            _variadic(rng, [(2, 3), (1, 3)]),
            _variadic(rng, [(2, 3), (2, 1), (2, 2)], axis=1),
            _variadic(rng, [(2, 2), (3,)], axis=None),
            _variadic(rng, [(4,)]),
        ],
    ),
    Op(
        "stack",
        stack,
        _stack_vjp,
        _stack_shape,
        variadic=True,
        differentiable_vjp=True,
        jvp=_variadic_jvp(stack),
        samples=lambda rng: [
            _variadic(rng, [(2, 3), (2, 3)]),
            _variadic(rng, [(2, 3)] * 3, axis=-1),
            _variadic(rng, [(3,), (3,)], axis=1),
        ],
    ),
    Op(
        "tile",
        tile,
        (_tile_vjp,),
        _tile_shape,
        jvp=_linear(tile),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3),), reps=(2, 1)), cases(((3,),), reps=(2, 2)), cases(((2, 3),), reps=3)
        ),
    ),
    Op(
        "repeat",
        repeat,
        (_repeat_vjp,),
        _repeat_shape,
        differentiable_vjp=True,
        jvp=_linear(repeat),
        needs=("",),
        samples=chain(
            cases(((2, 3),), repeats=2, axis=1),
            cases(((2, 3),), repeats=2),
            cases(((3, 2),), repeats=[1, 0, 3], axis=0),
        ),
    ),
    Op(
        "pad",
        pad,
        (_pad_vjp,),
        _pad_shape,
        jvp=(_pad_jvp,),
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3),), pad_width=1),
            cases(((2, 3),), pad_width=((0, 1), (2, 0))),
            cases(((2, 3),), pad_width=(1, 2), constant_values=5.0),
        ),
    ),
    Op(
        "getitem",
        getitem,
        (_getitem_vjp,),
        _getitem_shape,
        needs=("",),
        samples=_index_samples,
        differentiable_vjp=True,
        jvp=(lambda t, ans, x, index: t[index],),
    ),
]


@hookimpl
def mpgraph_ops():
    return OPS
