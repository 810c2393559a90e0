"""Every registered op in forward mode and to the third order.

- jvp: each op's tangent message (its jvp rule, or the transpose of its vjp) against central
  finite differences of forward, and against its vjp: <u, J v> both ways.
- Where an op has a jvp rule and a differentiable vjp, the two routes to J v agree.
- Derivatives of orders 2 and 3 of every op with a differentiable vjp on each of its samples,
  each against finite differences of the one before (check_op's ``order``), and the Hessian of
  a cross-entropy MLP against finite differences of a NumPy gradient.
"""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.hooks.manager import ops
from mpgraph.testing import check_jvp, check_op, samples


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
        for k, (args, attrs) in enumerate(samples(op, rng)):
            if any(
                np.asarray(a).dtype.kind == "f" and op.carries_gradient(k)
                for k, a in enumerate(args)
            ):
                yield pytest.param(name, args, attrs, id=f"{name}-{k}")


@pytest.mark.parametrize("name, args, attrs", list(_third_order_cases()))
def test_differentiable_vjps_give_third_derivatives(name, args, attrs):
    """Orders 1 to 3 on every sample: the gradient of ``sum(v2 * grad(sum(v1 * grad(sum(w *
    op)))))``, three nested grads, against central differences (check_op's order)."""
    check_op(name, args, attrs, order=3, seed=8)


# Ops of the kinds autograd's test suite differentiates beyond the first order (elementwise
# unary and binary ufuncs, products, reductions, shape changes and indexing, logsumexp and
# softmax): each must stay in the cases above, with a differentiable vjp.
AUTOGRAD_THIRD_ORDER = """sin cos tan tanh sinh cosh exp expm1 log log1p log2 log10 exp2 sqrt square
reciprocal arcsin arccos arctan arcsinh arccosh arctanh abs negative sigmoid add subtract multiply
divide power maximum minimum logaddexp logaddexp2 matmul dot tensordot inner outer
einsum sum mean prod var std max min cumsum reshape transpose swapaxes moveaxis squeeze
expand_dims concatenate stack getitem take where logsumexp softmax log_softmax""".split()


def test_autograd_third_order_functions_are_checked_to_the_third_order():
    checked = {p.values[0] for p in _third_order_cases()}
    missing = [name for name in AUTOGRAD_THIRD_ORDER if name not in checked]
    assert not missing, f"not checked to the third order: {missing}"


def test_check_op_catches_a_wrong_second_derivative_and_refuses_an_order_it_lacks():
    def vjp(g, ans, x):  # right on arrays, wrong as graph nodes (the second derivative)
        return g * (np.sin(x) if type(x) is mg.Node else np.cos(x))

    wrong = mg.Op("test_sin_wrong_second", np.sin, (vjp,), differentiable_vjp=True)
    x = np.array([0.3, 1.2, -0.7])
    check_op(wrong, [x])
    with pytest.raises(AssertionError, match="derivative of order 2 with respect to argument 0"):
        check_op(wrong, [x], order=2)
    opaque = mg.Op("test_sin_once", np.sin, (lambda g, ans, x: g * np.cos(x),))
    with pytest.raises(mg.GraphError, match="no derivatives beyond the first; got order=2"):
        check_op(opaque, [x], order=2)


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
