"""Rearranging elements: stacking and splitting (``vstack``, ``hstack``, ``dstack``,
``column_stack``, ``append``, ``split``, ``array_split``, ``vsplit``/``hsplit``/``dsplit``), dims
(``atleast_1d/2d/3d``, ``ravel``, ``swapaxes``, ``moveaxis``, ``rollaxis``), flips and rotations
(``flipud``, ``fliplr``, ``rot90``, ``roll``) and triangles and diagonals (``tril``, ``triu``,
``diag``, ``diagonal``), with NumPy's names and arguments.

Each message puts the error signal back where the element came from, with ops that graph
nodes dispatch to (slices, reshapes, transposes, pads, einsum), so every one of them can be
differentiated again.
"""

import string

import numpy as np

from mpgraph.extend import (
    Op,
    broadcast_shapes,
    cases,
    chain,
    hookimpl,
    like,
    normalize_axis,
    unbroadcast,
)


def _known(*dims):
    return None if None in dims else int(np.sum(dims, dtype=int))


def _size(shape):
    return None if None in shape else int(np.prod(shape, dtype=int))


def _join_shape(shapes, axis):
    """The shape of np.concatenate of arrays of ``shapes`` along ``axis`` (dims may be None)."""
    first = shapes[0]
    ax = normalize_axis(axis, len(first))[0]
    out = list(first)
    for k, s in enumerate(shapes[1:], 1):
        if len(s) != len(first):
            raise ValueError(f"array 0 has {len(first)} dimension(s) and array {k} has {len(s)}")
        for i, (a, b) in enumerate(zip(out, s)):
            if i == ax:
                continue
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"arrays 0 and {k} differ on axis {i} ({a} != {b}); only axis {ax} may differ"
                )
            out[i] = a if a is not None else b
    out[ax] = _known(*(s[ax] for s in shapes))
    return tuple(out)


# -- stacking ----------------------------------------------------------------------------------


def _lift_2d(s):
    return {0: (1, 1), 1: (1,) + tuple(s)}.get(len(s), tuple(s))


def _lift_3d(s):
    return {0: (1, 1, 1), 1: (1,) + tuple(s) + (1,), 2: tuple(s) + (1,)}.get(len(s), tuple(s))


def _lift_column(s):
    return {0: (1, 1), 1: tuple(s) + (1,)}.get(len(s), tuple(s))


def _lift_1d(s):
    return (1,) if not s else tuple(s)


_STACKING = {  # name: (how each array's shape is lifted, the axis they are joined on)
    "vstack": (_lift_2d, lambda shapes: 0),
    "row_stack": (_lift_2d, lambda shapes: 0),
    "hstack": (_lift_1d, lambda shapes: 0 if len(_lift_1d(shapes[0])) == 1 else 1),
    "dstack": (_lift_3d, lambda shapes: 2),
    "column_stack": (_lift_column, lambda shapes: 1),
}


def _stacking(name):
    lift, join_axis = _STACKING[name]

    def shape(*shapes):
        if not shapes:
            raise ValueError(f"{name} needs at least one array")
        lifted = [lift(s) for s in shapes]
        return _join_shape(lifted, join_axis(lifted))

    def vjp(argnum, g, ans, *arrays):
        lifted = [lift(a.shape) for a in arrays]
        ax = join_axis(lifted)
        start = sum(s[ax] for s in lifted[:argnum])
        piece = g[(slice(None),) * ax + (slice(start, start + lifted[argnum][ax]),)]
        return np.reshape(piece, arrays[argnum].shape)

    return shape, vjp


def vstack(*arrays):
    """the arrays stacked as rows: 1-D arrays (n,) become rows (1, n), then joined along
    axis 0 (np.vstack)

    Derivative: the message to each array is its own rows of g, reshaped to its shape.

    Called as NumPy's: ``mg.ops.vstack([a, b])``.
    """
    return np.vstack(arrays)


def row_stack(*arrays):
    """np.row_stack, the same as vstack: 1-D arrays become rows, then joined along axis 0

    Derivative: the message to each array is its own rows of g, reshaped to its shape.
    """
    return np.vstack(arrays)


def hstack(*arrays):
    """the arrays joined along axis 1 (along axis 0 for 1-D arrays), np.hstack

    Derivative: the message to each array is its own columns of g.

    Called as NumPy's: ``mg.ops.hstack([a, b])``.
    """
    return np.hstack(arrays)


def dstack(*arrays):
    """the arrays joined along axis 2 after making them 3-D ((n,) -> (1, n, 1), (m, n) ->
    (m, n, 1)), np.dstack

    Derivative: the message to each array is its own depth slice of g, reshaped to its shape.
    """
    return np.dstack(arrays)


def column_stack(*arrays):
    """1-D arrays as columns (n, 1) and 2-D arrays as they are, joined along axis 1,
    np.column_stack

    Derivative: the message to each array is its own columns of g, reshaped to its shape.
    """
    return np.column_stack(arrays)


def append(arr, values, axis=None):
    """np.append: arr and values joined along axis, both flattened first when axis is None

    Derivative: the message to arr is the first part of g, to values the rest (reshaped back).
    """
    return np.append(arr, values, axis=axis)


def _append_shape(a, b, axis=None):
    if axis is None:
        return (_known(_size(a), _size(b)),)
    return _join_shape([a, b], axis)


def _append_vjp(argnum):
    def vjp(g, ans, arr, values, axis=None):
        if axis is None:
            n = int(np.prod(arr.shape, dtype=int))
            part = g[:n] if argnum == 0 else g[n:]
        else:
            ax = normalize_axis(axis, arr.ndim)[0]
            n = arr.shape[ax]
            piece = slice(None, n) if argnum == 0 else slice(n, None)
            part = g[(slice(None),) * ax + (piece,)]
        return np.reshape(part, (arr, values)[argnum].shape)

    return vjp


# -- splitting ---------------------------------------------------------------------------------


def _split_axis(ndim, which):
    """The axis vsplit (0), hsplit (1, or 0 for 1-D) and dsplit (2) split along."""
    if which == "h":
        return 1 if ndim > 1 else 0
    ax = {"v": 0, "d": 2}[which]
    if ndim <= ax:
        raise ValueError(f"{which}split needs at least {ax + 1} dimension(s), got {ndim}")
    return ax


def _bounds(n, indices_or_sections, piece, equal):
    """Start and stop of ``piece`` when a dim of size ``n`` is split as np.array_split
    (``equal=False``) or np.split (``equal=True``) does."""
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError(f"the number of sections must be positive, got {k}")
        if equal and n is not None and n % k:
            raise ValueError(f"{n} elements do not split into {k} equal sections")
        if not 0 <= piece < k:
            raise ValueError(f"piece {piece} out of range for {k} sections")
        if n is None:
            return None, None
        size, extra = divmod(n, k)  # the first `extra` sections get one more element
        start = piece * size + min(piece, extra)
        return start, start + size + (piece < extra)
    cuts = [int(i) for i in indices_or_sections]
    if not 0 <= piece <= len(cuts):
        raise ValueError(f"piece {piece} out of range for {len(cuts) + 1} sections")
    if n is None:
        return None, None
    edges = [0] + [min(c if c >= 0 else c + n, n) for c in cuts] + [n]
    return edges[piece], max(edges[piece], edges[piece + 1])


def _splitter(name, which=None, equal=True):
    """Forward, shape rule, vjp and public function of a split into pieces, one node each."""

    def axis_of(ndim, axis):
        return _split_axis(ndim, which) if which else normalize_axis(axis, ndim)[0]

    def forward(x, indices_or_sections, axis=0, piece=0):
        ax = axis_of(x.ndim, axis)
        start, stop = _bounds(x.shape[ax], indices_or_sections, piece, equal)
        return x[(slice(None),) * ax + (slice(start, stop),)]

    def shape(s, indices_or_sections, axis=0, piece=0):
        ax = axis_of(len(s), axis)
        start, stop = _bounds(s[ax], indices_or_sections, piece, equal)
        return s[:ax] + (None if start is None else stop - start,) + s[ax + 1 :]

    def vjp(g, ans, x, indices_or_sections, axis=0, piece=0):
        ax = axis_of(x.ndim, axis)
        start, stop = _bounds(x.shape[ax], indices_or_sections, piece, equal)
        width = [(0, 0)] * x.ndim
        width[ax] = (start, x.shape[ax] - stop)
        return np.pad(g, width)

    def public(apply, x, indices_or_sections, axis=0, name=None):
        count = (
            int(indices_or_sections)
            if isinstance(indices_or_sections, (int, np.integer))
            else len(indices_or_sections) + 1
        )
        return [
            apply(
                x, indices_or_sections, axis, piece=k, name=None if name is None else f"{name}_{k}"
            )
            for k in range(count)
        ]

    def jvp(t, ans, x, indices_or_sections, axis=0, piece=0):  # linear: the same slice
        return forward(t, indices_or_sections, axis, piece)

    forward.__name__ = name
    return forward, shape, vjp, jvp, public


_SPLIT_DOC = """piece number ``piece`` of np.{name}(x, indices_or_sections{axis}): {what}

Derivative: the identity on that slice: the message is g padded with zeros back to x's shape.

Called as NumPy's: ``mg.ops.{name}(x, 3)`` returns the list of pieces, one node each.
"""


def _split_op(name, which, equal, what, samples):
    forward, shape, vjp, jvp, public = _splitter(name, which, equal)
    doc = _SPLIT_DOC.format(name=name, axis="" if which else ", axis", what=what)
    if which:  # no axis: NumPy's vsplit/hsplit/dsplit fix it

        def fixed(x, indices_or_sections, piece=0):
            return forward(x, indices_or_sections, 0, piece)

        def fixed_shape(s, indices_or_sections, piece=0):
            return shape(s, indices_or_sections, 0, piece)

        def fixed_vjp(g, ans, x, indices_or_sections, piece=0):
            return vjp(g, ans, x, indices_or_sections, 0, piece)

        def fixed_jvp(t, ans, x, indices_or_sections, piece=0):
            return jvp(t, ans, x, indices_or_sections, 0, piece)

        def fixed_public(apply, x, indices_or_sections, name=None):
            return public(
                lambda x, ios, _axis, piece, name: apply(x, ios, piece=piece, name=name),
                x,
                indices_or_sections,
                0,
                name,
            )

        return Op(
            name,
            fixed,
            (fixed_vjp,),
            fixed_shape,
            jvp=(fixed_jvp,),
            needs=("",),
            differentiable_vjp=True,
            public=fixed_public,
            doc=doc,
            samples=samples,
        )
    return Op(
        name,
        forward,
        (vjp,),
        shape,
        jvp=(jvp,),
        needs=("",),
        differentiable_vjp=True,
        public=public,
        doc=doc,
        samples=samples,
    )


# -- dims --------------------------------------------------------------------------------------


def _back(g, ans, x, *_, **__):
    return np.reshape(g, x.shape)


def _atleast(k):
    fn = {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[k]
    lift = {1: _lift_1d, 2: _lift_2d, 3: _lift_3d}[k]

    def forward(x):
        return fn(x)

    forward.__name__ = f"atleast_{k}d"
    where = "(n,) -> (1, n, 1), (m, n) -> (m, n, 1)" if k == 3 else "new axes in front"
    forward.__doc__ = (
        f"x viewed with at least {k} dimension(s), as np.atleast_{k}d ({where})"
        "\n\nDerivative: the identity on elements: the message is g reshaped to "
        "x's shape.\n\nCalled as NumPy's: with several arrays, a list of nodes."
    )

    def public(apply, *arrays, name=None):
        out = [apply(a, name=name) for a in arrays]
        return out[0] if len(out) == 1 else out

    return Op(
        f"atleast_{k}d",
        forward,
        (_back,),
        lift,
        needs=("",),
        differentiable_vjp=True,
        public=public,
        samples=cases(((),), ((3,),), ((2, 3),), ((2, 1, 2, 1),)),
    )


def ravel(a):
    """a flattened to 1-D (C order), np.ravel

    Derivative: the identity on elements: the message is g reshaped to a's shape.
    """
    return np.ravel(a)


def _permutation_op(name, forward, perm, samples):
    """A transpose: ``perm(ndim, **attrs)`` gives the axes of the result, as np.transpose's."""

    def vjp(g, ans, a, **attrs):
        return np.transpose(g, tuple(np.argsort(perm(a.ndim, **attrs))))

    def shape(s, **attrs):
        return tuple(s[i] for i in perm(len(s), **attrs))

    return Op(name, forward, (vjp,), shape, needs=("",), differentiable_vjp=True, samples=samples)


def swapaxes(a, axis1, axis2):
    """a with axes axis1 and axis2 interchanged, np.swapaxes

    Derivative: a permutation: the message is g with the same two axes swapped back.
    """
    return np.swapaxes(a, axis1, axis2)


def _swap_perm(ndim, axis1, axis2):
    a1, a2 = (normalize_axis(a, ndim)[0] for a in (axis1, axis2))
    perm = list(range(ndim))
    perm[a1], perm[a2] = a2, a1
    return perm


def moveaxis(a, source, destination):
    """a with the axes ``source`` (int or sequence) moved to ``destination``, the others in
    order, np.moveaxis

    Derivative: a permutation: the message is g with the axes moved back.
    """
    return np.moveaxis(a, source, destination)


def _axes_list(axes, ndim):
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = [normalize_axis(a, ndim)[0] for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axes}")
    return out


def _move_perm(ndim, source, destination):
    src, dst = _axes_list(source, ndim), _axes_list(destination, ndim)
    if len(src) != len(dst):
        raise ValueError(f"source {source} and destination {destination} differ in length")
    rest = [i for i in range(ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        rest.insert(d, s)
    return rest


def rollaxis(a, axis, start=0):
    """a with axis rolled back until it lies before position ``start``, np.rollaxis

    Derivative: a permutation: the message is g with the axis rolled back.
    """
    return np.rollaxis(a, axis, start)


def _roll_perm(ndim, axis, start=0):
    ax = normalize_axis(axis, ndim)[0]
    if not -ndim <= start <= ndim:
        raise ValueError(f"start {start} is out of range for {ndim} dimension(s)")
    start = start % ndim if start < 0 else start
    perm = [i for i in range(ndim) if i != ax]
    perm.insert(start - (start > ax), ax)
    return perm


# -- flips, rotations, rolls -------------------------------------------------------------------


def flipud(m):
    """m with the order of rows (axis 0) reversed, np.flipud

    Derivative: a permutation: the message is g flipped back.
    """
    return np.flipud(m)


def fliplr(m):
    """m with the order of columns (axis 1) reversed, np.fliplr

    Derivative: a permutation: the message is g flipped back.
    """
    return np.fliplr(m)


def _min_ndim(k):
    def shape(s):
        if len(s) < k:
            raise ValueError(f"needs at least {k} dimension(s), got shape {s}")
        return s

    return shape


def rot90(m, k=1, axes=(0, 1)):
    """m rotated by 90 degrees k times in the plane of ``axes`` (from the first axis towards
    the second), np.rot90

    Derivative: a permutation: the message is g rotated back (-k times).
    """
    return np.rot90(m, k, axes)


def _rot90_shape(s, k=1, axes=(0, 1)):
    a1, a2 = _axes_list(axes, len(s))
    if len(axes) != 2 or a1 == a2:
        raise ValueError(f"axes must be two different axes, got {axes}")
    if k % 2 == 0:
        return s
    out = list(s)
    out[a1], out[a2] = s[a2], s[a1]
    return tuple(out)


def roll(a, shift, axis=None):
    """a with its elements shifted by ``shift`` along axis (of the flattened a when axis is
    None), those that fall off one end coming back at the other, np.roll

    Derivative: a permutation: the message is g rolled back by -shift.
    """
    return np.roll(a, shift, axis)


def _roll_vjp(g, ans, a, shift, axis=None):
    back = -shift if isinstance(shift, (int, np.integer)) else tuple(-s for s in shift)
    return np.roll(g, back, axis)


def _roll_shape(s, shift, axis=None):
    if axis is not None:
        _axes_list(axis, len(s))
    return s


# -- triangles and diagonals -------------------------------------------------------------------


def tril(m, k=0):
    """the lower triangle of m (of its last two axes): elements with column <= row + k, 0
    elsewhere, np.tril

    Derivative: 1 on the triangle, 0 elsewhere: the message is tril(g, k).
    """
    return np.tril(m, k)


def triu(m, k=0):
    """the upper triangle of m (of its last two axes): elements with column >= row + k, 0
    elsewhere, np.triu

    Derivative: 1 on the triangle, 0 elsewhere: the message is triu(g, k).
    """
    return np.triu(m, k)


def _tri_shape(s, k=0):
    if not s:
        raise ValueError("tril/triu need at least one dimension")
    return s if len(s) > 1 else (s[0], s[0])


def _tri_vjp(fn):
    def vjp(g, ans, m, k=0):
        msg = fn(g, k)
        if m.ndim == 1:  # a 1-D m is broadcast to rows: sum them
            return np.sum(msg, axis=0)
        return msg

    return vjp


def diag(v, k=0):
    """np.diag: a 1-D v placed on the k-th diagonal of a square matrix; the k-th diagonal of
    a 2-D v

    Derivative: to a 1-D v, the k-th diagonal of g; to a 2-D v, g placed on its k-th
    diagonal (0 elsewhere).
    """
    return np.diag(v, k)


def _diag_len(m, n, k):
    if None in (m, n):
        return None
    return max(0, min(m, n - k) if k >= 0 else min(m + k, n))


def _diag_shape(s, k=0):
    if len(s) == 1:
        return (None, None) if s[0] is None else (s[0] + abs(k),) * 2
    if len(s) == 2:
        return (_diag_len(s[0], s[1], k),)
    raise ValueError(f"diag needs a 1-D or 2-D array, got shape {s}")


def _on_diagonal(g, k, shape):
    """The (m, n) matrix with the vector g on its k-th diagonal, written with diag, a slice and
    a pad so that it stays differentiable."""
    m, n = shape
    full = np.diag(g, k)  # square, of size len(g) + |k|; its diagonal fits in (m, n)
    size = full.shape[0]
    cropped = full[: min(m, size), : min(n, size)]
    return np.pad(cropped, ((0, m - cropped.shape[0]), (0, n - cropped.shape[1])))


def _diag_vjp(g, ans, v, k=0):
    if v.ndim == 1:
        return np.diag(g, k)
    return _on_diagonal(g, k, v.shape)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """the diagonal a[..., i, i + offset] of the axes axis1, axis2, as a new last axis (the
    other axes kept in order), np.diagonal

    Derivative: the message is g placed back on that diagonal (0 elsewhere).
    """
    return np.diagonal(a, offset, axis1, axis2)


def _diagonal_axes(ndim, axis1, axis2):
    a1, a2 = normalize_axis(axis1, ndim)[0], normalize_axis(axis2, ndim)[0]
    if a1 == a2:
        raise ValueError(f"axis1 and axis2 must differ, got {axis1} and {axis2}")
    return a1, a2


def _diagonal_shape(s, offset=0, axis1=0, axis2=1):
    if len(s) < 2:
        raise ValueError(f"diagonal needs at least 2 dimensions, got shape {s}")
    a1, a2 = _diagonal_axes(len(s), axis1, axis2)
    rest = tuple(n for i, n in enumerate(s) if i not in (a1, a2))
    return rest + (_diag_len(s[a1], s[a2], offset),)


def _diagonal_vjp(g, ans, a, offset=0, axis1=0, axis2=1):
    a1, a2 = _diagonal_axes(a.ndim, axis1, axis2)
    n1, n2 = a.shape[a1], a.shape[a2]
    length = _diag_len(n1, n2, offset)
    dtype = getattr(g, "dtype", None)
    dtype = np.dtype(np.float64) if dtype is None else dtype
    rows = np.zeros((length, n1), dtype)
    cols = np.zeros((length, n2), dtype)
    i = np.arange(length)
    rows[i, i + max(-offset, 0)] = 1
    cols[i, i + max(offset, 0)] = 1
    rows, cols = np.asarray(rows, like=like(g)), np.asarray(cols, like=like(g))
    rest = "".join(string.ascii_letters[: a.ndim - 2])
    placed = np.einsum(f"{rest}z,zy,zx->{rest}yx", g, rows, cols)  # rest..., n1, n2
    others = [d for d in range(a.ndim) if d not in (a1, a2)]
    return np.transpose(placed, tuple(np.argsort(others + [a1, a2])))


# -- linspace ----------------------------------------------------------------------------------


def linspace(start, stop, num=50, endpoint=True, axis=0):
    """num evenly spaced values from start to stop (stop excluded when not endpoint),
    np.linspace; start and stop may be arrays (and graph nodes), the values then run along
    a new axis

    Derivative: value k is start + t_k (stop - start), t_k = k/(num - 1) (k/num without the
    endpoint): 1 - t_k to start and t_k to stop, summed over k.
    """
    return np.linspace(start, stop, num, endpoint, axis=axis)


def _steps(num, endpoint, like):
    dtype = getattr(like, "dtype", None)
    dtype = np.float64 if dtype is None or dtype.kind != "f" else dtype
    return np.linspace(0.0, 1.0, num, endpoint).astype(dtype)


def _linspace_vjp(argnum):
    def vjp(g, ans, start, stop, num=50, endpoint=True, axis=0):
        ax = normalize_axis(axis, g.ndim)[0]
        t = np.reshape(_steps(num, endpoint, g), (num,) + (1,) * (g.ndim - ax - 1))
        msg = np.sum(g * (1 - t if argnum == 0 else t), axis=ax)
        return unbroadcast(msg, (start, stop)[argnum])

    return vjp


def _linspace_shape(a, b, num=50, endpoint=True, axis=0):
    if not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"num must be a non-negative int, got {num!r}")
    from_ends = broadcast_shapes(a, b)
    ax = normalize_axis(axis, len(from_ends) + 1)[0]
    return from_ends[:ax] + (int(num),) + from_ends[ax:]


def _linspace_dtype(a, b, **_):
    known = [d for d in (a, b) if d is not None and d.kind == "f"]
    return np.result_type(*known) if known else np.dtype(np.float64)


# -- samples -----------------------------------------------------------------------------------


def _variadic(*shape_sets):
    def samples(rng):
        for shapes in shape_sets:
            yield [rng.standard_normal(s) for s in shapes], {}

    return samples


def _tri_samples(rng):
    yield [rng.standard_normal((3, 4))], {}
    yield [rng.standard_normal((2, 3, 3))], {"k": -1}
    yield [rng.standard_normal(3)], {"k": 1}


def _stacking_op(name, forward, samples):
    shape, vjp = _stacking(name)
    return Op(name, forward, vjp, shape, variadic=True, differentiable_vjp=True, samples=samples)


OPS = [
    _stacking_op("vstack", vstack, _variadic([(2, 3), (3,), (1, 3)], [(2,), (2,)], [(), ()])),
    _stacking_op("row_stack", row_stack, _variadic([(2, 3), (3,)])),
    _stacking_op(
        "hstack",
        hstack,
        _variadic([(2, 3), (2, 1)], [(2,), (3,)], [(), (2,)], [(2, 1, 2), (2, 3, 2)]),
    ),
    _stacking_op(
        "dstack", dstack, _variadic([(2, 3), (2, 3)], [(3,), (3,)], [(2, 2, 1), (2, 2, 3)])
    ),
    _stacking_op("column_stack", column_stack, _variadic([(3,), (3, 2)], [(2,), (2,)])),
    Op(
        "append",
        append,
        (_append_vjp(0), _append_vjp(1)),
        _append_shape,
        needs=("", ""),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3), (4,))), cases(((2, 3), (1, 3)), axis=0), cases(((2, 3), (2, 2)), axis=-1)
        ),
    ),
    _split_op(
        "split",
        None,
        True,
        "equal sections (an int) or cuts at the given indices",
        chain(
            cases(((6, 2),), indices_or_sections=3, piece=1),
            cases(((2, 7),), indices_or_sections=[2, 5], axis=1, piece=2),
            cases(((2, 7),), indices_or_sections=[2, 5], axis=-1, piece=0),
            cases(((5,),), indices_or_sections=[3, 9], piece=1),
        ),
    ),
    _split_op(
        "array_split",
        None,
        False,
        "sections of sizes that differ by at most one "
        "(the first ones longer) or cuts at the given indices",
        chain(
            cases(((7, 2),), indices_or_sections=3, piece=0),
            cases(((2, 7),), indices_or_sections=3, axis=1, piece=2),
            cases(((5,),), indices_or_sections=[1, 3], piece=1),
        ),
    ),
    _split_op(
        "vsplit", "v", True, "along axis 0", cases(((4, 2),), indices_or_sections=2, piece=1)
    ),
    _split_op(
        "hsplit",
        "h",
        True,
        "along axis 1 (axis 0 for 1-D x)",
        chain(
            cases(((2, 6),), indices_or_sections=[1, 4], piece=1),
            cases(((6,),), indices_or_sections=3, piece=2),
        ),
    ),
    _split_op(
        "dsplit", "d", True, "along axis 2", cases(((2, 2, 4),), indices_or_sections=2, piece=0)
    ),
    _atleast(1),
    _atleast(2),
    _atleast(3),
    Op(
        "ravel",
        ravel,
        (_back,),
        lambda s: (_size(s),),
        needs=("",),
        differentiable_vjp=True,
        samples=cases(((2, 3),), ((),), ((2, 1, 2),)),
    ),
    _permutation_op(
        "swapaxes",
        swapaxes,
        _swap_perm,
        chain(cases(((2, 3, 4),), axis1=0, axis2=2), cases(((2, 3),), axis1=-1, axis2=0)),
    ),
    _permutation_op(
        "moveaxis",
        moveaxis,
        _move_perm,
        chain(
            cases(((2, 3, 4),), source=0, destination=-1),
            cases(((2, 3, 4, 1),), source=(0, 1), destination=(3, 0)),
        ),
    ),
    _permutation_op(
        "rollaxis",
        rollaxis,
        _roll_perm,
        chain(
            cases(((2, 3, 4),), axis=2),
            cases(((2, 3, 4),), axis=0, start=3),
            cases(((2, 3, 4),), axis=1, start=-1),
        ),
    ),
    Op(
        "flipud",
        flipud,
        (lambda g, ans, m: np.flipud(g),),
        _min_ndim(1),
        needs=("",),
        differentiable_vjp=True,
        samples=cases(((3, 2),), ((4,),)),
    ),
    Op(
        "fliplr",
        fliplr,
        (lambda g, ans, m: np.fliplr(g),),
        _min_ndim(2),
        needs=("",),
        differentiable_vjp=True,
        samples=cases(((3, 2),), ((2, 3, 2),)),
    ),
    Op(
        "rot90",
        rot90,
        (lambda g, ans, m, k=1, axes=(0, 1): np.rot90(g, -k, axes),),
        _rot90_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3),)),
            cases(((2, 3, 4),), k=2, axes=(1, 2)),
            cases(((2, 3, 4),), k=-1, axes=(2, 0)),
        ),
    ),
    Op(
        "roll",
        roll,
        (_roll_vjp,),
        _roll_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((2, 3),), shift=2),
            cases(((2, 3),), shift=-1, axis=1),
            cases(((2, 3, 2),), shift=(1, 2), axis=(0, 1)),
        ),
    ),
    Op(
        "tril",
        tril,
        (_tri_vjp(np.tril),),
        _tri_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=_tri_samples,
    ),
    Op(
        "triu",
        triu,
        (_tri_vjp(np.triu),),
        _tri_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=_tri_samples,
    ),
    Op(
        "diag",
        diag,
        (_diag_vjp,),
        _diag_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((3,),)),
            cases(((3,),), k=-2),
            cases(((3, 4),)),
            cases(((4, 3),), k=1),
            cases(((3, 4),), k=-1),
        ),
    ),
    Op(
        "linspace",
        linspace,
        (_linspace_vjp(0), _linspace_vjp(1)),
        _linspace_shape,
        _linspace_dtype,
        needs=("", ""),
        differentiable_vjp=True,
        samples=chain(
            cases(((), ())),
            cases(((3,), (2, 1)), num=4, endpoint=False),
            cases(((2,), (2,)), num=3, axis=-1),
        ),
    ),
    Op(
        "diagonal",
        diagonal,
        (_diagonal_vjp,),
        _diagonal_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=chain(
            cases(((3, 4),)),
            cases(((3, 4),), offset=1),
            cases(((2, 3, 4),), offset=-1, axis1=2, axis2=0),
        ),
    ),
]


@hookimpl
def mpgraph_ops():
    return OPS
