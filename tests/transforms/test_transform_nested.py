"""Forward mode inside a traced function: mg.jvp, linearize, jacfwd, jacrev, hessian and hvp
under mg.grad (and under mg.jvp), built as graph nodes; against closed forms and finite
differences."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import numerical_grad


def f(x):
    return mg.ops.sum(mg.ops.sin(x) * x**2)


def d2(x):  # (x^2 sin x)''
    return 2 * np.sin(x) + 4 * x * np.cos(x) - x**2 * np.sin(x)


def d3(x):  # (x^2 sin x)'''
    return 6 * np.cos(x) - 6 * x * np.sin(x) - x**2 * np.cos(x)


X = np.array([0.3, -1.2, 2.0])
V = np.array([1.0, 0.5, -2.0])


def test_grad_of_jvp_is_the_hessian_vector_product():
    # d/dx <grad f(x), v> = H v, with H = diag(f'') here
    np.testing.assert_allclose(mg.grad(lambda x: mg.jvp(f, (x,), (V,))[1])(X), d2(X) * V)
    # with respect to the tangent: the jvp is linear in v, its gradient is grad f
    want = 2 * X * np.sin(X) + X**2 * np.cos(X)
    np.testing.assert_allclose(mg.grad(lambda v: mg.jvp(f, (X,), (v,))[1])(V), want)
    # the primal output comes back as a node too: grad of jvp's first output is grad f
    np.testing.assert_allclose(mg.grad(lambda x: mg.jvp(f, (x,), (V,))[0])(X), want)


def test_jvp_of_jvp_and_of_grad_give_second_directional_derivatives():
    second = mg.jvp(lambda x: mg.jvp(f, (x,), (V,))[1], (X,), (V,))[1]
    np.testing.assert_allclose(second, np.sum(d2(X) * V**2))
    np.testing.assert_allclose(mg.jvp(mg.grad(f), (X,), (V,))[1], d2(X) * V)


def test_third_derivatives_through_hessian_jacfwd_and_jacrev_under_grad():
    np.testing.assert_allclose(mg.grad(lambda x: mg.ops.sum(mg.hessian(f)(x)))(X), d3(X))
    np.testing.assert_allclose(mg.grad(lambda x: mg.ops.sum(mg.hvp(f, (x,), (V,))))(X), d3(X) * V)
    # a Jacobian that is not diagonal: J(x) = diag(s) + x 1^T with s = sum(x), for g = x s
    g = lambda x: x * mg.ops.sum(x)  # noqa: E731
    w = np.arange(9.0).reshape(3, 3)

    def ref(x):
        return float(np.sum(w * (np.sum(x) * np.eye(3) + np.outer(x, np.ones(3)))))

    want = numerical_grad(ref, [X], 0)
    for jac in (mg.jacfwd, mg.jacrev):
        np.testing.assert_allclose(
            mg.grad(lambda x, jac=jac: mg.ops.sum(w * jac(g)(x)))(X), want, rtol=1e-7
        )


def test_nested_forward_mode_on_pytrees_with_closures_and_linearize():
    w0 = np.array([0.5, -1.0])
    x0 = np.array([1.5, 0.25])

    def model(p, x):
        return {"y": mg.ops.tanh(p["w"] * x + p["b"]), "n": mg.ops.sum(p["w"] ** 2)}

    def loss(w):  # d/dw of the tangent of sum(y) + n along (v, 0), closing over w
        _, t = mg.jvp(lambda x: model({"w": w, "b": 0.1}, x), (x0,), (np.array([1.0, -3.0]),))
        return mg.ops.sum(t["y"]) + t["n"]

    def ref(w):
        s = 1 - np.tanh(w * x0 + 0.1) ** 2
        return float(np.sum(s * w * np.array([1.0, -3.0])))

    np.testing.assert_allclose(mg.grad(loss)(w0), numerical_grad(ref, [w0], 0), rtol=1e-7)

    def lin(w):
        _, f_jvp = mg.linearize(lambda w: mg.ops.sum(mg.ops.sin(w) ** 2), w)
        return f_jvp(np.ones(2)) + f_jvp(w)  # two tangents from one trace

    def lin_ref(w):
        return float(np.sum(np.sin(2 * w)) + np.sum(np.sin(2 * w) * w))

    np.testing.assert_allclose(mg.grad(lin)(w0), numerical_grad(lin_ref, [w0], 0), rtol=1e-7)


def test_nested_forward_mode_through_an_op_without_a_differentiable_vjp_says_why():
    cube = mg.Op(
        "test_cube_flat_vjp",
        lambda x: x**3,
        (lambda g, ans, x: g * 3 * np.asarray(x) ** 2,),
        jvp=(lambda t, ans, x: 3 * x**2 * t,),
    )

    def h(x):
        g = x if isinstance(x, mg.Node) else None
        y = g.graph.apply(cube, [x]) if g is not None else x**3
        return mg.ops.sum(y)

    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(mg.jvp(h, (x,), (np.ones(2),))[1], 3 * np.sum(x**2))  # on arrays
    with pytest.raises(
        mg.GraphError,
        match=r"jvp of h inside a traced function builds its tangents as graph nodes by "
        r"transposing the vjps, which needs every op on the way to have a differentiable "
        r"vjp: op 'test_cube_flat_vjp' at node 'test_cube_flat_vjp_1': its vjp is not "
        r"declared differentiable",
    ):
        mg.grad(lambda x: mg.jvp(h, (x,), (np.ones(2),))[1])(x)


def test_nested_jacobians_of_pytrees_and_hessian_with_aux():
    def f(p):
        return {"a": mg.ops.sin(p["x"]) * p["y"], "b": mg.ops.sum(p["x"] ** 2)}

    def loss(jac):
        def inner(p):
            J = jac(f)(p)
            return mg.ops.sum(J["a"]["x"]) + mg.ops.sum(J["a"]["y"]) + mg.ops.sum(J["b"]["x"])

        return inner

    p = {"x": np.array([0.5, 1.0]), "y": np.array(2.0)}
    x, y = p["x"], p["y"]
    # the Jacobian's entries sum to y sum(cos x) + sum(sin x) + 2 sum(x)
    want = {"x": -y * np.sin(x) + np.cos(x) + 2, "y": np.sum(np.cos(x))}
    for jac in (mg.jacfwd, mg.jacrev):
        got = mg.grad(loss(jac))(p)
        np.testing.assert_allclose(got["x"], want["x"], rtol=1e-12)
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-12)
    quartic = lambda x: (mg.ops.sum(x**4), x * 2.0)  # noqa: E731
    d = mg.grad(lambda x: mg.ops.sum(mg.hessian(quartic, has_aux=True)(x)[0]))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(d, [24.0, 48.0])  # d/dx sum(diag(12 x^2)) = 24 x
