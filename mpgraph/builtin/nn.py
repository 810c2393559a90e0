"""Neural-network activations and losses, written to stay finite for large inputs."""
import numpy as np

from mpgraph.op import Op, float_samples, normalize_axis, same_shape
from mpgraph.registry import hookimpl


def sigmoid(x):
    """1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 so that it never overflows.
    d/dx = sigmoid(x) (1 - sigmoid(x))."""
    return 0.5 * (np.tanh(0.5 * x) + 1)


def relu(x):
    """max(x, 0).  d/dx = 1 where x > 0, else 0 (0 at x = 0, as in PyTorch)."""
    return np.maximum(x, 0)


def log_softmax(x, axis=-1):
    """x - logsumexp(x, axis), shifted by the max for stability.
    Message: g - softmax(x) * sum(g, axis)."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """e^x / sum(e^x, axis).  Message: s * (g - sum(g * s, axis)), with s = softmax(x)."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _axis_shape(s, axis=-1):
    normalize_axis(axis, len(s))
    return s


def softmax_cross_entropy(logits, labels, axis=-1, reduction="mean"):
    """Cross-entropy of softmax(logits) against ``labels``: integer class indices (the shape of
    ``logits`` without ``axis``) or one-hot / soft targets (the shape of ``logits``).

    loss_i = -sum_c t_ic log softmax(z)_ic, then averaged over examples (``reduction="mean"``,
    as in PyTorch), summed (``"sum"``) or kept (``"none"``).
    Messages: (softmax(z) * sum_c t_ic - t) * g_i to the logits; -log softmax(z) * g_i to soft
    targets; none to integer labels.
    """
    logp = log_softmax(logits, axis)
    per_example = -np.sum(_targets(logp, labels, axis) * logp, axis=axis)
    return _reduce(per_example, reduction)


def _targets(logp, labels, axis):
    labels = np.asarray(labels)
    if labels.dtype.kind in "iub":
        if labels.dtype.kind == "b":
            raise ValueError("labels must be integer class indices or float targets, not booleans")
        t = np.zeros_like(logp)
        np.put_along_axis(t, np.expand_dims(labels, axis), 1, axis=axis)
        return t
    return labels


def _reduce(per_example, reduction):
    if reduction == "mean":
        return np.mean(per_example)
    if reduction == "sum":
        return np.sum(per_example)
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _per_example_signal(g, logits, axis, reduction):
    if reduction == "mean":
        g = g / (np.size(logits) // np.shape(logits)[axis])
    elif reduction == "none":
        g = np.expand_dims(g, axis)
    return g


def _ce_vjp_logits(g, ans, logits, labels, axis=-1, reduction="mean"):
    logp = log_softmax(logits, axis)
    t = _targets(logp, labels, axis)
    total = np.sum(t, axis=axis, keepdims=True)
    return (np.exp(logp) * total - t) * _per_example_signal(g, logits, axis, reduction)


def _ce_vjp_labels(g, ans, logits, labels, axis=-1, reduction="mean"):
    if np.asarray(labels).dtype.kind in "iub":
        return None  # class indices carry no gradient
    return -log_softmax(logits, axis) * _per_example_signal(g, logits, axis, reduction)


def _ce_shape(s, t, axis=-1, reduction="mean"):
    ax = normalize_axis(axis, len(s))[0]
    per_example = s[:ax] + s[ax + 1:]
    if t != s and t != per_example:
        raise ValueError(f"labels of shape {t} fit neither logits {s} (soft targets) nor "
                         f"{per_example} (class indices)")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return per_example if reduction == "none" else ()


def _ce_samples(rng):
    z = rng.standard_normal((4, 3))
    yield [z, np.array([0, 2, 1, 1])], {}
    soft = rng.random((4, 3))
    yield [z, soft / soft.sum(-1, keepdims=True)], {"reduction": "sum"}
    yield [rng.standard_normal((3, 5)), np.array([4, 0, 2])], {"reduction": "none"}
    yield [rng.standard_normal((3, 2)), np.array([1, 0])], {"axis": 0}


def _softmax_samples(rng):
    yield [rng.standard_normal((3, 4))], {}
    yield [rng.standard_normal((3, 4))], {"axis": 0}


OPS = [
    Op("sigmoid", sigmoid, (lambda g, ans, x: g * ans * (1 - ans),), same_shape,
       differentiable_vjp=True),
    Op("relu", relu, (lambda g, ans, x: g * (x > 0),), same_shape,
       samples=float_samples((2, 3)), differentiable_vjp=True),
    Op("softmax", softmax,
       (lambda g, ans, x, axis=-1: ans * (g - np.sum(g * ans, axis=axis, keepdims=True)),),
       _axis_shape, samples=_softmax_samples, differentiable_vjp=True),
    Op("log_softmax", log_softmax,
       (lambda g, ans, x, axis=-1: g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True),),
       _axis_shape, samples=_softmax_samples, differentiable_vjp=True),
    Op("softmax_cross_entropy", softmax_cross_entropy, (_ce_vjp_logits, _ce_vjp_labels), _ce_shape,
       dtype=lambda z, t, **_: z, samples=_ce_samples),
]


@hookimpl
def mpgraph_ops():
    return OPS
