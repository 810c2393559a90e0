"""Linear algebra: matmul, dot, outer, einsum, trace and ``linalg.inv``/``solve``/``det``.

The vjps are written with operators and NumPy functions that graph nodes dispatch to these
same ops (``@``, ``np.einsum``, ``np.linalg.solve``), so they can be differentiated again.
"""

import functools
import string
import warnings

import numpy as np

try:  # the LU factors solve, det and slogdet keep for their vjps (see _lu)
    from scipy.linalg import lu_factor, lu_solve
except ImportError:  # without SciPy the vjps factorise again
    lu_factor = lu_solve = None

from mpgraph.extend import (
    GraphError,
    Op,
    apply_op,
    broadcast_shapes,
    chain,
    doc,
    float_dtype,
    hookimpl,
    is_graph_node,
    like,
    normalize_axis,
    unbroadcast,
)


def _mT(m):
    """The batched transpose (last two axes swapped), as a transpose node on graph nodes."""
    n = m.ndim
    return np.transpose(m, tuple(range(n - 2)) + (n - 1, n - 2))


def _dtype(v):
    dtype = getattr(v, "dtype", None)  # a node's dtype may be unknown (None)
    return np.dtype(np.float64) if dtype is None else dtype


# -- matmul ------------------------------------------------------------------------------------


def _matmul_shape(a, b):
    if not a or not b:
        raise ValueError("matmul does not take scalars (0-d operands); use multiply")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if None not in (a2[-1], b2[-2]) and a2[-1] != b2[-2]:
        raise ValueError(f"shapes {a} and {b} do not align ({a2[-1]} != {b2[-2]})")
    out = broadcast_shapes(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _matmul_a(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:  # the common case first, without unbroadcast
        return g @ b.T
    if b.ndim == 1:
        return unbroadcast(g[..., None] * b if a.ndim > 1 else g * b, a)
    if a.ndim == 1:
        return unbroadcast((b @ g[..., None])[..., 0], a)
    return unbroadcast(g @ _mT(b), a)


def _matmul_b(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    if a.ndim == 1:
        return unbroadcast(a[:, None] * g[..., None, :] if b.ndim > 1 else g * a, b)
    if b.ndim == 1:
        return np.sum(a * g[..., None], axis=tuple(range(a.ndim - 1)))
    return unbroadcast(_mT(a) @ g, b)


def _matmul_samples(rng):
    for sa, sb in [
        ((3, 4), (4, 2)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (2, 4, 3)),
        ((2, 3, 4), (4,)),
    ]:
        yield [rng.standard_normal(sa), rng.standard_normal(sb)], {}


# -- dot, outer --------------------------------------------------------------------------------


def _dot_subscripts(na, nb):
    """np.dot as einsum subscripts: a's last axis against b's second-to-last (or only) axis."""
    letters = iter(string.ascii_letters)
    a = "".join(next(letters) for _ in range(na - 1))
    k = next(letters)
    b = "".join(next(letters) for _ in range(nb - 1))
    b_sub = k if nb == 1 else b[:-1] + k + b[-1]
    return a + k, b_sub, a + (b if nb > 1 else "")


def dot(a, b):
    """np.dot(a, b): sum over a's last axis and b's second-to-last (or only) axis; with a 0-d
    operand, elementwise multiplication

    Derivative: g against b onto a's axes, a against g onto b's axes (an einsum).
    """
    return np.dot(a, b)


def _dot_shape(a, b):
    if not a or not b:
        return broadcast_shapes(a, b)  # a 0-d operand: elementwise multiplication
    k = b[0] if len(b) == 1 else b[-2]
    if None not in (a[-1], k) and a[-1] != k:
        raise ValueError(f"shapes {a} and {b} do not align ({a[-1]} != {k})")
    return a[:-1] + (b[:-2] + b[-1:] if len(b) > 1 else ())


def _dot_vjp(argnum):
    def vjp(g, ans, a, b):
        if np.ndim(a) == 0 or np.ndim(b) == 0:  # a Python number has no .ndim
            return unbroadcast(g * (b if argnum == 0 else a), (a, b)[argnum])
        if a.ndim <= 2 and b.ndim <= 2:  # np.dot is matmul here
            return (_matmul_a, _matmul_b)[argnum](g, ans, a, b)
        sa, sb, so = _dot_subscripts(a.ndim, b.ndim)
        if argnum == 0:
            return np.einsum(f"{so},{sb}->{sa}", g, b)
        return np.einsum(f"{sa},{so}->{sb}", a, g)

    return vjp


def _dot_samples(rng):
    for sa, sb in [
        ((3, 4), (4, 2)),
        ((4,), (4,)),
        ((3, 4), (4,)),
        ((), (2, 3)),
        ((2, 3, 4), (4,)),
        ((2, 3, 4), (5, 4, 2)),
    ]:
        yield [rng.standard_normal(sa), rng.standard_normal(sb)], {}


def outer(a, b):
    """a_i b_j for the flattened a and b

    Derivative: to a, g @ b (reshaped as a); to b, a @ g (reshaped as b).
    """
    return np.outer(a, b)


def _outer_shape(a, b):
    def size(s):
        return None if None in s else int(np.prod(s, dtype=int))

    return size(a), size(b)


# -- einsum ------------------------------------------------------------------------------------


def einsum(*operands, subscripts):
    """np.einsum(subscripts, *operands): any subscripts (implicit or explicit output,
    ellipsis, repeated labels such as 'ii' and broadcasting of size-1 dims)

    Derivative: the message to an operand is an einsum of g with the other operands onto its
    labels (a repeated label puts it on the diagonal; a broadcast dim sums it).

    Called as NumPy's: ``mg.ops.einsum("ij,jk->ik", a, b)``; it always contracts in the
    order np.einsum's ``optimize=True`` chooses.
    """
    return np.einsum(subscripts, *operands, optimize=len(operands) > 1)


def _parse(subscripts, ndims):
    """Explicit, ellipsis-free subscripts: ``(input labels per operand, output labels)``."""
    if not isinstance(subscripts, str):
        raise ValueError(f"einsum subscripts must be a string, got {subscripts!r}")
    return _parse_str(subscripts, ndims)


@functools.lru_cache(maxsize=512)
def _parse_str(subscripts, ndims):
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(ndims):
        raise ValueError(f"subscripts {subscripts!r} name {len(subs)} operand(s), got {len(ndims)}")
    used = set(spec) - set(".,->")
    bad = [c for c in used if c not in string.ascii_letters]
    if bad:
        raise ValueError(f"subscripts {subscripts!r}: {bad[0]!r} is not a letter")
    free = [c for c in string.ascii_letters[::-1] if c not in used]  # labels for '...' dims
    n_ell = 0
    for s, nd in zip(subs, ndims):
        if "..." in s:
            n_ell = max(n_ell, nd - len(s.replace("...", "")))
    ell = "".join(free[:n_ell])
    out_subs = []
    for k, (s, nd) in enumerate(zip(subs, ndims)):
        named = len(s.replace("...", ""))
        if "..." in s:
            s = s.replace("...", ell[n_ell - (nd - named) :] if nd > named else "")
        elif "." in s:
            raise ValueError(f"subscripts {subscripts!r}: a lone '.' (ellipsis is '...')")
        if len(s) != nd:
            raise ValueError(
                f"subscripts {subscripts!r}: operand {k} has {nd} dimension(s) "
                f"but its subscripts {subs[k]!r} name {len(s)}"
            )
        out_subs.append(s)
    if arrow:
        out = rhs.replace("...", ell)
        if "." in out:
            raise ValueError(f"subscripts {subscripts!r}: a lone '.' in the output")
    else:
        counts = "".join(out_subs)
        out = ell + "".join(sorted(c for c in set(counts) - set(ell) if counts.count(c) == 1))
    for c in out:
        if out.count(c) > 1:
            raise ValueError(f"subscripts {subscripts!r}: output label {c!r} repeats")
        if c not in "".join(out_subs):
            raise ValueError(f"subscripts {subscripts!r}: output label {c!r} is in no operand")
    return tuple(out_subs), out


def _einsum_dims(subs, shapes):
    """The size of each label; operands must agree on it, up to broadcasting of size 1."""
    sizes = {}
    for s, shape in zip(subs, shapes):
        for c, n in zip(s, shape):
            sizes.setdefault(c, []).append((n,))
    out = {}
    for c, dims in sizes.items():
        try:
            out[c] = broadcast_shapes(*dims)[0]
        except ValueError:
            raise ValueError(
                f"label {c!r} has sizes {', '.join(str(d) for (d,) in dims)} in "
                f"the operands {', '.join(map(str, shapes))}"
            ) from None
    return out


def _einsum_shape(*shapes, subscripts):
    subs, out = _parse(subscripts, tuple(len(s) for s in shapes))
    dims = _einsum_dims(subs, shapes)
    return tuple(dims[c] for c in out)


def _einsum_vjp(argnum, g, ans, *operands, subscripts):
    subs, out = _parse(subscripts, tuple(o.ndim for o in operands))
    x, target = operands[argnum], subs[argnum]
    labels = [out] + [s for j, s in enumerate(subs) if j != argnum]
    arrays = [g] + [o for j, o in enumerate(operands) if j != argnum]
    unique = "".join(dict.fromkeys(target))
    for c in unique:  # a label only x has was summed away: the message is constant along it
        if not any(c in s for s in labels):
            labels.append(c)
            arrays.append(np.ones(x.shape[target.index(c)], dtype=_dtype(x), like=like(g)))
    msg = np.einsum(",".join(labels) + "->" + unique, *arrays)
    if len(unique) < len(target):  # a repeated label ('ii'): the message lies on the diagonal
        free = iter(c for c in string.ascii_letters if c not in "".join(subs) + out)
        full, eyes, extra = "", [], []
        for p, c in enumerate(target):
            if c in target[:p]:
                fresh = next(free)
                full += fresh
                eyes.append(c + fresh)
                extra.append(np.asarray(np.eye(x.shape[p], dtype=_dtype(x)), like=like(g)))
            else:
                full += c
        msg = np.einsum(",".join([unique] + eyes) + "->" + full, msg, *extra)
    summed = tuple(p for p, n in enumerate(x.shape) if n == 1 and msg.shape[p] != 1)
    if summed:
        msg = np.sum(msg, axis=summed, keepdims=True)
    if tuple(msg.shape) != tuple(x.shape):  # x's label met a size-1 dim of another operand:
        msg = np.broadcast_to(msg, x.shape)  # the message is constant along it
    return msg


def _einsum_public(apply, subscripts, *operands, optimize=None, name=None):
    if not isinstance(subscripts, str):  # NumPy's other form: op0, sublist0, op1, ..., [out]
        subscripts, operands = _interleaved(subscripts, operands)
    return apply(operands, subscripts=subscripts, name=name)


def _interleaved(first, rest):
    """``(subscripts, operands)`` from einsum's form ``(op0, sublist0, op1, sublist1, ...,
    [output sublist])``, whose labels are ints (0-51) or Ellipsis."""
    args = (first,) + tuple(rest)
    pairs, out = (args[:-1], args[-1]) if len(args) % 2 else (args, None)
    operands, lists = pairs[0::2], pairs[1::2]
    if not operands or len(lists) != len(operands):
        raise ValueError(
            "einsum takes a subscripts string, or operands each followed by its list of axis labels"
        )

    def letters(sub):
        try:
            return "".join("..." if s is Ellipsis else string.ascii_letters[s] for s in sub)
        except (TypeError, IndexError):
            raise ValueError(f"einsum axis labels are ints 0-51 or Ellipsis, got {sub!r}") from None

    text = ",".join(letters(s) for s in lists)
    return (text if out is None else text + "->" + letters(out)), tuple(operands)


def _einsum_samples(rng):
    def case(subscripts, *shapes):
        return [rng.standard_normal(s) for s in shapes], {"subscripts": subscripts}

    yield case("ij,jk->ik", (2, 3), (3, 4))
    yield case("ij,jk", (2, 3), (3, 4))
    yield case("ii->i", (3, 3))
    yield case("ii", (3, 3))
    yield case("ij->", (2, 3))
    yield case("bij,bjk->bik", (2, 3, 4), (2, 4, 2))
    yield case("...ij,...jk->...ik", (2, 3, 4), (4, 2))
    yield case("i,i,i->", (3,), (3,), (3,))
    yield case("ij,kj->ikj", (1, 3), (4, 3))
    yield case("ij,ij->ij", (1, 3), (4, 3))
    yield case("i...->...", (2, 3, 4))
    yield case("iij->j", (2, 2, 3))


# -- trace, inv, solve, det --------------------------------------------------------------------


def trace(x, offset=0, axis1=0, axis2=1):
    """sum of the diagonal x[..., i, i + offset] over the axes axis1, axis2

    Derivative: 1 on that diagonal, 0 elsewhere: the message is g times the identity there.
    """
    return np.trace(x, offset, axis1, axis2)


def _trace_axes(ndim, axis1, axis2):
    a1, a2 = (
        axis1 % ndim if -ndim <= axis1 < ndim else None,
        axis2 % ndim if -ndim <= axis2 < ndim else None,
    )
    if a1 is None or a2 is None or a1 == a2:
        raise ValueError(
            f"axis1={axis1}, axis2={axis2} must be two different axes of {ndim} dimension(s)"
        )
    return a1, a2


def _trace_shape(s, offset=0, axis1=0, axis2=1):
    a1, a2 = _trace_axes(len(s), axis1, axis2)
    return tuple(n for i, n in enumerate(s) if i not in (a1, a2))


def _trace_vjp(g, ans, x, offset=0, axis1=0, axis2=1):
    a1, a2 = _trace_axes(x.ndim, axis1, axis2)
    eye = np.asarray(np.eye(x.shape[a1], x.shape[a2], k=offset, dtype=_dtype(x)), like=like(g))
    if a1 > a2:
        eye = eye.T
    eye = eye.reshape([x.shape[i] if i in (a1, a2) else 1 for i in range(x.ndim)])
    return np.expand_dims(g, (a1, a2)) * eye


def inv(a):
    """A^-1 (batched over leading axes)

    Derivative: the message is -A^-T g A^-T.
    """
    return np.linalg.inv(a)


def _square_shape(s):
    if len(s) < 2 or (None not in s[-2:] and s[-1] != s[-2]):
        raise ValueError(f"needs square matrices (..., n, n), got shape {s}")
    return s


def solve(a, b):
    """x = A^-1 b, with NumPy 2's rule: b is a vector (M,) or a stack of matrices (..., M, K)

    Derivative: to b, A^-T g; to A, -(A^-T g) x^T.
    """
    return np.linalg.solve(a, b)


def _solve_shape(a, b):
    _square_shape(a)
    if len(b) == 1:
        if None not in (a[-1], b[0]) and a[-1] != b[0]:
            raise ValueError(f"shapes {a} and {b} do not align ({a[-1]} != {b[0]})")
        return a[:-1]
    if None not in (a[-1], b[-2]) and a[-1] != b[-2]:
        raise ValueError(f"shapes {a} and {b} do not align ({a[-1]} != {b[-2]})")
    return broadcast_shapes(a[:-2], b[:-2]) + (a[-1], b[-1])


def _lu(a):
    """SciPy's LU factors of ``a``, the residual that solve, det and slogdet keep from forward
    to vjp so that the backward pass does not factorise ``a`` again; ``None`` where they are
    not kept (no SciPy, a stack of matrices, an array of another library than NumPy).

    Raises ``np.linalg.LinAlgError`` for a singular ``a``, as NumPy's solve does.
    """
    if lu_factor is None or type(a) is not np.ndarray or a.ndim != 2 or a.dtype.kind != "f":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy warns of an exact zero pivot: raised below
        lu, piv = lu_factor(a, check_finite=False)
    if not np.all(np.diagonal(lu)):
        raise np.linalg.LinAlgError("Singular matrix")
    return lu, piv


def _solve_fwd(a, b):
    """solve, and, as the residual its vjps read, the LU factors of ``a``."""
    factors = _lu(a) if np.ndim(b) <= 2 else None
    if factors is None:
        return np.linalg.solve(a, b), None
    return lu_solve(factors, b, check_finite=False), factors


def _solve_gb(g, a, b, res=None):
    if res is not None and type(g) is np.ndarray:  # A^-T g from the forward pass's factors
        return lu_solve(res, g, trans=1, check_finite=False)
    if b.ndim == 1:
        return np.linalg.solve(_mT(a), g[..., None])[..., 0]
    return np.linalg.solve(_mT(a), g)


def _solve_a(g, ans, a, b, res=None):
    gb = _solve_gb(g, a, b, res)
    if b.ndim == 1:
        return unbroadcast(-(gb[..., :, None] * ans[..., None, :]), a)
    return unbroadcast(-(gb @ _mT(ans)), a)


def det(a):
    """det A (batched over leading axes)

    Derivative: det(A) A^-T (A must be invertible for the message).
    """
    return np.linalg.det(a)


def _det_fwd(a):
    """det and, as the residual its vjp reads, the LU factors of ``a`` (det is the product
    of U's diagonal, its sign flipped once per row exchange)."""
    try:
        factors = _lu(a)
    except np.linalg.LinAlgError:  # det 0: NumPy's det, and a vjp that will say singular
        factors = None
    if factors is None:
        return np.linalg.det(a), None
    lu, piv = factors
    flips = int(np.count_nonzero(piv != np.arange(len(piv))))  # a weak Python number
    return np.prod(np.diagonal(lu)) * (-1.0) ** flips, factors


def _inv_t(a, res):
    """A^-T, from the forward pass's LU factors when there are some."""
    if res is None:
        return _mT(np.linalg.inv(a))
    return lu_solve(res, np.eye(len(a), dtype=a.dtype), trans=1, check_finite=False)


def _det_vjp(g, ans, a, res=None):
    if is_graph_node(g) or is_graph_node(a):
        res = None
    return (g * ans)[..., None, None] * _inv_t(a, res)


def _invertible(rng, shape):
    return rng.standard_normal(shape) + 3 * np.eye(shape[-1])


def _cases(*shape_sets, **attrs):
    def samples(rng):
        for shapes in shape_sets:
            rest = [rng.standard_normal(s) for s in shapes[1:]]
            yield [_invertible(rng, shapes[0])] + rest, attrs

    return samples


# -- tensordot, inner, kron, cross -------------------------------------------------------------


def _tensordot_axes(na, nb, axes):
    """(a's summed axes, b's summed axes) of np.tensordot's ``axes``, non-negative."""
    if isinstance(axes, (int, np.integer)):
        if axes < 0 or axes > min(na, nb):
            raise ValueError(f"axes={axes} does not fit operands of {na} and {nb} dimension(s)")
        return tuple(range(na - axes, na)), tuple(range(axes))
    try:
        xa, xb = axes
    except (TypeError, ValueError):
        raise ValueError(f"axes must be an int or a pair of sequences, got {axes!r}") from None
    xa = (xa,) if isinstance(xa, (int, np.integer)) else tuple(xa)
    xb = (xb,) if isinstance(xb, (int, np.integer)) else tuple(xb)
    if len(xa) != len(xb):
        raise ValueError(f"axes {axes!r}: the two sequences differ in length")
    xa = tuple(int(a) % max(na, 1) if -na <= a < na else _bad_axis(a, na) for a in xa)
    xb = tuple(int(b) % max(nb, 1) if -nb <= b < nb else _bad_axis(b, nb) for b in xb)
    return xa, xb


def _bad_axis(a, n):
    raise ValueError(f"axis {a} is out of range for {n} dimension(s)")


def _tensordot_subscripts(na, nb, axes):
    xa, xb = _tensordot_axes(na, nb, axes)
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(xa, xb):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in xa] + [
        c for j, c in enumerate(sb) if j not in xb
    ]
    return "".join(sa), "".join(sb), "".join(out)


def tensordot(a, b, axes=2):
    """np.tensordot: the sum over a's axes axes[0] against b's axes[1] (an int N: a's last N
    against b's first N); the result has a's other axes, then b's

    Derivative: an einsum of g with the other operand onto each operand's axes.
    """
    return np.tensordot(a, b, axes)


def _tensordot_shape(a, b, axes=2):
    xa, xb = _tensordot_axes(len(a), len(b), axes)
    for i, j in zip(xa, xb):
        if None not in (a[i], b[j]) and a[i] != b[j]:
            raise ValueError(
                f"shapes {a} and {b} do not align on axes {i} and {j} ({a[i]} != {b[j]})"
            )
    return tuple(n for i, n in enumerate(a) if i not in xa) + tuple(
        n for j, n in enumerate(b) if j not in xb
    )


def _tensordot_vjp(argnum):
    def vjp(g, ans, a, b, axes=2):
        sa, sb, so = _tensordot_subscripts(a.ndim, b.ndim, axes)
        if argnum == 0:
            return np.einsum(f"{so},{sb}->{sa}", g, b)
        return np.einsum(f"{sa},{so}->{sb}", a, g)

    return vjp


def inner(a, b):
    """np.inner: the sum over the last axes of a and b (elementwise product for a 0-d operand);
    the result has a's other axes, then b's

    Derivative: g against b onto a's axes, a against g onto b's axes (an einsum).
    """
    return np.inner(a, b)


def _inner_shape(a, b):
    if not a or not b:
        return broadcast_shapes(a, b)
    if None not in (a[-1], b[-1]) and a[-1] != b[-1]:
        raise ValueError(f"shapes {a} and {b} differ in their last dim ({a[-1]} != {b[-1]})")
    return a[:-1] + b[:-1]


def _inner_vjp(argnum):
    def vjp(g, ans, a, b):
        if a.ndim == 0 or b.ndim == 0:
            return unbroadcast(g * (b if argnum == 0 else a), (a, b)[argnum])
        return _tensordot_vjp(argnum)(g, ans, a, b, ([-1], [-1]))

    return vjp


def kron(a, b):
    """np.kron: the Kronecker product, every element of a times the whole of b, in blocks
    (the shorter shape padded with leading 1s)

    Derivative: g split into blocks: to a, each block against b; to b, the blocks weighted
    by a, summed.
    """
    return np.kron(a, b)


def _kron_dims(a, b):
    n = max(len(a), len(b))
    return (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)


def _kron_shape(a, b):
    a, b = _kron_dims(a, b)
    return tuple(None if None in (p, q) else p * q for p, q in zip(a, b))


def _kron_vjp(argnum):
    def vjp(g, ans, a, b):
        sa, sb = _kron_dims(a.shape, b.shape)
        n = len(sa)
        blocks = np.reshape(g, tuple(d for pair in zip(sa, sb) for d in pair))
        la, lb = string.ascii_letters[:n], string.ascii_letters[n : 2 * n]
        sub = "".join(p + q for p, q in zip(la, lb))
        if argnum == 0:
            msg = np.einsum(f"{sub},{lb}->{la}", blocks, np.reshape(b, sb))
        else:
            msg = np.einsum(f"{sub},{la}->{lb}", blocks, np.reshape(a, sa))
        return np.reshape(msg, (a, b)[argnum].shape)

    return vjp


def cross(a, b, axis=-1):
    """np.cross of 3-vectors along axis (the other axes broadcast)

    Derivative: to a, cross(b, g); to b, cross(g, a) (summed where they broadcast).
    """
    return np.cross(a, b, axis=axis)


def _cross_shape(a, b, axis=-1):
    for s in (a, b):
        ax = normalize_axis(axis, len(s))[0]
        if s[ax] not in (3, None):
            raise ValueError(f"cross needs 3-vectors along axis {axis}, got shape {s}")
    move = [
        tuple(d for i, d in enumerate(s) if i != normalize_axis(axis, len(s))[0]) for s in (a, b)
    ]
    rest = broadcast_shapes(*move)
    ax = normalize_axis(axis, len(rest) + 1)[0]
    return rest[:ax] + (3,) + rest[ax:]


# -- decompositions ----------------------------------------------------------------------------


def _sym(a):
    return 0.5 * (a + _mT(a))


def _eye_like(n, v):
    return np.asarray(np.eye(n, dtype=_dtype(v)), like=like(v))


def _solve_t(t, x):
    """t^-T x (a solve, so that it is differentiable)."""
    return np.linalg.solve(_mT(t), x)


def cholesky(a):
    """the lower-triangular L with L L^T = (A + A^T)/2 (A symmetrized first, as JAX's
    symmetrize_input; A symmetric positive definite), batched

    Derivative: with phi(X) = tril(X) with its diagonal halved and S = L^-T phi(L^T gL) L^-1,
    the message is (S + S^T)/2.
    """
    return np.linalg.cholesky(_sym(a))


def _cholesky_vjp(g, ans, a):
    n = ans.shape[-1]
    phi = np.tril(_mT(ans) @ g) * (1 - 0.5 * _eye_like(n, g))
    s = _mT(_solve_t(ans, _mT(_solve_t(ans, phi))))
    return _sym(s)


def _two_parts(apply, a, name=None):
    """Both parts of a two-part decomposition, as NumPy returns them."""
    return tuple(apply(a, part=k, name=None if name is None else f"{name}_{k}") for k in range(2))


def _check_part(part, count):
    if part not in range(count):
        raise ValueError(f"part must be one of {tuple(range(count))}, got {part!r}")


def qr(a, part=0):
    """part ``part`` of the reduced QR decomposition A = Q R of A (..., m, n), k = min(m, n):
    Q (part 0, (m, k), orthonormal columns) or R (part 1, (k, n), upper triangular), as
    np.linalg.qr(a, mode='reduced'); ``mg.ops.linalg.qr(a)`` returns (Q, R),
    ``mg.ops.linalg.qr(a, mode='r')`` R alone

    Derivative: for m >= n, with M = R gR^T - gQ^T Q and copyltu(M) = tril(M) +
    tril(M, -1)^T, the message is (gQ + Q copyltu(M)) R^-T. For m < n, A = [X | Y] and
    R = [U | V] with X = Q U square: the message is [that of X's QR with gQ + Y gV^T and gU
    | Q gV]. It needs R's leading k x k block invertible (A of full rank k).
    """
    return np.linalg.qr(a)[part]


def _qr_public(apply, a, mode="reduced", name=None):
    if mode == "r":
        return apply(a, part=1, name=name)
    if mode != "reduced":
        raise GraphError(
            f"mpgraph: op 'linalg.qr': mode must be 'reduced' or 'r', got {mode!r} (the "
            "columns 'complete' adds to Q are any basis of what A does not reach, with no "
            "derivative)"
        )
    return _two_parts(apply, a, name=name)


def _qr_square_vjp(gq, gr, q, r):
    """The message of a QR with R square (m >= n)."""
    m = r @ _mT(gr) - _mT(gq) @ q
    copyltu = np.tril(m) + _mT(np.tril(m, -1))
    return _mT(np.linalg.solve(r, _mT(gq + q @ copyltu)))


def _qr_vjp(g, ans, a, part=0):
    q, r = (
        np.linalg.qr(a)
        if not is_graph_node(a)
        else (apply_op(QR, a, part=0), apply_op(QR, a, part=1))
    )
    gq, gr = (g, 0 * r) if part == 0 else (0 * q, g)
    m, n = a.shape[-2:]
    if m >= n:
        return _qr_square_vjp(gq, gr, q, r)
    y, gv = a[..., :, m:], gr[..., :, m:]
    gx = _qr_square_vjp(gq + y @ _mT(gv), gr[..., :, :m], q, r[..., :, :m])
    return np.concatenate([gx, q @ gv], axis=-1)


def _qr_shape(s, part=0):
    _check_part(part, 2)
    if len(s) < 2:
        raise ValueError(f"qr needs matrices (..., m, n), got shape {s}")
    m, n = s[-2:]
    k = None if None in (m, n) else min(m, n)
    return s[:-2] + ((m, k) if part == 0 else (k, n))


def eigh(a, part=0):
    """part ``part`` of the eigendecomposition of the symmetric (A + A^T)/2 (symmetrized
    first, as JAX's): the eigenvalues w in ascending order (part 0) or the eigenvectors V as
    columns (part 1); ``mg.ops.linalg.eigh(a)`` returns (w, V) as np.linalg.eigh

    Derivative: V (diag(gw) + F * (V^T gV)) V^T, F_ij = 1/(w_j - w_i) off the diagonal,
    then symmetrized; it needs distinct eigenvalues (F is infinite on a tie).
    """
    return np.linalg.eigh(_sym(a))[part]


def _gap(w, g):
    """F_ij = 1/(w_j - w_i) off the diagonal, 0 on it."""
    eye = _eye_like(w.shape[-1], g) > 0
    d = np.expand_dims(w, -2) - np.expand_dims(w, -1)
    return np.where(eye, 0, 1 / np.where(eye, 1, d))


def _eigh_vjp(g, ans, a, part=0):
    w, v = (
        np.linalg.eigh(_sym(a))
        if not is_graph_node(a)
        else (apply_op(EIGH, a, part=0), apply_op(EIGH, a, part=1))
    )
    if part == 0:
        inner = np.expand_dims(g, -1) * _eye_like(w.shape[-1], g)
    else:
        inner = _gap(w, g) * (_mT(v) @ g)
    return _sym(v @ inner @ _mT(v))


def _eigh_shape(s, part=0):
    _check_part(part, 2)
    _square_shape(s)
    return s[:-1] if part == 0 else s


def svd(a, part=0, full_matrices=False):
    """part ``part`` of the SVD A = U diag(S) Vh (k = min(m, n)): U (part 0), S (part 1,
    descending) or Vh (part 2), as np.linalg.svd(a, full_matrices): reduced, U (m, k) and
    Vh (k, n), or full, U (m, m) and Vh (n, n); ``mg.ops.linalg.svd(a)`` returns (U, S, Vh)
    (full by default, as NumPy)

    Derivative: with F_ij = 1/(s_j^2 - s_i^2) off the diagonal, V = Vh^T, gV = gVh^T:
    U (F*(U^T gU - gU^T U) S + diag(gS) + S F*(V^T gV - gV^T V)) V^T
    + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T) (U, V reduced); it needs distinct,
    non-zero singular values.

    With full_matrices, the columns of U beyond k (m > n) or the rows of Vh beyond k (m < n)
    are any orthonormal basis of what A does not reach, so no derivative is defined for them:
    a message that reaches them is refused (use U[..., :k] or Vh[..., :k, :]); in a derivative
    built as graph nodes (a higher order, forward mode) their signal is dropped, as PyTorch
    drops it.
    """
    return np.linalg.svd(a, full_matrices=full_matrices)[part]


def _svd_extra(g, a, part):
    """The signal of the reduced U (part 0) or Vh (part 2) from that of the full one,
    refusing a signal that reaches the columns (rows) beyond k."""
    m, n = a.shape[-2:]
    k = min(m, n)
    if (m if part == 0 else n) == k:
        return g
    extra, kept = (g[..., :, k:], g[..., :, :k]) if part == 0 else (g[..., k:, :], g[..., :k, :])
    if not is_graph_node(extra) and np.any(extra != 0):
        which = f"columns {k}: of U" if part == 0 else f"rows {k}: of Vh"
        raise ValueError(
            f"no derivative is defined for the {which} of the full SVD of a matrix of shape "
            f"{(m, n)} (full_matrices=True): they are any orthonormal basis of what A does "
            f"not reach; use only the first {k} (U[..., :{k}], Vh[..., :{k}, :]) or "
            "full_matrices=False"
        )
    return kept


def _svd_vjp(g, ans, a, part=0, full_matrices=False):
    if full_matrices and part != 1:
        g = _svd_extra(g, a, part)
    if is_graph_node(a):
        u, s, vh = (apply_op(SVD, a, part=k) for k in range(3))
    else:
        u, s, vh = np.linalg.svd(a, full_matrices=False)
    v = _mT(vh)
    k = s.shape[-1]
    eye = _eye_like(k, g)
    s_mat = np.expand_dims(s, -1) * eye
    s_inv = np.expand_dims(1 / s, -1) * eye
    if part == 1:
        return u @ (np.expand_dims(g, -1) * eye) @ vh
    f = _gap(s * s, g)
    if part == 0:
        utgu = _mT(u) @ g
        t = (f * (utgu - _mT(utgu))) @ s_mat
        return u @ t @ vh + (_eye_like(a.shape[-2], g) - u @ _mT(u)) @ g @ s_inv @ vh
    gv = _mT(g)
    vtgv = _mT(v) @ gv
    n_ = a.shape[-1]
    t = s_mat @ (f * (vtgv - _mT(vtgv)))
    return u @ t @ vh + u @ s_inv @ _mT(gv) @ (_eye_like(n_, g) - v @ vh)


def _svd_shape(s, part=0, full_matrices=False):
    _check_part(part, 3)
    if len(s) < 2:
        raise ValueError(f"svd needs matrices (..., m, n), got shape {s}")
    m, n = s[-2:]
    k = None if None in (m, n) else min(m, n)
    if full_matrices:
        return s[:-2] + ((m, m), (k,), (n, n))[part]
    return s[:-2] + ((m, k), (k,), (k, n))[part]


def slogdet(a, part=1):
    """part ``part`` of np.linalg.slogdet: the sign of det A (part 0) or log |det A|
    (part 1); ``mg.ops.linalg.slogdet(a)`` returns (sign, logabsdet)

    Derivative: to A, g A^-T from log |det A|; 0 from the sign (piecewise constant).
    """
    return np.linalg.slogdet(a)[part]


def _slogdet_fwd(a, part=1):
    """slogdet's part and, as the residual its vjp reads, the LU factors of ``a``."""
    try:
        factors = _lu(a)
    except np.linalg.LinAlgError:  # det 0: sign 0, log |det| -inf, as NumPy's
        factors = None
    if factors is None:
        return np.linalg.slogdet(a)[part], None
    lu, piv = factors
    diag = np.diagonal(lu)
    if part == 1:
        return np.sum(np.log(np.abs(diag))), factors
    flips = int(np.count_nonzero(piv != np.arange(len(piv))))  # a weak Python number
    return np.prod(np.sign(diag)) * (-1.0) ** flips, factors


def _slogdet_vjp(g, ans, a, part=1, res=None):
    if part == 0:
        return 0 * a  # the sign is piecewise constant
    if is_graph_node(g) or is_graph_node(a):
        res = None
    return np.expand_dims(np.expand_dims(g, -1), -1) * _inv_t(a, res)


def _slogdet_shape(s, part=1):
    _check_part(part, 2)
    return _square_shape(s)[:-2]


def pinv(a):
    """the Moore-Penrose pseudo-inverse A^+ (..., n, m) of A (..., m, n), batched

    Derivative: with X = A^+: -X^T g X^T + (I - A X) g^T X X^T + X^T X g^T (I - X A); valid
    where the rank of A does not change (full-rank A).
    """
    return np.linalg.pinv(a)


def _pinv_vjp(g, ans, a):
    x = ans
    m, n = a.shape[-2:]
    ax, xa = a @ x, x @ a
    return (
        -(_mT(x) @ g @ _mT(x))
        + (_eye_like(m, g) - ax) @ _mT(g) @ x @ _mT(x)
        + _mT(x) @ x @ _mT(g) @ (_eye_like(n, g) - xa)
    )


def _pinv_shape(s):
    if len(s) < 2:
        raise ValueError(f"pinv needs matrices (..., m, n), got shape {s}")
    return s[:-2] + (s[-1], s[-2])


def lstsq(a, b, rcond=None, part=0):
    """part ``part`` of np.linalg.lstsq(a, b, rcond): the solution x minimizing |b - A x|
    (part 0), the residuals |b - A x|^2 per column (part 1; empty unless m > n), the rank
    (part 2) or A's singular values (part 3); ``mg.ops.linalg.lstsq(a, b)`` returns the four
    as NumPy does. A (m, n) must have full rank min(m, n) for the messages: for m < n, x is
    the solution of least norm

    Derivative: with P = A^+ and r = b - A x: to b, P^T gx; to A, -P^T gx x^T + r (P P^T
    gx)^T + P^T x ((I - P A) gx)^T (the last term is 0 for m >= n, r is 0 for m < n); from
    the residuals, 2 r g to b and -2 r x^T g to A; from the singular values, U diag(gS) V^T;
    none from the rank.
    """
    return np.linalg.lstsq(a, b, rcond=rcond)[part]


def _lstsq_parts(a, b, rcond):
    if is_graph_node(a) or is_graph_node(b):
        return apply_op(LSTSQ, a, b, rcond=rcond, part=0), np.linalg.pinv(a)
    return np.linalg.lstsq(a, b, rcond=rcond)[0], np.linalg.pinv(a)


def _lstsq_vjp(argnum):
    def vjp(g, ans, a, b, rcond=None, part=0):
        if part == 2 or (part == 3 and argnum == 1):
            return 0 * (a, b)[argnum]  # the rank is piecewise constant; S does not read b
        if part == 3:
            return _svd_vjp(g, None, a, part=1)
        x, p = _lstsq_parts(a, b, rcond)
        vector = b.ndim == 1
        x2 = np.expand_dims(x, -1) if vector else x
        b2 = np.expand_dims(b, -1) if vector else b
        r = b2 - a @ x2
        if part == 1:
            gr = np.expand_dims(g, -2) * r  # g per column
            if argnum == 1:
                msg = 2 * gr
                return msg[..., 0] if vector else msg
            return -2 * (gr @ _mT(x2))
        gx = np.expand_dims(g, -1) if vector else g
        ptg = _mT(p) @ gx
        if argnum == 1:
            return ptg[..., 0] if vector else ptg
        msg = -(ptg @ _mT(x2)) + r @ _mT(p @ ptg)
        m, n = a.shape[-2:]
        if m < n:  # the minimum-norm solution also moves with A's null space, I - P A
            msg = msg + _mT(p) @ x2 @ _mT(gx - p @ (a @ gx))
        return msg

    return vjp


def _lstsq_shape(a, b, rcond=None, part=0):
    _check_part(part, 4)
    if len(a) != 2 or len(b) not in (1, 2):
        raise ValueError(f"lstsq needs a (m, n) and b (m,) or (m, k), got {a} and {b}")
    m, n = a
    if None not in (m, b[0]) and m != b[0]:
        raise ValueError(f"shapes {a} and {b} do not align ({m} != {b[0]})")
    k = () if len(b) == 1 else (b[1],)
    if part == 0:
        return (n,) + k
    if part == 1:
        if None in (m, n):
            return (None,)  # empty unless m > n
        return (k or (1,)) if m > n else (0,)
    if part == 2:
        return ()
    return (None if None in (m, n) else min(m, n),)


def _lstsq_dtype(a, b, rcond=None, part=0):
    if part == 2:
        return np.dtype(np.int32)
    known = [d for d in (a, b) if d is not None]
    return float_dtype(np.result_type(*known)) if known else None


def _lstsq_public(apply, a, b, rcond=None, name=None):
    return tuple(
        apply(a, b, rcond, part=k, name=None if name is None else f"{name}_{k}") for k in range(4)
    )


def matrix_power(a, n):
    """A^n for an integer n (A^0 = I, a negative n a power of A^-1), batched, as
    np.linalg.matrix_power

    Derivative: sum_{k=0}^{|n|-1} (B^T)^k g (B^T)^(|n|-1-k) to B = A (n > 0) or B = A^-1
    (n < 0, then -A^-T (that) A^-T); 0 for n = 0.
    """
    return np.linalg.matrix_power(a, n)


def _matrix_power_vjp(g, ans, a, n):
    if n == 0:
        return 0 * a
    base = a if n > 0 else np.linalg.inv(a)
    bt = _mT(base)
    k = abs(n)
    powers = [None, bt]  # powers[j] = (B^T)^j; None is the identity
    while len(powers) < k:
        powers.append(powers[-1] @ bt)
    msg = None
    for j in range(k):
        term = g if powers[j] is None else powers[j] @ g
        right = powers[k - 1 - j]
        term = term if right is None else term @ right
        msg = term if msg is None else msg + term
    return -(bt @ msg @ bt) if n < 0 else msg


def _matrix_power_shape(s, n):
    if not isinstance(n, (int, np.integer)):
        raise ValueError(f"n must be an int, got {n!r}")
    return _square_shape(s)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False):
    """x solving op(T) x = b, T the lower (lower=True) or upper triangle of a, with 1s on its
    diagonal when unit_diagonal (the rest of a is not read), and op(T) = T (trans 0 or 'N'),
    T^T (1 or 'T') or T^H (2 or 'C', T^T for real a), as scipy.linalg.solve_triangular;
    b (m,) or (..., m, k)

    Derivative: to b, gb = op(T)^-T g; to a, -gb x^T (trans 0) or -x gb^T (trans 1, 2) on
    the triangle that was read (0 elsewhere; 0 on the diagonal too when unit_diagonal).
    """
    return np.linalg.solve(_op_triangle(a, trans, lower, unit_diagonal), b)


_TRANS = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def _transposed(trans):
    try:
        return _TRANS[trans]
    except (KeyError, TypeError):
        raise ValueError(f"trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}") from None


def _triangle(a, lower, unit_diagonal):
    if not unit_diagonal:
        return np.tril(a) if lower else np.triu(a)
    eye = _eye_like(a.shape[-1], a)
    return (np.tril(a, -1) if lower else np.triu(a, 1)) + eye


def _op_triangle(a, trans, lower, unit_diagonal):
    t = _triangle(a, lower, unit_diagonal)
    return _mT(t) if _transposed(trans) else t


def _solve_triangular_a(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    gb = _solve_gb(g, _op_triangle(a, trans, lower, unit_diagonal), b)
    full = -(gb[..., :, None] * ans[..., None, :]) if b.ndim == 1 else -(gb @ _mT(ans))
    if _transposed(trans):  # the message to op(T) = T^T, transposed onto T
        full = _mT(full)
    full = unbroadcast(full, a)
    if unit_diagonal:
        return np.tril(full, -1) if lower else np.triu(full, 1)
    return np.tril(full) if lower else np.triu(full)


def _solve_triangular_b(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    return unbroadcast(_solve_gb(g, _op_triangle(a, trans, lower, unit_diagonal), b), b)


def _solve_triangular_shape(a, b, trans=0, lower=False, unit_diagonal=False):
    _transposed(trans)
    return _solve_shape(a, b)


# -- samples -----------------------------------------------------------------------------------


def _spd(rng, n, batch=()):
    m = rng.standard_normal(batch + (n, n))
    return m @ _mT(m) + n * np.eye(n)


def _distinct_spectrum(rng, n):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ np.diag(np.arange(1.0, n + 1) + 0.3 * rng.random(n)) @ q.T


def _decomposition_samples(rng):
    yield [_spd(rng, 3)], {}
    yield [_spd(rng, 2, (2,))], {}


def _qr_samples(rng):
    for part in (0, 1):
        yield [rng.standard_normal((4, 3))], {"part": part}
        yield [rng.standard_normal((2, 3, 3))], {"part": part}
        yield [rng.standard_normal((2, 4)) + np.eye(2, 4)], {"part": part}
    yield [rng.standard_normal((2, 2, 3))], {"part": 1}


def _eigh_samples(rng):
    for part in (0, 1):
        yield [_distinct_spectrum(rng, 3) + 0.1 * rng.standard_normal((3, 3))], {"part": part}
    yield [np.stack([_distinct_spectrum(rng, 2), _distinct_spectrum(rng, 2)])], {"part": 1}


def _svd_samples(rng):
    for part in (0, 1, 2):
        yield [rng.standard_normal((4, 3))], {"part": part}
        yield [rng.standard_normal((2, 4))], {"part": part}
        yield [rng.standard_normal((3, 3))], {"part": part, "full_matrices": True}
    yield [rng.standard_normal((2, 3, 2))], {"part": 0}
    yield [rng.standard_normal((4, 2))], {"part": 1, "full_matrices": True}


def _slogdet_samples(rng):
    yield [_invertible(rng, (3, 3))], {}
    yield [-_invertible(rng, (2, 2, 2))], {}
    yield [_invertible(rng, (3, 3))], {"part": 0}


def _pinv_samples(rng):
    yield [rng.standard_normal((4, 3))], {}
    yield [rng.standard_normal((2, 4))], {}
    yield [rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)], {}


def _lstsq_samples(rng):
    yield [rng.standard_normal((5, 3)), rng.standard_normal(5)], {}
    yield [rng.standard_normal((5, 3)), rng.standard_normal((5, 2))], {"part": 0}
    yield [rng.standard_normal((5, 3)), rng.standard_normal((5, 2))], {"part": 1}
    yield [rng.standard_normal((5, 3)), rng.standard_normal(5)], {"part": 1}
    yield [rng.standard_normal((4, 3)), rng.standard_normal(4)], {"part": 3}
    yield [rng.standard_normal((4, 3)), rng.standard_normal(4)], {"part": 2}
    yield [rng.standard_normal((2, 4)), rng.standard_normal(2)], {}
    yield [rng.standard_normal((2, 3)), rng.standard_normal((2, 2))], {"part": 0}


def _matrix_power_samples(rng):
    yield [0.5 * rng.standard_normal((3, 3))], {"n": 3}
    yield [_invertible(rng, (2, 2))], {"n": -2}
    yield [rng.standard_normal((2, 2, 2))], {"n": 1}
    yield [rng.standard_normal((2, 2))], {"n": 0}


def _triangular_samples(rng):
    yield [_invertible(rng, (3, 3)), rng.standard_normal(3)], {"lower": True}
    yield [_invertible(rng, (3, 3)), rng.standard_normal((3, 2))], {}
    yield (
        [_invertible(rng, (2, 3, 3)), rng.standard_normal((3, 2))],
        {"lower": True, "unit_diagonal": True},
    )
    yield [_invertible(rng, (3, 3)), rng.standard_normal(3)], {"trans": 1}
    yield [_invertible(rng, (3, 3)), rng.standard_normal((3, 2))], {"trans": "T", "lower": True}
    yield (
        [_invertible(rng, (2, 3, 3)), rng.standard_normal((3, 2))],
        {"trans": "C", "unit_diagonal": True},
    )
    yield [_invertible(rng, (3, 3)), rng.standard_normal(3)], {"trans": 2, "lower": True}


def _product_samples(*shape_pairs, **attrs):
    def samples(rng):
        for sa, sb in shape_pairs:
            yield [rng.standard_normal(sa), rng.standard_normal(sb)], dict(attrs)

    return samples


QR = Op(
    "linalg.qr",
    qr,
    (_qr_vjp,),
    _qr_shape,
    float_dtype,
    differentiable_vjp=True,
    public=_qr_public,
    samples=_qr_samples,
)
EIGH = Op(
    "linalg.eigh",
    eigh,
    (_eigh_vjp,),
    _eigh_shape,
    float_dtype,
    differentiable_vjp=True,
    public=_two_parts,
    samples=_eigh_samples,
)
SVD = Op(
    "linalg.svd",
    svd,
    (_svd_vjp,),
    _svd_shape,
    float_dtype,
    differentiable_vjp=True,
    samples=_svd_samples,
    public=lambda apply, a, full_matrices=True, compute_uv=True, hermitian=False, name=None: (
        _svd_public(apply, a, full_matrices, compute_uv, hermitian, name)
    ),
)
LSTSQ = Op(
    "linalg.lstsq",
    lstsq,
    (_lstsq_vjp(0), _lstsq_vjp(1)),
    _lstsq_shape,
    _lstsq_dtype,
    differentiable_vjp=True,
    public=_lstsq_public,
    samples=_lstsq_samples,
)


def _svd_public(apply, a, full_matrices, compute_uv, hermitian, name):
    if not compute_uv:
        return apply(a, part=1, name=name)
    return tuple(
        apply(a, part=k, full_matrices=full_matrices, name=None if name is None else f"{name}_{k}")
        for k in range(3)
    )


OPS = [
    Op(
        "matmul",
        np.matmul,
        (_matmul_a, _matmul_b),
        _matmul_shape,
        jvp=(lambda t, ans, a, b: t @ b, lambda t, ans, a, b: a @ t),
        samples=_matmul_samples,
        differentiable_vjp=True,
        needs=("b", "a"),
        doc=doc(
            "a @ b: matrix product, with NumPy's rules for 1-D operands and broadcast batch dims",
            "g @ b^T to a, a^T @ g to b (batch dims summed where broadcast).",
        ),
    ),
    Op(
        "dot",
        dot,
        (_dot_vjp(0), _dot_vjp(1)),
        _dot_shape,
        needs=("b", "a"),
        differentiable_vjp=True,
        samples=_dot_samples,
    ),
    Op(
        "outer",
        outer,
        (
            lambda g, ans, a, b: np.reshape(g @ np.reshape(b, (-1,)), a.shape),
            lambda g, ans, a, b: np.reshape(np.reshape(a, (-1,)) @ g, b.shape),
        ),
        _outer_shape,
        needs=("b", "a"),
        differentiable_vjp=True,
        samples=lambda rng: [
            ([rng.standard_normal(3), rng.standard_normal(4)], {}),
            ([rng.standard_normal((2, 2)), rng.standard_normal(3)], {}),
        ],
    ),
    Op(
        "einsum",
        einsum,
        _einsum_vjp,
        _einsum_shape,
        variadic=True,
        differentiable_vjp=True,
        public=_einsum_public,
        samples=_einsum_samples,
    ),
    Op(
        "trace",
        trace,
        (_trace_vjp,),
        _trace_shape,
        needs=("",),
        differentiable_vjp=True,
        samples=lambda rng: [
            ([rng.standard_normal((3, 3))], {}),
            ([rng.standard_normal((3, 4))], {"offset": 1}),
            ([rng.standard_normal((2, 3, 3))], {"axis1": 2, "axis2": 1}),
        ],
    ),
    Op(
        "linalg.inv",
        inv,
        (lambda g, ans, a: -(_mT(ans) @ g @ _mT(ans)),),
        _square_shape,
        float_dtype,
        needs=("ans",),
        differentiable_vjp=True,
        samples=_cases(((3, 3),), ((2, 2, 2),)),
    ),
    Op(
        "linalg.solve",
        solve,
        (_solve_a, lambda g, ans, a, b, res=None: unbroadcast(_solve_gb(g, a, b, res), b)),
        _solve_shape,
        needs=("ans a", "a"),
        fwd=_solve_fwd,
        differentiable_vjp=True,
        samples=_cases(((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3, 2)), ((2, 3, 3), (3,))),
    ),
    Op(
        "linalg.det",
        det,
        (_det_vjp,),
        lambda s: _square_shape(s)[:-2],
        float_dtype,
        needs=("ans a",),
        fwd=_det_fwd,
        differentiable_vjp=True,
        samples=_cases(((3, 3),), ((2, 2, 2),)),
    ),
    Op(
        "tensordot",
        tensordot,
        (_tensordot_vjp(0), _tensordot_vjp(1)),
        _tensordot_shape,
        needs=("b", "a"),
        differentiable_vjp=True,
        samples=chain(
            _product_samples(((2, 3, 4), (3, 4, 5))),
            _product_samples(((2, 3), (3, 2)), axes=1),
            _product_samples(((2, 3, 4), (4, 2, 3)), axes=([1, 2], [2, 0])),
            _product_samples(((2,), (3,)), axes=0),
        ),
    ),
    Op(
        "inner",
        inner,
        (_inner_vjp(0), _inner_vjp(1)),
        _inner_shape,
        needs=("b", "a"),
        differentiable_vjp=True,
        samples=_product_samples(((3,), (3,)), ((2, 3), (4, 3)), ((), (2, 3)), ((2, 2, 3), (3,))),
    ),
    Op(
        "kron",
        kron,
        (_kron_vjp(0), _kron_vjp(1)),
        _kron_shape,
        needs=("b", "a"),
        differentiable_vjp=True,
        samples=_product_samples(((2, 3), (2, 2)), ((3,), (2,)), ((2,), (2, 3))),
    ),
    Op(
        "cross",
        cross,
        (
            lambda g, ans, a, b, axis=-1: unbroadcast(np.cross(b, g, axis=axis), a),
            lambda g, ans, a, b, axis=-1: unbroadcast(np.cross(g, a, axis=axis), b),
        ),
        _cross_shape,
        needs=("b", "a"),
        differentiable_vjp=True,
        samples=chain(
            _product_samples(((3,), (3,)), ((2, 3), (3,))),
            _product_samples(((3, 2), (3, 2)), axis=0),
        ),
    ),
    Op(
        "linalg.cholesky",
        cholesky,
        (_cholesky_vjp,),
        _square_shape,
        float_dtype,
        needs=("ans",),
        differentiable_vjp=True,
        samples=_decomposition_samples,
    ),
    QR,
    EIGH,
    SVD,
    Op(
        "linalg.slogdet",
        slogdet,
        (_slogdet_vjp,),
        _slogdet_shape,
        float_dtype,
        fwd=_slogdet_fwd,
        differentiable_vjp=True,
        public=_two_parts,
        samples=_slogdet_samples,
    ),
    Op(
        "linalg.pinv",
        pinv,
        (_pinv_vjp,),
        _pinv_shape,
        float_dtype,
        needs=("ans a",),
        differentiable_vjp=True,
        samples=_pinv_samples,
    ),
    LSTSQ,
    Op(
        "linalg.matrix_power",
        matrix_power,
        (_matrix_power_vjp,),
        _matrix_power_shape,
        differentiable_vjp=True,
        samples=_matrix_power_samples,
    ),
    Op(
        "linalg.solve_triangular",
        solve_triangular,
        (
            _solve_triangular_a,
            _solve_triangular_b,
        ),
        _solve_triangular_shape,
        needs=("ans a", "a"),
        differentiable_vjp=True,
        samples=_triangular_samples,
    ),
]


@hookimpl
def mpgraph_ops():
    return OPS
