"""Neural-network activations, losses and dropout, written to stay finite for large inputs.

Conventions at kinks follow PyTorch: ``relu`` sends 0 at x = 0, ``leaky_relu`` sends the
slope at x = 0. Losses take ``reduction`` ("mean", the default, "sum" or "none") as PyTorch's do.
"""

import math

import numpy as np

from mpgraph.extend import (
    Op,
    apply_op,
    as_array,
    broadcast_shapes,
    cases,
    chain,
    elementwise_unary,
    float_dtype,
    hookimpl,
    is_graph_node,
    like,
    normalize_axis,
    same_shape,
    unbroadcast,
)

_unary = cases(((2, 3),), ((),), ((4, 1, 2),))


# -- activations -------------------------------------------------------------------------------


def sigmoid(x):
    """1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which never overflows

    Derivative: sigmoid(x) (1 - sigmoid(x)), from the output.
    """
    return 0.5 * (np.tanh(0.5 * x) + 1)


def relu(x):
    """max(x, 0)

    Derivative: 1 where x > 0, else 0 (0 at x = 0, as in PyTorch).
    """
    return np.maximum(x, 0)


def _relu_vjp(g, ans, x):
    if type(g) is np.ndarray and np.isfinite(g).all():
        # a product: branch-free, about ten times faster than np.where on a mask of mixed signs
        # (the conv net's step); with an inf or NaN in g it would put NaN where x <= 0
        return g * (x > 0)
    return np.where(x > 0, g, 0)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x

    Derivative: 1 where x > 0, else negative_slope (negative_slope at x = 0, as in PyTorch).
    """
    return np.where(x > 0, x, x * negative_slope)


def softplus(x):
    """log(1 + e^x), computed as logaddexp(0, x), which never overflows

    Derivative: sigmoid(x).
    """
    return np.logaddexp(0, x)


def elu(x, alpha=1.0):
    """x where x > 0, else alpha (e^x - 1)

    Derivative: 1 where x > 0, else alpha e^x = output + alpha (at x = 0: alpha, as PyTorch).
    """
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def silu(x):
    """x sigmoid(x) (also called swish)

    Derivative: sigmoid(x) (1 + x (1 - sigmoid(x))).
    """
    return x * sigmoid(x)


def _silu_vjp(g, ans, x):
    s = sigmoid(x)
    return g * (s * (1 + x * (1 - s)))


def mish(x):
    """x tanh(softplus(x)), softplus computed as logaddexp(0, x) so that it never overflows

    Derivative: tanh(sp) + x (1 - tanh^2(sp)) sigmoid(x), sp = softplus(x).
    """
    return x * np.tanh(softplus(x))


def _mish_vjp(g, ans, x):
    t = np.tanh(softplus(x))
    return g * (t + x * (1 - t * t) * sigmoid(x))


def softsign(x):
    """x / (1 + |x|)

    Derivative: 1 / (1 + |x|)^2.
    """
    return x / (1 + np.abs(x))


def _softsign_vjp(g, ans, x):
    d = 1 + np.abs(x)
    return g / (d * d)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """min(max(x, min_val), max_val)

    Derivative: 1 where min_val < x < max_val, else 0 (0 at the bounds, as PyTorch's hardtanh;
    ``clip`` passes the signal at its bounds).
    """
    return np.clip(x, min_val, max_val)


def _hardtanh_vjp(g, ans, x, min_val=-1.0, max_val=1.0):
    return np.where(x > min_val, np.where(x < max_val, g, 0), 0)


def _hardtanh_shape(s, min_val=-1.0, max_val=1.0):
    if not min_val < max_val:
        raise ValueError(f"min_val ({min_val}) must be less than max_val ({max_val})")
    return s


def _wide(rng, shape):
    return np.asarray(3 * rng.standard_normal(shape))


# -- softmax -----------------------------------------------------------------------------------


def softmax(x, axis=-1):
    """e^x / sum(e^x, axis), shifted by the max along axis so that it never overflows

    Derivative: the message is s (g - sum(g s, axis)), with s = softmax(x).
    """
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - logsumexp(x, axis), shifted by the max along axis so that it stays finite

    Derivative: the message is g - softmax(x) sum(g, axis).
    """
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _axis_shape(s, axis=-1):
    normalize_axis(axis, len(s))
    return s


def _softmax_samples(rng):
    yield [rng.standard_normal((3, 4))], {}
    yield [rng.standard_normal((3, 4))], {"axis": 0}
    yield [rng.standard_normal((2, 3, 2))], {"axis": 1}
    yield [rng.standard_normal(5)], {}


# -- losses ------------------------------------------------------------------------------------


def _reduce(per_element, reduction):
    if reduction == "mean":  # np.add.reduce: np.mean's sum, without its Python wrapper
        return per_element.sum() / per_element.size
    if reduction == "sum":
        return np.sum(per_element)
    return per_element


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _as_float_targets(targets, like):
    """Integer or boolean targets in the float dtype of ``like``, so that float32 stays float32."""
    if isinstance(targets, np.ndarray) and targets.dtype.kind in "biu":
        dtype = getattr(like, "dtype", None) if not np.isscalar(like) else None
        return targets.astype(np.float64 if dtype is None else float_dtype(dtype))
    return targets


def _scale(g, size, reduction):
    """The error signal of each element of the unreduced loss (``size`` elements)."""
    return g / size if reduction == "mean" else g


def _check_probabilities(target, logits):
    """Float targets are class probabilities, of the logits' shape: say that class indices
    must be integers rather than fail later with a broadcasting error (or, with as many
    examples as classes, broadcast silently)."""
    if np.shape(target) != np.shape(logits):
        raise ValueError(
            f"float targets of shape {np.shape(target)} are read as class "
            f"probabilities, which need the logits' shape {np.shape(logits)}; "
            f"class indices must be integers (got {np.asarray(target).dtype})"
        )


def _is_index(labels):
    dtype = getattr(labels, "dtype", None)
    if dtype is None and is_graph_node(labels):  # a weak constant (a Python int) has no dtype
        labels = labels.fixed
    return (np.asarray(labels).dtype if dtype is None else dtype).kind in "iu"


def _class_index(labels, logits, axis, check=True):
    """The index that picks from ``logits`` the class each label names along ``axis``
    (``logits[index]`` has the labels' shape); with ``check``, the labels are checked to be
    classes (the vjp skips it: the forward pass of the same run did it)."""
    labels = np.asarray(labels)
    ndim = np.ndim(logits)
    if ndim == 2 and axis in (-1, 1):  # a batch of examples: the common case, first
        if check:
            _check_labels(labels, np.shape(logits)[1])
        return np.arange(len(labels)), labels
    axis = normalize_axis(axis, ndim)[0]
    if check:
        _check_labels(labels, np.shape(logits)[axis])
    rest = [
        np.arange(d).reshape((d,) + (1,) * (labels.ndim - 1 - k))  # the other axes
        for k, d in enumerate(labels.shape)
    ]
    return (*rest[:axis], labels, *rest[axis:])


def _check_labels(labels, n):
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(
            f"class labels must lie in [0, {n}), got values from {labels.min()} to {labels.max()}"
        )


def softmax_cross_entropy(logits, labels, axis=-1, reduction="mean"):
    """-sum_c t_c log softmax(z)_c per example, then reduced: ``labels`` are integer class
    indices (the shape of logits without axis) or one-hot / soft targets t (logits' shape)

    Derivative: to the logits, (softmax(z) sum_c t_c - t) g; to soft targets, -log softmax(z) g;
    none to class indices. (``mean`` divides g by the number of examples.)
    """
    return _ce_fwd(logits, labels, axis, reduction)[0]


def _ce_fwd(logits, labels, axis=-1, reduction="mean"):
    """The loss and, as the residual its vjp reads, the softmax."""
    logits = as_array(logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    p = np.exp(shifted)
    total = p.sum(axis=axis, keepdims=True)
    p /= total
    if _is_index(labels) and like(logits) is not None:
        # another library (Dask's indexing takes one integer array at a time): one-hot targets
        _check_labels(labels, logits.shape[normalize_axis(axis, logits.ndim)[0]])
        t = _one_hot(labels, logits, axis).astype(logits.dtype)
        return _reduce(-np.sum(t * (shifted - np.log(total)), axis=axis), reduction), p
    if _is_index(labels):
        index = _class_index(labels, logits, axis)
        if logits.ndim == 2 and axis in (-1, 1):  # a batch: -log p = log(total) - shifted
            return _reduce(np.log(total[:, 0]) - shifted[index], reduction), p
        return _reduce(-(shifted - np.log(total))[index], reduction), p
    _check_probabilities(labels, logits)
    return _reduce(-np.sum(labels * (shifted - np.log(total)), axis=axis), reduction), p


def _ce_signal(g, logits, axis, reduction):
    shape = logits.shape
    if len(shape) == 2 and axis in (-1, 1):  # a batch of examples: the common case, first
        n = shape[0]
    else:
        n = int(np.prod(shape, dtype=int)) // shape[normalize_axis(axis, len(shape))[0]]
    g = _scale(g, n, reduction)
    return np.expand_dims(g, axis) if reduction == "none" else g


def _on_nodes(g, logits, labels):
    return is_graph_node(g) or is_graph_node(logits) or is_graph_node(labels)


def _op(name, x, **attrs):
    """Op ``name`` on graph node ``x`` (or eagerly on an array), for vjps built as nodes."""
    if is_graph_node(x):
        return x.graph.apply(name, [x], attrs)
    return {"softmax": softmax, "log_softmax": log_softmax}[name](x, **attrs)


def _one_hot(labels, logits, axis):
    """Class indices as one-hot targets of the logits' shape (graph nodes if labels is one)."""
    ax = normalize_axis(axis, logits.ndim)[0]
    n = logits.shape[ax]
    classes = np.arange(n).reshape((n,) + (1,) * (logits.ndim - 1 - ax))
    if like(logits) is not None:
        classes = np.asarray(classes, like=logits)
    return np.where(np.equal(np.expand_dims(labels, ax), classes), 1.0, 0.0)


def _index_labels(labels, logits):
    """Class indices (rather than soft targets): known from the dtype of an array, and from
    the number of dims for a graph node (whose dtype may be unknown)."""
    if is_graph_node(labels):
        return labels.ndim == logits.ndim - 1
    return _is_index(labels)


def _ce_vjp_logits(g, ans, logits, labels, axis=-1, reduction="mean", res=None):
    if (
        type(res) is np.ndarray
        and type(labels) is np.ndarray
        and labels.dtype.kind in "iu"
        and res.ndim == 2
        and axis in (-1, 1)
        and reduction != "none"
    ):  # a batch of class indices on NumPy, with the softmax kept: the common case, first
        p = res.copy()  # the residual may be read again (a run that keeps its values)
        p[np.arange(len(labels)), labels] -= 1
        p *= g / len(labels) if reduction == "mean" else g
        return p
    if _on_nodes(g, logits, labels):  # a higher-order derivative: the same formula as nodes
        p = _op("softmax", logits, axis=axis)
        if _index_labels(labels, logits):
            return (p - _one_hot(labels, logits, axis)) * _ce_signal(g, logits, axis, reduction)
        return (p * np.sum(labels, axis=axis, keepdims=True) - labels) * _ce_signal(
            g, logits, axis, reduction
        )
    p = softmax(logits, axis) if res is None else res.copy()  # updated in place below
    if _is_index(labels) and like(p) is not None:  # another library: one-hot targets
        p = p - _one_hot(labels, logits, axis).astype(p.dtype)
    elif _is_index(labels):
        p[_class_index(labels, logits, axis, check=res is None)] -= 1
    else:
        p *= np.sum(labels, axis=axis, keepdims=True)
        p -= labels
    p *= _ce_signal(g, logits, axis, reduction)
    return p


def _ce_vjp_labels(g, ans, logits, labels, axis=-1, reduction="mean", res=None):
    if _index_labels(labels, logits):
        return None  # class indices carry no gradient
    return -_op("log_softmax", logits, axis=axis) * _ce_signal(g, logits, axis, reduction)


def _ce_jvp_logits(t, ans, logits, labels, axis=-1, reduction="mean", res=None):
    p = softmax(logits, axis) if res is None else res
    if _is_index(labels) and like(t) is not None:  # another library: one-hot targets
        hot = _one_hot(labels, logits, axis).astype(t.dtype)
        per_example = np.sum(t * (p - hot), axis=axis)
    elif _is_index(labels):
        per_example = np.sum(t * p, axis=axis) - t[_class_index(labels, logits, axis)]
    else:
        per_example = np.sum(t * (p * np.sum(labels, axis=axis, keepdims=True) - labels), axis=axis)
    return _reduce(per_example, reduction)


def _ce_jvp_labels(t, ans, logits, labels, axis=-1, reduction="mean", res=None):
    return _reduce(-np.sum(t * log_softmax(logits, axis), axis=axis), reduction)


def _fits(t, want):
    """Whether shape ``t`` can be ``want`` (unknown dims, None, fit anything)."""
    return len(t) == len(want) and all(a is None or b is None or a == b for a, b in zip(t, want))


def _ce_shape(s, t, axis=-1, reduction="mean"):
    _check_reduction(reduction)
    ax = normalize_axis(axis, len(s))[0]
    per_example = s[:ax] + s[ax + 1 :]
    if not (_fits(t, s) or _fits(t, per_example)):
        raise ValueError(
            f"labels of shape {t} fit neither logits {s} (soft targets) nor "
            f"{per_example} (class indices)"
        )
    return per_example if reduction == "none" else ()


def _ce_dtype(z, t, *, shapes=(None, None), **_):
    _index_or_probabilities("softmax_cross_entropy", t, shapes)
    return float_dtype(z)


def _ce_samples(rng):
    z = rng.standard_normal((4, 3))
    yield [z, np.array([0, 2, 1, 1])], {}
    soft = rng.random((4, 3))
    yield [z, soft / soft.sum(-1, keepdims=True)], {"reduction": "sum"}
    yield [rng.standard_normal((3, 5)), np.array([4, 0, 2])], {"reduction": "none"}
    yield [rng.standard_normal((3, 2)), np.array([1, 0])], {"axis": 0}
    yield [rng.standard_normal((2, 3, 4)), rng.random((2, 3, 4))], {"axis": 1, "reduction": "none"}


def mean_squared_error(prediction, target, reduction="mean"):
    """(prediction - target)^2, reduced (NumPy broadcasting between the two)

    Derivative: 2 (prediction - target) g to the prediction, the negative to the target
    (integer targets are converted to the prediction's float dtype).
    (``mean`` divides g by the number of elements.)
    """
    d = prediction - _as_float_targets(target, prediction)
    return _reduce(d * d, reduction)


def _mse_vjp(sign):
    def vjp(g, ans, prediction, target, reduction="mean"):
        d = prediction - _as_float_targets(target, prediction)
        if reduction == "none":
            msg = g * (2 * d)
        else:
            msg = _scale(g, int(np.prod(d.shape, dtype=int)), reduction) * (2 * d)
        return unbroadcast(msg if sign > 0 else -msg, prediction if sign > 0 else target)

    return vjp


def _loss_shape(a, b, reduction="mean"):
    _check_reduction(reduction)
    out = broadcast_shapes(a, b)
    return out if reduction == "none" else ()


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """-t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)), computed as
    max(z, 0) - z t + log(1 + e^-|z|), which stays finite for any z; reduced

    Derivative: (sigmoid(z) - t) g to the logits; -z g to float targets (none to integer or
    boolean ones, which are converted to the logits' float dtype).
    (``mean`` divides g by the number of elements.)
    """
    targets = _as_float_targets(targets, logits)
    per_element = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return _reduce(per_element, reduction)


def _shape_of(v):
    return v.shape if is_graph_node(v) else np.shape(v)


def _bce_logits(g, ans, logits, targets, reduction="mean"):
    n = np.broadcast_shapes(_shape_of(logits), _shape_of(targets))
    return unbroadcast(
        _scale(g, int(np.prod(n, dtype=int)), reduction)
        * (sigmoid(logits) - _as_float_targets(targets, logits)),
        logits,
    )


def _bce_targets(g, ans, logits, targets, reduction="mean"):
    dtype = targets.dtype if is_graph_node(targets) else np.asarray(targets).dtype
    if dtype is not None and dtype.kind in "biu":
        return None
    n = np.broadcast_shapes(_shape_of(logits), _shape_of(targets))
    return unbroadcast(-_scale(g, int(np.prod(n, dtype=int)), reduction) * logits, targets)


def _bce_samples(rng):
    yield [rng.standard_normal((4, 3)), rng.random((4, 3))], {}
    yield [rng.standard_normal((4, 3)), rng.random((4, 3))], {"reduction": "sum"}
    yield [rng.standard_normal(5), rng.integers(0, 2, 5)], {"reduction": "none"}
    yield [rng.standard_normal((2, 3)), rng.random(3)], {}


# -- dropout -----------------------------------------------------------------------------------


def dropout(x, rate, rng):
    """x m / (1 - rate), where m is a random 0/1 mask keeping each element with probability
    1 - rate. ``rng`` is a numpy.random.Generator (a fresh mask at every run of the graph) or
    an int seed (the same mask at every run).

    Derivative: m / (1 - rate), with the mask of the same run.

    The Generator is an attribute of the node: every run of a built graph draws from it, so a
    graph run twice sees two masks (what training wants), and a graph run from several threads
    draws in whatever order the threads reach it (pass an int seed where runs must repeat).
    """
    return _dropout_fwd(x, rate, rng)[0]


def _dropout_fwd(x, rate, rng):
    """The output and, as the residual its vjp reads, this run's mask times the scale."""
    scale = _dropout_scale(rate)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = as_array(x)
    # drawn by NumPy's generator on every library: one seed, one mask, wherever x lives
    mask = np.multiply(gen.random(x.shape) >= rate, scale, dtype=float_dtype(x.dtype))
    mask = np.asarray(mask, like=like(x))
    return x * mask, mask


def _dropout_scale(rate):
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    return 1 / (1 - rate)


def _dropout_vjp(g, ans, x, rate, rng, res=None):
    if res is None:
        raise ValueError(
            "dropout's message needs the mask of the run that drew it, which only a "
            "graph run keeps: differentiate dropout through a Graph or mg.grad, once"
        )
    return g * res


def _dropout_shape(s, rate, rng):
    _dropout_scale(rate)
    if not isinstance(rng, (np.random.Generator, int, np.integer)):
        raise ValueError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")
    return s


# -- normalisation -----------------------------------------------------------------------------


def _normalized(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over axes, and 1 / sqrt(var + eps) (keepdims)."""
    centered = x - np.mean(x, axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + eps)
    return centered * rstd, rstd


def _normalized_vjp(gxhat, xhat, rstd, axes):
    """The message to x of xhat = normalized(x) over axes, given the one to xhat."""
    return rstd * (
        gxhat
        - np.mean(gxhat, axis=axes, keepdims=True)
        - xhat * np.mean(gxhat * xhat, axis=axes, keepdims=True)
    )


def _trailing(ndim, k):
    return tuple(range(ndim - k, ndim))


def layer_norm(x, weight, bias, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) variance over the last
    weight.ndim axes (PyTorch's normalized_shape is weight.shape); ``mg.ops.layer_norm(x,
    normalized_shape, weight=None, bias=None, eps=1e-5)`` as PyTorch's F.layer_norm

    Derivative: to x, rstd (gh - mean(gh) - xhat mean(gh xhat)) with gh = g weight, means over
    the normalized axes; to weight, sum of g xhat; to bias, sum of g (over the leading axes).
    """
    xhat, _ = _normalized(x, _trailing(np.ndim(x), np.ndim(weight)), eps)
    return xhat * weight + bias


def _layer_norm_x(g, ans, x, weight, bias, eps=1e-5):
    axes = _trailing(x.ndim, weight.ndim)
    xhat, rstd = _normalized(x, axes, eps)
    return _normalized_vjp(g * weight, xhat, rstd, axes)


def _layer_norm_weight(g, ans, x, weight, bias, eps=1e-5):
    xhat, _ = _normalized(x, _trailing(x.ndim, weight.ndim), eps)
    return unbroadcast(g * xhat, weight)


def _layer_norm_shape(s, w, b, eps=1e-5):
    if len(w) > len(s) or any(
        p is not None and q is not None and p != q for p, q in zip(s[len(s) - len(w) :], w)
    ):
        raise ValueError(f"weight of shape {w} does not match the trailing dims of x {s}")
    if tuple(b) != tuple(w) and None not in b + w:
        raise ValueError(f"bias of shape {b} differs from weight of shape {w}")
    return s


def _dtype_of(x):
    dtype = getattr(x, "dtype", None)
    return np.dtype(np.float64) if dtype is None else dtype


def _layer_norm_public():
    def public(apply, x, normalized_shape, weight=None, bias=None, eps=1e-5, name=None):
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(normalized_shape)
        )
        dtype = _dtype_of(x)
        weight = np.ones(shape, dtype) if weight is None else weight
        bias = np.zeros(shape, dtype) if bias is None else bias
        return apply(x, weight, bias, eps=eps, name=name)

    return public


def _channels(x, c):
    """A per-channel array of shape (C,) shaped to broadcast against x (N, C, *rest)."""
    return np.reshape(c, (-1,) + (1,) * (x.ndim - 2))


def _groups(x, num_groups):
    """x (N, C, *rest) as (N, G, C/G * prod(rest))."""
    return np.reshape(x, (x.shape[0], num_groups, -1))


def group_norm(x, weight, bias, num_groups, eps=1e-5):
    """x (N, C, *) split into num_groups groups of channels, each normalized by its own mean and
    (biased) variance over its channels and positions, then * weight + bias per channel (C,);
    ``mg.ops.group_norm(x, num_groups, weight=None, bias=None, eps=1e-5)`` as PyTorch's

    Derivative: to x, the normalization's message per group (as layer_norm's) of g weight;
    to weight, sum of g xhat; to bias, sum of g (over all axes but the channels).
    """
    xhat, _ = _normalized(_groups(x, num_groups), (2,), eps)
    return np.reshape(xhat, x.shape) * _channels(x, weight) + _channels(x, bias)


def _group_norm_x(g, ans, x, weight, bias, num_groups, eps=1e-5):
    xhat, rstd = _normalized(_groups(x, num_groups), (2,), eps)
    gxhat = _groups(g * _channels(x, weight), num_groups)
    return np.reshape(_normalized_vjp(gxhat, xhat, rstd, (2,)), x.shape)


def _channel_sum(v, x):
    return np.sum(v, axis=(0,) + tuple(range(2, x.ndim)))


def _group_norm_weight(g, ans, x, weight, bias, num_groups, eps=1e-5):
    xhat, _ = _normalized(_groups(x, num_groups), (2,), eps)
    return _channel_sum(g * np.reshape(xhat, x.shape), x)


def _group_norm_shape(s, w, b, num_groups, eps=1e-5):
    if len(s) < 2:
        raise ValueError(f"x must be (N, C, *), got shape {s}")
    if (
        not isinstance(num_groups, (int, np.integer))
        or num_groups < 1
        or (s[1] is not None and s[1] % num_groups)
    ):
        raise ValueError(f"{s[1]} channels do not split into num_groups={num_groups!r} groups")
    for what, v in (("weight", w), ("bias", b)):
        if len(v) != 1 or None not in (v[0], s[1]) and v[0] != s[1]:
            raise ValueError(f"{what} must have shape ({s[1]},), one per channel, got {v}")
    return s


def _group_norm_public(apply, x, num_groups, weight=None, bias=None, eps=1e-5, name=None):
    c = x.shape[1] if hasattr(x, "shape") else np.shape(x)[1]
    dtype = _dtype_of(x)
    weight = np.ones(c, dtype) if weight is None else weight
    bias = np.zeros(c, dtype) if bias is None else bias
    return apply(x, weight, bias, num_groups, eps=eps, name=name)


def batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=1e-5):
    """x (N, C, *) normalized per channel, then * weight + bias (C,): with training=True by
    the batch's mean and (biased) variance over every axis but the channels, with
    training=False by running_mean and running_var (PyTorch's F.batch_norm argument order)

    Derivative: training: the normalization's message per channel (as layer_norm's) of
    g weight; eval: g weight / sqrt(running_var + eps). To weight, sum of g xhat; to bias,
    sum of g; none to the running statistics.

    The running statistics are not updated in place: ``batch_norm_update`` computes their
    new values (momentum as PyTorch's), to assign after the step (see docs/ops.md).
    """
    xhat, _ = _batch_normalized(x, running_mean, running_var, training, eps)
    return xhat * _channels(x, weight) + _channels(x, bias)


def _batch_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _batch_normalized(x, running_mean, running_var, training, eps):
    if training:
        return _normalized(x, _batch_axes(x), eps)
    rstd = _channels(x, 1 / np.sqrt(running_var + eps))
    return (x - _channels(x, running_mean)) * rstd, rstd


def _batch_norm_x(g, ans, x, running_mean, running_var, weight, bias, training=False, eps=1e-5):
    xhat, rstd = _batch_normalized(x, running_mean, running_var, training, eps)
    gxhat = g * _channels(x, weight)
    return _normalized_vjp(gxhat, xhat, rstd, _batch_axes(x)) if training else gxhat * rstd


def _batch_norm_weight(
    g, ans, x, running_mean, running_var, weight, bias, training=False, eps=1e-5
):
    xhat, _ = _batch_normalized(x, running_mean, running_var, training, eps)
    return _channel_sum(g * xhat, x)


def _batch_norm_shape(s, m, v, w, b, training=False, eps=1e-5):
    if len(s) < 2:
        raise ValueError(f"x must be (N, C, *), got shape {s}")
    for what, c in (("running_mean", m), ("running_var", v), ("weight", w), ("bias", b)):
        if len(c) != 1 or None not in (c[0], s[1]) and c[0] != s[1]:
            raise ValueError(f"{what} must have shape ({s[1]},), one per channel, got {c}")
    return s


def batch_norm_update(x, running_mean, running_var, momentum=0.1):
    """the running statistics after one training batch x (N, C, *), stacked as (2, C):
    (1 - momentum) running + momentum batch, with the batch's unbiased variance (PyTorch's
    update rule)

    Derivative: none (statistics to assign, not to train).
    """
    axes = _batch_axes(x)
    n = int(np.prod([x.shape[a] for a in axes], dtype=int))
    mean = np.mean(x, axis=axes)
    var = np.var(x, axis=axes) * (n / max(n - 1, 1))
    return np.stack(
        [
            (1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var,
        ]
    )


def _batch_norm_update_shape(s, m, v, momentum=0.1):
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
    _batch_norm_shape(s, m, v, m, v)
    return (2, s[1])


# -- attention ---------------------------------------------------------------------------------


def _attention_scores(q, k, mask, is_causal, scale):
    if scale is None:
        scale = 1 / math.sqrt(q.shape[-1])
    s = (q @ _mT(k)) * scale
    if is_causal:
        L, S = q.shape[-2], k.shape[-2]
        s = np.where(np.tril(np.ones((L, S), dtype=bool, like=like(s))), s, -np.inf)
    if mask is not None:
        mdtype = getattr(mask, "dtype", None)
        s = np.where(mask, s, -np.inf) if mdtype is not None and mdtype.kind == "b" else s + mask
    return s, scale


def _mT(m):
    n = m.ndim
    return np.transpose(m, tuple(range(n - 2)) + (n - 1, n - 2))


def scaled_dot_product_attention(query, key, value, attn_mask, is_causal=False, scale=None):
    """softmax(q k^T scale + mask) v, scale = 1/sqrt(E) by default, over the last two axes
    (leading batch/head axes broadcast). A boolean mask says where a query may attend (False
    gives weight 0), a float mask is added to the scores; is_causal masks k > q positions.
    ``mg.ops.scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False,
    scale=None)`` as PyTorch's

    Derivative: with p the attention weights: to v, p^T g; to the scores, gs = p (g v^T -
    sum(g v^T p, -1)); to q, gs k scale; to k, gs^T q scale; to a float mask, gs (summed
    where it broadcast); none to a boolean mask.

    A query row whose mask is all False has no weights to share: its output is NaN, as in
    PyTorch.
    """
    s, _ = _attention_scores(query, key, attn_mask, is_causal, scale)
    return _softmax_last(s) @ value


def _softmax_last(s):
    return apply_op(SOFTMAX, s, axis=-1)


def _attention_parts(g, q, k, v, mask, is_causal, scale):
    s, scale = _attention_scores(q, k, mask, is_causal, scale)
    p = _softmax_last(s)
    gp = g @ _mT(v)
    gs = p * (gp - np.sum(gp * p, axis=-1, keepdims=True))
    return p, gs, scale


def _attention_vjp(argnum):
    def vjp(g, ans, query, key, value, attn_mask, is_causal=False, scale=None):
        if argnum == 3:
            kind = getattr(attn_mask, "dtype", None)
            if kind is not None and kind.kind in "biu":
                return None  # a boolean mask carries no gradient
        p, gs, sc = _attention_parts(g, query, key, value, attn_mask, is_causal, scale)
        if argnum == 0:
            return unbroadcast((gs @ key) * sc, query)
        if argnum == 1:
            return unbroadcast((_mT(gs) @ query) * sc, key)
        if argnum == 2:
            return unbroadcast(_mT(p) @ g, value)
        return unbroadcast(gs, attn_mask)

    return vjp


def _attention_shape(q, k, v, m, is_causal=False, scale=None):
    if min(len(q), len(k), len(v)) < 2:
        raise ValueError(
            f"query, key and value must be (..., L, E), (..., S, E), (..., S, Ev); "
            f"got {q}, {k}, {v}"
        )
    if None not in (q[-1], k[-1]) and q[-1] != k[-1]:
        raise ValueError(f"query and key differ in their last dim ({q[-1]} != {k[-1]})")
    if None not in (k[-2], v[-2]) and k[-2] != v[-2]:
        raise ValueError(f"key and value differ in length ({k[-2]} != {v[-2]})")
    batch = broadcast_shapes(q[:-2], k[:-2], v[:-2])
    broadcast_shapes(batch + (q[-2], k[-2]), m)
    return batch + (q[-2], v[-1])


def _attention_dtype(q, k, v, m, **_):
    known = [d for d in (q, k, v) if d is not None]
    return float_dtype(np.result_type(*known)) if known else None


def _attention_public(
    apply, query, key, value, attn_mask=None, is_causal=False, scale=None, name=None
):
    mask = np.ones((1, 1), dtype=bool) if attn_mask is None else attn_mask
    return apply(query, key, value, mask, is_causal=is_causal, scale=scale, name=name)


# -- PyTorch's losses with class axis 1 --------------------------------------------------------


def _class_axis(x):
    return 1 if x.ndim > 1 else 0


def _target_distribution(target, logits, label_smoothing, weight=None):
    """((1 - eps) one_hot(target) + eps / C, or the same of soft targets), class axis 1,
    each class's column times its weight."""
    axis = _class_axis(logits)
    c = logits.shape[axis]
    if _is_index(target):
        q = _like(
            np.where(
                _hit(target, logits), 1 - label_smoothing + label_smoothing / c, label_smoothing / c
            ),
            logits,
        )
    else:
        q = target * (1 - label_smoothing) + label_smoothing / c
    return q if weight is None else q * _class_weights(weight, logits)


def _hit(target, logits):
    """Where each example's class index names the class: booleans of the logits' shape."""
    axis = _class_axis(logits)
    c = logits.shape[axis]
    classes = np.reshape(np.arange(c), (c,) + (1,) * (logits.ndim - axis - 1))
    return np.equal(np.expand_dims(target, axis), classes)


def _class_weights(weight, logits):
    """The (C,) class weights along the logits' class axis, in their float dtype."""
    c = logits.shape[_class_axis(logits)]
    return _like(
        np.reshape(np.asarray(weight), (c,) + (1,) * (logits.ndim - _class_axis(logits) - 1)),
        logits,
    )


def _like(a, x):
    """An array made from Python numbers in x's float dtype (float32 stays float32); on graph
    nodes, as it is."""
    if is_graph_node(a) or is_graph_node(x):
        return a
    return a.astype(float_dtype(_dtype_of(x)), copy=False)


def _expand_signal(w, axis):
    return np.expand_dims(w, axis) if getattr(w, "ndim", 0) else w


def _count(valid):
    """How many examples count, a Python int on arrays so that it does not promote float32."""
    return np.sum(valid) if is_graph_node(valid) else int(np.sum(valid))


def _valid(target, ignore_index):
    return np.not_equal(target, ignore_index)


def _total(valid, target, logits, weight):
    """What 'mean' divides by: the number of examples that count, or with class weights the
    sum of the weights of their classes (PyTorch's)."""
    if weight is None:
        return _count(valid)
    of_target = np.sum(
        np.where(_hit(target, logits), _class_weights(weight, logits), 0), axis=_class_axis(logits)
    )
    return np.sum(np.where(valid, of_target, 0))


def _per_example_weight(g, target, logits, ignore_index, reduction, weight=None):
    """The error signal of each example's loss: g, or g / the total for 'mean', 0 where
    ignored."""
    if _is_index(target):
        valid = _valid(target, ignore_index)
        signal = np.where(valid, g, 0)
        if reduction == "mean":
            signal = signal / _total(valid, target, logits, weight)
        return signal
    if reduction == "mean":
        return g * (1 / (math.prod(logits.shape) // logits.shape[_class_axis(logits)]))
    return g


def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index=-100,
    reduction="mean",  # noqa: A002
    label_smoothing=0.0,
):
    """-sum_c w_c q_c log softmax(z)_c per example, classes on axis 1 (PyTorch's
    F.cross_entropy): ``target`` holds integer class indices (input's shape without axis 1)
    or class probabilities (input's shape); q is the target, smoothed to (1 - eps) q + eps / C
    by label_smoothing, and w the (C,) class weights (all 1 by default). Examples whose index
    is ignore_index count for nothing, and 'mean' divides by the number of the others, or
    with weights and class indices by the sum of their classes' weights (w_c, c = target[n])

    Derivative: to the logits, (softmax(z) sum_c w_c q_c - w q) times the example's signal
    (g, / the count or the weight sum for 'mean', 0 where ignored); to probability targets,
    -(1 - eps) w log softmax(z) g; none to class indices nor to the weights.

    Float targets of input's shape are probabilities; class indices must be integers, which
    the node checks when it is built. With probabilities, 'mean' divides by the number of
    examples, weights or not (PyTorch's).
    """
    axis = _class_axis(input)
    if not _is_index(target):
        _check_probabilities(target, input)
    logp = log_softmax(input, axis)
    q = _target_distribution(target, input, label_smoothing, weight)
    per_example = -np.sum(q * logp, axis=axis)
    if _is_index(target):
        valid = _valid(target, ignore_index)
        per_example = np.where(valid, per_example, 0)
        if reduction == "mean":
            return np.sum(per_example) / _total(valid, target, input, weight)
    return _reduce(per_example, reduction)


def _cross_entropy_input(
    g,
    ans,
    input,
    target,
    weight=None,
    ignore_index=-100,
    reduction="mean",  # noqa: A002
    label_smoothing=0.0,
):
    axis = _class_axis(input)
    q = _target_distribution(target, input, label_smoothing, weight)
    p = apply_op(SOFTMAX, input, axis=axis)
    w = _expand_signal(_per_example_weight(g, target, input, ignore_index, reduction, weight), axis)
    return w * (p * np.sum(q, axis=axis, keepdims=True) - q)


def _cross_entropy_target(
    g,
    ans,
    input,
    target,
    weight=None,
    ignore_index=-100,  # noqa: A002
    reduction="mean",
    label_smoothing=0.0,
):
    if _is_index(target):
        return None
    axis = _class_axis(input)
    w = _expand_signal(_per_example_weight(g, target, input, ignore_index, reduction), axis)
    msg = -(1 - label_smoothing) * (w * apply_op(LOG_SOFTMAX, input, axis=axis))
    return msg if weight is None else msg * _class_weights(weight, input)


def _torch_loss_shape(s, t, reduction):
    _check_reduction(reduction)
    if not s:
        raise ValueError("input must have a class axis (C,) or (N, C, *), got a scalar")
    axis = 1 if len(s) > 1 else 0
    per_example = s[:axis] + s[axis + 1 :]
    if not (_fits(t, per_example) or _fits(t, s)):
        raise ValueError(
            f"target of shape {t} fits neither input {s} (probabilities) nor "
            f"{per_example} (class indices)"
        )
    return per_example if reduction == "none" else ()


def _check_weight(weight, s):
    if weight is None:
        return
    c = s[1 if len(s) > 1 else 0]
    if np.ndim(weight) != 1 or (c is not None and np.shape(weight)[0] != c):
        raise ValueError(
            f"weight must hold one weight per class, shape ({c},), got shape {np.shape(weight)}"
        )


def _cross_entropy_shape(
    s, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    out = _torch_loss_shape(s, t, reduction)
    _check_weight(weight, s)
    return out


def _index_or_probabilities(name, t, shapes):
    """Float targets are probabilities, of the input's shape: float targets with one dim
    fewer (the class indices' shape) are refused when the node is built."""
    s, ts = shapes
    if t is not None and t.kind == "f" and s is not None and ts is not None and len(ts) < len(s):
        raise ValueError(
            f"{name} expects integer class labels as targets of shape {ts}, got {t} (float "
            f"targets are class probabilities, of the input's shape {s})"
        )


def _cross_entropy_dtype(z, t, *, shapes=(None, None), **_):
    if t is not None and t.kind not in "iuf":
        raise ValueError(
            f"cross_entropy targets must be integer class indices or float probabilities, got {t}"
        )
    _index_or_probabilities("cross_entropy", t, shapes)
    return float_dtype(z) if z is not None else None


def _index_targets_dtype(z, t, **_):
    if t is not None and t.kind not in "iu":
        raise ValueError(
            f"nll_loss expects integer class labels as targets, got {t} (for "
            "probabilities use cross_entropy)"
        )
    return z


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """-w_c input[n, c] per example, c = target[n]: input holds log-probabilities, classes on
    axis 1, target integer class indices and w the (C,) class weights, all 1 by default
    (PyTorch's F.nll_loss); ignore_index examples count for nothing and 'mean' divides by the
    number of the others, or with weights by the sum of their classes' weights

    Derivative: to the input, -w_c g at each example's target class c (/ the count or the
    weight sum for 'mean', 0 where ignored), 0 elsewhere; none to the targets nor the weights.
    """
    q = _target_distribution(target, input, 0.0, weight)
    per_example = -np.sum(q * input, axis=_class_axis(input))
    valid = _valid(target, ignore_index)
    per_example = np.where(valid, per_example, 0)
    if reduction == "mean":
        return np.sum(per_example) / _total(valid, target, input, weight)
    return _reduce(per_example, reduction)


def _nll_input(g, ans, input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    axis = _class_axis(input)
    w = _expand_signal(_per_example_weight(g, target, input, ignore_index, reduction, weight), axis)
    return -(w * _target_distribution(target, input, 0.0, weight))


def _nll_shape(s, t, weight=None, ignore_index=-100, reduction="mean"):
    out = _torch_loss_shape(s, t, reduction)
    _check_weight(weight, s)
    return out


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target (NumPy
    broadcasting), reduced (PyTorch's F.huber_loss)

    Derivative: d clipped to [-delta, delta] to the input, its negative to the target
    (continuous at |d| = delta). ('mean' divides g by the number of elements.)
    """
    d = input - _as_float_targets(target, input)
    a = np.abs(d)
    return _reduce(np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)


def _huber_vjp(sign):
    def vjp(g, ans, input, target, reduction="mean", delta=1.0):  # noqa: A002
        d = input - _as_float_targets(target, input)
        msg = np.clip(d, -delta, delta)
        if reduction != "none":
            msg = msg * _scale(g, int(np.prod(d.shape, dtype=int)), reduction)
        else:
            msg = g * msg
        return unbroadcast(msg if sign > 0 else -msg, input if sign > 0 else target)

    return vjp


def _huber_shape(a, b, reduction="mean", delta=1.0):
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    return _loss_shape(a, b, reduction)


def kl_div(input, target, reduction="mean", log_target=False):  # noqa: A002
    """target (log target - input) per element, input holding log-probabilities (PyTorch's
    F.kl_div); with log_target=True the target holds log-probabilities too: e^t (t - input).
    Reduced by 'mean' (over every element), 'batchmean' (sum / input.shape[0], the KL
    divergence per example), 'sum' or 'none'

    Derivative: to the input, -target g (-e^t g); to the target, (log target + 1 - input) g
    (e^t (t - input + 1) g), infinite where target = 0.

    Where target = 0 the element counts 0 (x log x -> 0), as in PyTorch.
    """
    if log_target:
        per_element = np.exp(target) * (target - input)
    else:
        positive = np.greater(target, 0)
        per_element = np.where(
            positive, target * (np.log(np.where(positive, target, 1)) - input), 0
        )
    if reduction == "batchmean":
        return np.sum(per_element) / input.shape[0]
    return _reduce(per_element, reduction)


def _kl_scale(g, input, target, reduction):
    n = np.broadcast_shapes(input.shape, target.shape)
    if reduction == "batchmean":
        return g / n[0]
    if reduction == "none":
        return g
    return _scale(g, int(np.prod(n, dtype=int)), reduction)


def _kl_input(g, ans, input, target, reduction="mean", log_target=False):  # noqa: A002
    t = np.exp(target) if log_target else target
    return _fit(-(_kl_scale(g, input, target, reduction) * t), input, target, 0)


def _kl_target(g, ans, input, target, reduction="mean", log_target=False):  # noqa: A002
    s = _kl_scale(g, input, target, reduction)
    if log_target:
        return _fit(s * (np.exp(target) * (target - input + 1)), input, target, 1)
    return _fit(s * (np.log(target) + 1 - input), input, target, 1)


def _fit(msg, a, b, argnum):
    """``msg`` broadcast to the shape of a and b together, then summed back to argument
    ``argnum``'s shape."""
    full = np.broadcast_shapes(a.shape, b.shape)
    if msg.shape != full:
        msg = np.broadcast_to(msg, full)
    return unbroadcast(msg, (a, b)[argnum])


def _kl_shape(a, b, reduction="mean", log_target=False):
    if reduction == "batchmean":
        if not a:
            raise ValueError("reduction='batchmean' needs a batch axis")
        broadcast_shapes(a, b)
        return ()
    return _loss_shape(a, b, reduction)


def _log_probs(rng, shape):
    z = rng.standard_normal(shape)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _norm_samples(rng):
    yield (
        [rng.standard_normal((3, 4)), 1 + 0.3 * rng.standard_normal(4), rng.standard_normal(4)],
        {},
    )
    yield (
        [rng.standard_normal((2, 3, 2)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))],
        {"eps": 1e-3},
    )


def _group_norm_samples(rng):
    yield (
        [rng.standard_normal((2, 4, 3)), 1 + 0.3 * rng.standard_normal(4), rng.standard_normal(4)],
        {"num_groups": 2},
    )
    yield (
        [rng.standard_normal((3, 2, 2, 2)), rng.standard_normal(2), rng.standard_normal(2)],
        {"num_groups": 1},
    )


def _batch_norm_samples(rng):
    c = 3
    stats = [rng.standard_normal(c), 0.5 + rng.random(c)]
    yield (
        [
            rng.standard_normal((4, c)),
            *stats,
            1 + 0.3 * rng.standard_normal(c),
            rng.standard_normal(c),
        ],
        {"training": True},
    )
    yield (
        [rng.standard_normal((2, c, 3)), *stats, rng.standard_normal(c), rng.standard_normal(c)],
        {"training": True},
    )
    yield (
        [rng.standard_normal((2, c, 2)), *stats, rng.standard_normal(c), rng.standard_normal(c)],
        {},
    )


def _attention_samples(rng):
    q, k, v = (rng.standard_normal(s) for s in ((3, 2), (4, 2), (4, 3)))
    yield [q, k, v, np.ones((1, 1), dtype=bool)], {}
    yield (
        [
            rng.standard_normal((2, 3, 2)),
            rng.standard_normal((2, 3, 2)),
            rng.standard_normal((2, 3, 2)),
            np.ones((1, 1), dtype=bool),
        ],
        {"is_causal": True},
    )
    mask = np.array(
        [[True, False, True, True], [True, True, False, True], [False, True, True, True]]
    )
    yield [q, k, v, mask], {"scale": 0.7}
    yield (
        [
            rng.standard_normal((2, 1, 3, 2)),
            rng.standard_normal((2, 4, 2)),
            rng.standard_normal((2, 4, 2)),
            rng.standard_normal((3, 4)),
        ],
        {},
    )


def _cross_entropy_samples(rng):
    yield [rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])], {}
    yield [rng.standard_normal((4, 3)), np.array([0, -100, 2, 1])], {"label_smoothing": 0.1}
    yield (
        [rng.standard_normal((2, 3, 2)), np.array([[2, 0], [1, 7]])],
        {"ignore_index": 7, "reduction": "sum"},
    )
    soft = rng.random((4, 3))
    yield (
        [rng.standard_normal((4, 3)), soft / soft.sum(1, keepdims=True)],
        {"label_smoothing": 0.2, "reduction": "none"},
    )
    yield [rng.standard_normal(5), np.array(3)], {"reduction": "none"}
    weight = rng.random(3) + 0.5
    yield (
        [rng.standard_normal((5, 3)), np.array([0, 2, -100, 1, 2])],
        {"weight": weight, "label_smoothing": 0.1},
    )
    yield (
        [rng.standard_normal((2, 3, 2)), np.array([[2, 0], [1, 7]])],
        {"weight": weight, "ignore_index": 7, "reduction": "none"},
    )
    soft = rng.random((4, 3))
    yield [rng.standard_normal((4, 3)), soft / soft.sum(1, keepdims=True)], {"weight": weight}


def _nll_samples(rng):
    yield [_log_probs(rng, (4, 3)), np.array([0, 2, 1, 1])], {}
    yield [_log_probs(rng, (4, 3)), np.array([0, -100, 2, 1])], {"reduction": "sum"}
    yield (
        [np.moveaxis(_log_probs(rng, (2, 2, 3)), -1, 1), np.array([[2, 0], [1, 1]])],
        {"reduction": "none"},
    )
    yield (
        [_log_probs(rng, (4, 3)), np.array([0, -100, 2, 2])],
        {"weight": rng.random(3) + 0.5},
    )


def _huber_samples(rng):
    yield [2 * rng.standard_normal((4, 3)), rng.standard_normal((4, 3))], {}
    yield (
        [2 * rng.standard_normal((4, 3)), rng.standard_normal(3)],
        {"delta": 0.5, "reduction": "sum"},
    )
    yield [2 * rng.standard_normal(5), rng.standard_normal(5)], {"reduction": "none"}


def _kl_samples(rng):
    p = rng.random((3, 4)) + 0.1
    yield [_log_probs(rng, (3, 4)), p / p.sum(-1, keepdims=True)], {"reduction": "batchmean"}
    yield [_log_probs(rng, (3, 4)), _log_probs(rng, (3, 4))], {"log_target": True}
    yield [_log_probs(rng, (2, 3)), rng.random((2, 3)) + 0.1], {"reduction": "none"}
    yield [_log_probs(rng, (2, 3)), rng.random(3) + 0.1], {"reduction": "sum"}


SOFTMAX = Op(
    "softmax",
    softmax,
    (lambda g, ans, x, axis=-1: ans * (g - np.sum(g * ans, axis=axis, keepdims=True)),),
    _axis_shape,
    float_dtype,
    needs=("ans",),
    samples=_softmax_samples,
    differentiable_vjp=True,
)
LOG_SOFTMAX = Op(
    "log_softmax",
    log_softmax,
    (lambda g, ans, x, axis=-1: g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True),),
    _axis_shape,
    float_dtype,
    needs=("ans",),
    samples=_softmax_samples,
    differentiable_vjp=True,
)


def _mse_jvp(sign):
    def jvp(t, ans, prediction, target, reduction="mean"):
        d = prediction - _as_float_targets(target, prediction)
        return _reduce(sign * 2 * d * t, reduction)

    return jvp


def _bce_jvp_logits(t, ans, logits, targets, reduction="mean"):
    return _reduce(t * (sigmoid(logits) - _as_float_targets(targets, logits)), reduction)


def _bce_jvp_targets(t, ans, logits, targets, reduction="mean"):
    return _reduce(-t * logits, reduction)


OPS = [
    Op(
        "sigmoid",
        sigmoid,
        (lambda g, ans, x: g * (ans * (1 - ans)),),
        same_shape,
        float_dtype,
        needs=("ans",),
        samples=_unary,
        differentiable_vjp=True,
    ),
    Op(
        "relu",
        relu,
        (_relu_vjp,),
        same_shape,
        needs=("x",),
        samples=_unary,
        differentiable_vjp=True,
    ),
    Op(
        "leaky_relu",
        leaky_relu,
        (lambda g, ans, x, negative_slope=0.01: np.where(x > 0, g, g * negative_slope),),
        same_shape,
        needs=("x",),
        samples=chain(_unary, cases(((3, 2),), negative_slope=0.2)),
        differentiable_vjp=True,
    ),
    Op(
        "softplus",
        softplus,
        (lambda g, ans, x: g * sigmoid(x),),
        same_shape,
        float_dtype,
        needs=("x",),
        samples=_unary,
        differentiable_vjp=True,
    ),
    Op(
        "elu",
        elu,
        (lambda g, ans, x, alpha=1.0: np.where(x > 0, g, g * (ans + alpha)),),
        same_shape,
        float_dtype,
        needs=("ans x",),
        samples=chain(_unary, cases(((3, 2),), alpha=0.5)),
        differentiable_vjp=True,
    ),
    elementwise_unary("silu", silu, _silu_vjp, needs="x"),
    elementwise_unary(
        "mish",
        mish,
        _mish_vjp,
        needs="x",
        samples=chain(_unary, lambda rng: [([np.array([-40.0, 0.0, 40.0])], {})]),
    ),
    elementwise_unary("softsign", softsign, _softsign_vjp, needs="x"),
    Op(
        "hardtanh",
        hardtanh,
        (_hardtanh_vjp,),
        _hardtanh_shape,
        needs=("x",),
        differentiable_vjp=True,
        samples=chain(cases(((3, 4),), draw=_wide), cases(((2, 3),), min_val=-0.5, max_val=2.0)),
    ),
    SOFTMAX,
    LOG_SOFTMAX,
    Op(
        "softmax_cross_entropy",
        softmax_cross_entropy,
        (_ce_vjp_logits, _ce_vjp_labels),
        _ce_shape,
        _ce_dtype,
        needs=("labels", "logits labels"),
        samples=_ce_samples,
        fwd=_ce_fwd,
        jvp=(_ce_jvp_logits, _ce_jvp_labels),
        differentiable_vjp=True,
    ),
    Op(
        "mean_squared_error",
        mean_squared_error,
        (_mse_vjp(1), _mse_vjp(-1)),
        _loss_shape,
        needs=("prediction target", "prediction target"),
        samples=lambda rng: [
            ([rng.standard_normal((4, 3)), rng.standard_normal((4, 3))], {}),
            ([rng.standard_normal((4, 3)), rng.standard_normal(3)], {"reduction": "sum"}),
            ([rng.standard_normal(5), rng.standard_normal(5)], {"reduction": "none"}),
        ],
        differentiable_vjp=True,
        jvp=(_mse_jvp(1), _mse_jvp(-1)),
    ),
    Op(
        "binary_cross_entropy_with_logits",
        binary_cross_entropy_with_logits,
        (_bce_logits, _bce_targets),
        _loss_shape,
        lambda z, t, **_: float_dtype(z),
        needs=("logits targets", "logits targets"),
        samples=_bce_samples,
        differentiable_vjp=True,
        jvp=(_bce_jvp_logits, _bce_jvp_targets),
    ),
    Op(
        "layer_norm",
        layer_norm,
        (
            _layer_norm_x,
            _layer_norm_weight,
            lambda g, ans, x, weight, bias, eps=1e-5: unbroadcast(g, bias),
        ),
        _layer_norm_shape,
        needs=("x weight", "x", ""),
        differentiable_vjp=True,
        public=_layer_norm_public(),
        samples=_norm_samples,
    ),
    Op(
        "group_norm",
        group_norm,
        (
            _group_norm_x,
            _group_norm_weight,
            lambda g, ans, x, weight, bias, num_groups, eps=1e-5: _channel_sum(g, x),
        ),
        _group_norm_shape,
        needs=("x weight", "x", ""),
        differentiable_vjp=True,
        public=_group_norm_public,
        samples=_group_norm_samples,
    ),
    Op(
        "batch_norm",
        batch_norm,
        (
            _batch_norm_x,
            None,
            None,
            _batch_norm_weight,
            lambda g, ans, x, running_mean, running_var, weight, bias, training=False, eps=1e-5: (
                _channel_sum(g, x)
            ),
        ),
        _batch_norm_shape,
        differentiable_vjp=True,
        samples=_batch_norm_samples,
    ),
    Op(
        "batch_norm_update",
        batch_norm_update,
        (None, None, None),
        _batch_norm_update_shape,
        samples=lambda rng: [
            (
                [rng.standard_normal((5, 3, 2)), rng.standard_normal(3), rng.random(3) + 0.5],
                {"momentum": 0.2},
            )
        ],
    ),
    Op(
        "scaled_dot_product_attention",
        scaled_dot_product_attention,
        tuple(_attention_vjp(k) for k in range(4)),
        _attention_shape,
        _attention_dtype,
        differentiable_vjp=True,
        public=_attention_public,
        samples=_attention_samples,
    ),
    Op(
        "cross_entropy",
        cross_entropy,
        (_cross_entropy_input, _cross_entropy_target),
        _cross_entropy_shape,
        _cross_entropy_dtype,
        differentiable_vjp=True,
        needs=("input target", "input target"),
        samples=_cross_entropy_samples,
    ),
    Op(
        "nll_loss",
        nll_loss,
        (_nll_input, None),
        _nll_shape,
        _index_targets_dtype,
        differentiable_vjp=True,
        needs=("input target", ""),
        samples=_nll_samples,
    ),
    Op(
        "huber_loss",
        huber_loss,
        (_huber_vjp(1), _huber_vjp(-1)),
        _huber_shape,
        lambda a, b, **_: float_dtype(a) if a is not None else None,
        differentiable_vjp=True,
        needs=("input target", "input target"),
        samples=_huber_samples,
    ),
    Op(
        "kl_div",
        kl_div,
        (_kl_input, _kl_target),
        _kl_shape,
        lambda a, b, **_: float_dtype(a) if a is not None else None,
        differentiable_vjp=True,
        needs=("target", "input target"),
        samples=_kl_samples,
    ),
    Op(
        "dropout",
        dropout,
        (_dropout_vjp,),
        _dropout_shape,
        needs=("",),
        fwd=_dropout_fwd,
        jvp=(lambda t, ans, x, rate, rng, res=None: t * res,),
        samples=lambda rng: [
            ([rng.standard_normal((4, 5))], {"rate": 0.3, "rng": 7}),
            ([rng.standard_normal(6)], {"rate": 0.0, "rng": 1}),
        ],
    ),
]


@hookimpl
def mpgraph_ops():
    return OPS
