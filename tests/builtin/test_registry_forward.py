"""Every registered op in forward mode and to the third order.

- jvp: each op's tangent message (its jvp rule, or the transpose of its vjp) against central
  finite differences of forward, and against its vjp: <u, J v> both ways.
- Where an op has a jvp rule and a differentiable vjp, the two routes to J v agree.
- Third derivatives of every op with a differentiable vjp, against finite differences of the
  second, and the Hessian of a cross-entropy MLP against finite differences of a NumPy gradient.
"""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.hooks.manager import ops
from mpgraph.testing import check_grads, check_jvp, samples


def _cases():
    rng = np.random.default_rng(5)
    for name, op in sorted(ops().items()):
        for k, (args, attrs) in enumerate(samples(op, rng)):
            yield pytest.param(name, args, attrs, id=f"{name}-{k}")


@pytest.mark.parametrize("name, args, attrs", list(_cases()))
def test_jvp_matches_finite_differences_and_the_vjp(name, args, attrs):
    check_jvp(name, args, attrs, seed=6)


def test_check_jvp_catches_a_wrong_rule_and_an_op_without_forward_mode():
    wrong = mg.Op(
        "test_sin_wrong_jvp",
        np.sin,
        (lambda g, ans, x: g * np.cos(x),),
        jvp=(lambda t, ans, x: t * np.sin(x),),
        differentiable_vjp=True,
    )
    with pytest.raises(AssertionError, match="the tangent differs from central differences"):
        check_jvp(wrong, [np.array([0.3, 1.2])])
    opaque = mg.Op("test_sin_opaque", np.sin, (lambda g, ans, x: g * np.cos(np.asarray(x)),))
    with pytest.raises(mg.GraphError, match="has no jvp rule"):
        check_jvp(opaque, [np.array([0.3, 1.2])])


def _third_order_cases():
    rng = np.random.default_rng(7)
    for name, op in sorted(ops().items()):
        if not op.differentiable_vjp:
            continue
        args, attrs = samples(op, rng)[0]
        if any(
            np.asarray(a).dtype.kind == "f" and op.carries_gradient(k) for k, a in enumerate(args)
        ):
            yield pytest.param(name, args, attrs, id=name)


@pytest.mark.parametrize("name, args, attrs", list(_third_order_cases()))
def test_differentiable_vjps_give_third_derivatives(name, args, attrs):
    """The gradient of ``sum(v2 * grad(sum(v1 * grad(sum(w * op)))))``, three nested mg.grad,
    against central differences."""
    op = ops()[name]
    diff = tuple(
        k for k, a in enumerate(args) if np.asarray(a).dtype.kind == "f" and op.carries_gradient(k)
    )
    rng = np.random.default_rng(8)
    w = rng.standard_normal(np.shape(op.forward(*args, **attrs)))
    v1 = [rng.standard_normal(np.shape(args[k])) for k in diff]
    v2 = [rng.standard_normal(np.shape(args[k])) for k in diff]

    def call(*a):
        node = next((x for x in a if type(x) is mg.Node), None)
        return op.forward(*a, **attrs) if node is None else node.graph.apply(op, a, attrs)

    first = mg.grad(lambda *a: mg.ops.sum(w * call(*a)), argnums=diff)
    second = mg.grad(lambda *a: sum(mg.ops.sum(v * d) for v, d in zip(v1, first(*a))), argnums=diff)

    def h(*a):
        return sum(mg.ops.sum(v * d) for v, d in zip(v2, second(*a)))

    check_grads(h, *args, argnums=diff, rtol=1e-4, atol=1e-6)


# -- the Hessian of a cross-entropy MLP ------------------------------------------------------

_SHAPES = [(3, 4), (4,), (4, 3), (3,)]


def _unpack(theta):
    out, start = [], 0
    for s in _SHAPES:
        n = int(np.prod(s))
        out.append(np.reshape(theta[start : start + n], s))
        start += n
    return out


def _numpy_grad(theta, x, labels):
    """The gradient of the MLP's mean cross-entropy, by hand (Nielsen's BP1-BP4)."""
    W1, b1, W2, b2 = _unpack(theta)
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    delta2 = p / len(labels)
    delta1 = (delta2 @ W2.T) * (1 - h * h)
    return np.concatenate(
        [(x.T @ delta1).ravel(), delta1.sum(0), (h.T @ delta2).ravel(), delta2.sum(0)]
    )


def test_hessian_of_a_cross_entropy_mlp_matches_finite_differences():
    rng = np.random.default_rng(9)
    x, labels = rng.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    theta = rng.standard_normal(sum(int(np.prod(s)) for s in _SHAPES)) * 0.7

    def loss(theta):
        W1, b1, W2, b2 = _unpack(theta)
        h = mg.ops.tanh(x @ W1 + b1)
        return mg.ops.softmax_cross_entropy(h @ W2 + b2, labels)

    np.testing.assert_allclose(mg.grad(loss)(theta), _numpy_grad(theta, x, labels), rtol=1e-10)
    eps = 1e-6
    fd = np.stack(
        [
            (_numpy_grad(theta + eps * e, x, labels) - _numpy_grad(theta - eps * e, x, labels))
            / (2 * eps)
            for e in np.eye(theta.size)
        ],
        axis=1,
    )
    H = mg.hessian(loss)(theta)  # forward over reverse
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    np.testing.assert_allclose(mg.jacrev(mg.grad(loss))(theta), H, atol=1e-12)  # reverse twice
