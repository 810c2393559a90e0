"""Neural-network activations, losses and dropout, written to stay finite for large inputs.

Conventions at kinks follow PyTorch: ``relu`` sends 0 at x = 0, ``leaky_relu`` sends the
slope at x = 0. Losses take ``reduction`` ("mean", the default, "sum" or "none") as PyTorch's do.
"""
import numpy as np

from mpgraph.extend import (Op, broadcast_shapes, is_graph_node, normalize_axis, same_shape,
                            unbroadcast)
from mpgraph.extend import hookimpl

from mpgraph.extend import cases, chain, float_dtype

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
        return np.add.reduce(per_element, axis=None) / np.size(per_element)
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


def _is_index(labels):
    return np.asarray(labels).dtype.kind in "iu"


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
    rest = [np.arange(d).reshape((d,) + (1,) * (labels.ndim - 1 - k))  # the other axes
            for k, d in enumerate(labels.shape)]
    return (*rest[:axis], labels, *rest[axis:])


def _check_labels(labels, n):
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"class labels must lie in [0, {n}), got values from {labels.min()} "
                         f"to {labels.max()}")


def softmax_cross_entropy(logits, labels, axis=-1, reduction="mean"):
    """-sum_c t_c log softmax(z)_c per example, then reduced: ``labels`` are integer class
    indices (the shape of logits without axis) or one-hot / soft targets t (logits' shape)

    Derivative: to the logits, (softmax(z) sum_c t_c - t) g; to soft targets, -log softmax(z) g;
    none to class indices. (``mean`` divides g by the number of examples.)
    """
    return _ce_fwd(logits, labels, axis, reduction)[0]


def _ce_fwd(logits, labels, axis=-1, reduction="mean"):
    """The loss and, as the residual its vjp reads, the softmax."""
    logits = np.asarray(logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    p = np.exp(shifted)
    total = p.sum(axis=axis, keepdims=True)
    p /= total
    if _is_index(labels):
        index = _class_index(labels, logits, axis)
        if logits.ndim == 2 and axis in (-1, 1):  # a batch: -log p = log(total) - shifted
            return _reduce(np.log(total[:, 0]) - shifted[index], reduction), p
        return _reduce(-(shifted - np.log(total))[index], reduction), p
    return _reduce(-np.sum(labels * (shifted - np.log(total)), axis=axis), reduction), p


def _ce_signal(g, logits, axis, reduction):
    shape = logits.shape
    if len(shape) == 2 and axis in (-1, 1):  # a batch of examples: the common case, first
        n = shape[0]
    else:
        n = int(np.prod(shape, dtype=int)) // shape[normalize_axis(axis, len(shape))[0]]
    g = _scale(g, n, reduction)
    return np.expand_dims(g, axis) if reduction == "none" else g


def _on_nodes(*values):
    return any(is_graph_node(v) for v in values)


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
    return np.where(np.equal(np.expand_dims(labels, ax), classes), 1.0, 0.0)


def _index_labels(labels, logits):
    """Class indices (rather than soft targets): known from the dtype of an array, and from
    the number of dims for a graph node (whose dtype may be unknown)."""
    if is_graph_node(labels):
        return labels.ndim == logits.ndim - 1
    return _is_index(labels)


def _ce_vjp_logits(g, ans, logits, labels, axis=-1, reduction="mean", res=None):
    if _on_nodes(g, logits, labels):  # a higher-order derivative: the same formula as nodes
        p = _op("softmax", logits, axis=axis)
        if _index_labels(labels, logits):
            return (p - _one_hot(labels, logits, axis)) * _ce_signal(g, logits, axis, reduction)
        return ((p * np.sum(labels, axis=axis, keepdims=True) - labels)
                * _ce_signal(g, logits, axis, reduction))
    p = softmax(logits, axis) if res is None else res.copy()  # updated in place below
    if _is_index(labels):
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
    if _is_index(labels):
        per_example = np.sum(t * p, axis=axis) - t[_class_index(labels, logits, axis)]
    else:
        per_example = np.sum(t * (p * np.sum(labels, axis=axis, keepdims=True) - labels),
                             axis=axis)
    return _reduce(per_example, reduction)


def _ce_jvp_labels(t, ans, logits, labels, axis=-1, reduction="mean", res=None):
    return _reduce(-np.sum(t * log_softmax(logits, axis), axis=axis), reduction)


def _ce_shape(s, t, axis=-1, reduction="mean"):
    _check_reduction(reduction)
    ax = normalize_axis(axis, len(s))[0]
    per_example = s[:ax] + s[ax + 1:]
    fits = [len(t) == len(want) and all(a is None or b is None or a == b for a, b in zip(t, want))
            for want in (s, per_example)]
    if not any(fits):
        raise ValueError(f"labels of shape {t} fit neither logits {s} (soft targets) nor "
                         f"{per_example} (class indices)")
    return per_example if reduction == "none" else ()


def _ce_dtype(z, t, **_):
    return float_dtype(z)


def _ce_samples(rng):
    z = rng.standard_normal((4, 3))
    yield [z, np.array([0, 2, 1, 1])], {}
    soft = rng.random((4, 3))
    yield [z, soft / soft.sum(-1, keepdims=True)], {"reduction": "sum"}
    yield [rng.standard_normal((3, 5)), np.array([4, 0, 2])], {"reduction": "none"}
    yield [rng.standard_normal((3, 2)), np.array([1, 0])], {"axis": 0}
    yield [rng.standard_normal((2, 3, 4)), rng.random((2, 3, 4))], {"axis": 1,
                                                                     "reduction": "none"}


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
    return unbroadcast(_scale(g, int(np.prod(n, dtype=int)), reduction)
                       * (sigmoid(logits) - _as_float_targets(targets, logits)), logits)


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
    x = np.asarray(x)
    mask = np.multiply(gen.random(x.shape) >= rate, scale, dtype=float_dtype(x.dtype))
    return x * mask, mask


def _dropout_scale(rate):
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    return 1 / (1 - rate)


def _dropout_vjp(g, ans, x, rate, rng, res=None):
    if res is None:
        raise ValueError("dropout's message needs the mask of the run that drew it, which only a "
                         "graph run keeps: differentiate dropout through a Graph or mg.grad, once")
    return g * res


def _dropout_shape(s, rate, rng):
    _dropout_scale(rate)
    if not isinstance(rng, (np.random.Generator, int, np.integer)):
        raise ValueError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")
    return s


def _elementwise(name, forward, vjp, needs, samples=_unary, dtype=None):
    # An elementwise function has a diagonal Jacobian: its jvp is its vjp, given the tangent.
    return Op(name, forward, (vjp,), same_shape, dtype, needs=needs, samples=samples,
              differentiable_vjp=True, jvp=(vjp,))


def _softmax_vjp(g, ans, x, axis=-1):
    return ans * (g - np.sum(g * ans, axis=axis, keepdims=True))


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
    _elementwise("sigmoid", sigmoid, lambda g, ans, x: g * (ans * (1 - ans)), ("ans",),
                 dtype=float_dtype),
    _elementwise("relu", relu, lambda g, ans, x: np.where(x > 0, g, 0), ("x",)),
    _elementwise("leaky_relu", leaky_relu,
                 lambda g, ans, x, negative_slope=0.01: np.where(x > 0, g, g * negative_slope),
                 ("x",), samples=chain(_unary, cases(((3, 2),), negative_slope=0.2))),
    _elementwise("softplus", softplus, lambda g, ans, x: g * sigmoid(x), ("x",),
                 dtype=float_dtype),
    _elementwise("elu", elu, lambda g, ans, x, alpha=1.0: np.where(x > 0, g, g * (ans + alpha)),
                 ("ans x",), samples=chain(_unary, cases(((3, 2),), alpha=0.5)),
                 dtype=float_dtype),
    # softmax's Jacobian diag(s) - s s^T is symmetric: its jvp is its vjp
    Op("softmax", softmax, (_softmax_vjp,), _axis_shape, float_dtype, needs=("ans",),
       samples=_softmax_samples, differentiable_vjp=True, jvp=(_softmax_vjp,)),
    Op("log_softmax", log_softmax,
       (lambda g, ans, x, axis=-1: g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True),),
       _axis_shape, float_dtype, needs=("ans",), samples=_softmax_samples, differentiable_vjp=True,
       jvp=(lambda t, ans, x, axis=-1: t - np.sum(t * np.exp(ans), axis=axis, keepdims=True),)),
    Op("softmax_cross_entropy", softmax_cross_entropy, (_ce_vjp_logits, _ce_vjp_labels),
       _ce_shape, _ce_dtype, needs=("labels", "logits labels"), samples=_ce_samples,
       fwd=_ce_fwd, jvp=(_ce_jvp_logits, _ce_jvp_labels), differentiable_vjp=True),
    Op("mean_squared_error", mean_squared_error, (_mse_vjp(1), _mse_vjp(-1)), _loss_shape,
       needs=("prediction target", "prediction target"),
       samples=lambda rng: [([rng.standard_normal((4, 3)), rng.standard_normal((4, 3))], {}),
                            ([rng.standard_normal((4, 3)), rng.standard_normal(3)],
                             {"reduction": "sum"}),
                            ([rng.standard_normal(5), rng.standard_normal(5)],
                             {"reduction": "none"})],
       differentiable_vjp=True, jvp=(_mse_jvp(1), _mse_jvp(-1))),
    Op("binary_cross_entropy_with_logits", binary_cross_entropy_with_logits,
       (_bce_logits, _bce_targets), _loss_shape, lambda z, t, **_: float_dtype(z),
       needs=("logits targets", "logits targets"), samples=_bce_samples, differentiable_vjp=True,
       jvp=(_bce_jvp_logits, _bce_jvp_targets)),
    Op("dropout", dropout, (_dropout_vjp,), _dropout_shape, needs=("",), fwd=_dropout_fwd,
       jvp=(lambda t, ans, x, rate, rng, res=None: t * res,),
       samples=lambda rng: [([rng.standard_normal((4, 5))], {"rate": 0.3, "rng": 7}),
                            ([rng.standard_normal(6)], {"rate": 0.0, "rng": 1})]),
]


@hookimpl
def mpgraph_ops():
    return OPS
