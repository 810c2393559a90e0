"""mg.grad and mg.value_and_grad on Python functions, against closed forms and finite differences."""

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import check_grads, numerical_grad


def test_grad_of_a_scalar_function_matches_its_closed_form():
    f = mg.grad(lambda x: mg.ops.tanh(x) * x)
    x = 0.7
    assert float(f(x)) == pytest.approx(np.tanh(x) + x * (1 - np.tanh(x) ** 2))


def test_argnums_tuple_returns_a_tuple_in_order():
    def loss(W, b, x):
        return mg.ops.sum(mg.ops.sigmoid(W @ x + b) ** 2)

    rng = np.random.default_rng(0)
    W, b, x = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(4)
    value, (db, dW) = mg.value_and_grad(loss, argnums=(1, 0))(W, b, x)
    s = 1 / (1 + np.exp(-(W @ x + b)))
    assert float(value) == pytest.approx(np.sum(s**2))
    delta = 2 * s * s * (1 - s)
    np.testing.assert_allclose(db, delta)
    np.testing.assert_allclose(dW, np.outer(delta, x))
    dx = mg.grad(loss, argnums=2)(W, b, x)
    np.testing.assert_allclose(
        dx, numerical_grad(lambda *a: float(loss(*a)), [W, b, x], 2), rtol=1e-6
    )


def test_check_grads_on_a_traced_function_with_fan_out():
    def f(x, y):
        h = x * y
        return mg.ops.sum(h * h + mg.ops.exp(h) - y / (1.0 + x * x))

    rng = np.random.default_rng(1)
    grads = check_grads(f, rng.standard_normal((2, 3)), rng.standard_normal(3))
    assert grads[0].shape == (2, 3) and grads[1].shape == (3,)


def test_float32_arguments_get_float32_gradients():
    f = mg.grad(lambda x: mg.ops.sum(mg.ops.tanh(x * 0.5) * 2.0))
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    dx = f(x)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, 1 - np.tanh(x * 0.5) ** 2, rtol=1e-6)


def test_a_function_that_ignores_its_argument_has_a_zero_gradient():
    np.testing.assert_array_equal(
        mg.grad(lambda x, y: mg.ops.sum(y))(np.ones(3), np.ones(2)), np.zeros(3)
    )


def test_bad_uses_are_clear_errors():
    with pytest.raises(
        mg.MpgraphError,
        match="must return a scalar to be differentiated; it returned shape \\(3,\\)",
    ):
        mg.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(mg.MpgraphError, match="argument 0 has dtype int64: only float arguments"):
        mg.grad(lambda x: mg.ops.sum(x))(np.arange(3))
    with pytest.raises(mg.MpgraphError, match="argnums 3 asks for argument 3"):
        mg.grad(lambda x: x, argnums=3)(1.0)


def test_numpy_functions_inside_a_traced_function():
    f = mg.grad(lambda x: np.sum(np.exp(x) * x))
    x = np.array([0.1, -0.4])
    np.testing.assert_allclose(f(x), np.exp(x) * (1 + x))


def test_a_function_returning_more_than_a_loss_is_refused_unless_has_aux():
    f = lambda a: (mg.ops.sum(a**2), a)  # noqa: E731
    with pytest.raises(
        mg.MpgraphError,
        match="must return a scalar loss to be differentiated; it "
        "returned tuple \\(to return more, use has_aux=True",
    ):
        mg.grad(f)(np.ones(2))
    with pytest.raises(mg.MpgraphError, match="returned list"):
        mg.value_and_grad(lambda a: [mg.ops.sum(a)])(np.ones(2))
    (value, aux), da = mg.value_and_grad(f, has_aux=True)(np.array([1.0, 3.0]))
    assert float(value) == 10.0
    np.testing.assert_array_equal(aux, [1.0, 3.0])  # a node in aux comes back as its value
    np.testing.assert_array_equal(da, [2.0, 6.0])
    da, aux = mg.grad(lambda a: (mg.ops.sum(a * a), "note"), has_aux=True)(np.array([2.0]))
    np.testing.assert_array_equal(da, [4.0])
    assert aux == "note"
    with pytest.raises(
        mg.MpgraphError, match="with has_aux=True, <lambda> must return \\(loss, aux\\)"
    ):
        mg.grad(lambda a: mg.ops.sum(a), has_aux=True)(np.ones(2))


def test_equality_on_nodes_is_elementwise_as_in_numpy():
    def f(a):
        return mg.ops.sum(mg.ops.where(a == 1.0, a * 5.0, 0.0) + a * (a != 2.0))

    a = np.array([1.0, 2.0, 3.0])
    value, da = mg.value_and_grad(f)(a)
    assert float(value) == 5.0 + 1.0 + 3.0
    np.testing.assert_array_equal(da, [6.0, 0.0, 1.0])
    g = mg.Graph()
    x = g.input("x")
    assert {x: 1}[x] == 1  # nodes stay usable as dict keys


def test_higher_order_derivatives_by_nesting_grad():
    t = np.tanh(0.5)
    assert float(mg.grad(mg.grad(mg.ops.tanh))(0.5)) == pytest.approx(-2 * t * (1 - t**2))

    def derivative(f):  # of a separable sum_i f(x_i): the vector of f'(x_i), summed again
        return lambda x: mg.ops.sum(mg.grad(f)(x))

    d3 = mg.grad(derivative(derivative(lambda x: mg.ops.sum(mg.ops.exp(x * 2.0) * x))))
    x = np.array([0.3, -0.7])  # d3/dx3 of x e^(2x) is (8x + 12) e^(2x)
    np.testing.assert_allclose(d3(x), (8 * x + 12) * np.exp(2 * x), rtol=1e-12)

    def f(x, y):
        return mg.ops.sum(mg.ops.sin(x * y) if hasattr(mg.ops, "sin") else mg.ops.tanh(x * y))

    xv, yv = np.array([0.4, 1.1]), np.array([-0.3, 0.8])
    mixed = mg.grad(lambda x, y: mg.ops.sum(mg.grad(f, argnums=0)(x, y)), argnums=1)(xv, yv)
    # d/dy sum_i d/dx_i sin(x_i y_i) = d/dy y cos(xy) = cos(xy) - x y sin(xy)
    np.testing.assert_allclose(mixed, np.cos(xv * yv) - xv * yv * np.sin(xv * yv), rtol=1e-12)


def test_a_hessian_vector_product_matches_the_closed_form():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    v = np.array([1.0, -2.0])
    quad = lambda x: 0.5 * mg.ops.sum(x * (A @ x))  # noqa: E731  Hessian = A
    hvp = mg.grad(lambda x: mg.ops.sum(mg.grad(quad)(x) * v))
    np.testing.assert_allclose(hvp(np.array([0.3, 0.2])), A @ v, rtol=1e-12)


def test_an_op_without_a_differentiable_vjp_is_named_when_a_higher_order_is_asked():
    name = "dropout"  # its message needs the mask of a run: it cannot be built as nodes
    assert not mg.plugins.ops()[name].differentiable_vjp
    with pytest.raises(
        mg.GraphError,
        match=f"op '{name}' at node '{name}_1': its vjp is not declared differentiable",
    ):
        mg.grad(mg.grad(lambda x: mg.ops.sum(mg.ops.dropout(x * x, 0.5, 0))))(np.array([0.5, 2.0]))


def test_gradients_builds_the_backward_pass_as_nodes_in_a_grad_scope():
    g = mg.Graph()
    x = g.input("x", shape=())
    w = g.param("w", 3.0)
    L = mg.ops.tanh(w * x)
    dw, dx = mg.gradients(L, [w, x])
    assert dw.name.startswith("grad/") and dx.name.startswith("grad/")
    run = g.forward([dw, dx], {"x": 0.2})
    s = 1 - np.tanh(0.6) ** 2
    assert float(run[dw]) == pytest.approx(s * 0.2) and float(run[dx]) == pytest.approx(s * 3.0)
    (unused,) = mg.gradients(L, [g.param("u", np.ones(2))])
    np.testing.assert_array_equal(unused.value, np.zeros(2))
    y = g.input("y")  # no shape: broadcasting cannot be undone as nodes
    with pytest.raises(
        mg.GraphError,
        match=r"input 'y' has shape unknown: declare it, e.g. "
        r"g.input\('y', shape=\(2, 3\)\)",
    ):
        mg.gradients(y * np.ones(3), [y], seed=np.ones(3))
    z = g.input("z", shape=(None, 3))  # a batch dim left open: refused before anything is built
    before = len(g)
    with pytest.raises(mg.GraphError, match=r"input 'z' has shape \(\?, 3\): declare it"):
        mg.gradients(mg.ops.sum(mg.ops.tanh(z)), [z])
    assert len(g) == before + 2  # the tanh and the sum, no half-built gradient


def test_has_aux_returns_values_even_inside_containers():
    def f(W, x):
        h = W @ x
        return mg.ops.sum(mg.ops.tanh(h)), {"h": h, "parts": (h * 2.0, "label")}

    W, x = np.ones((2, 3)), np.arange(3.0)
    dW, aux = mg.grad(f, has_aux=True)(W, x)
    np.testing.assert_array_equal(aux["h"], W @ x)
    np.testing.assert_array_equal(aux["parts"][0], 2 * (W @ x))
    assert aux["parts"][1] == "label"
    np.testing.assert_allclose(dW, np.outer(1 - np.tanh(W @ x) ** 2, x))


def test_nested_grad_keeps_a_closed_over_variable_apart_from_the_argument():
    # d/dx [d/dy (x y)](y = x) = d/dx x = 1, not 2 (perturbation confusion)
    assert float(mg.grad(lambda x: mg.grad(lambda y: x * y)(x))(2.0)) == 1.0
    inner = lambda x: mg.grad(lambda y: mg.ops.sin(x * y))(x)  # noqa: E731  x cos(x y) at y = x
    assert float(mg.grad(inner)(2.0)) == pytest.approx(np.cos(4.0) - 8.0 * np.sin(4.0))
    # the inner gradient of a function closing over the outer variable, at a constant point
    assert float(mg.grad(lambda x: x * mg.grad(lambda y: x * y)(1.0))(2.0)) == 4.0


def test_second_derivatives_keep_float32():
    d2 = mg.grad(mg.grad(lambda x: x**3))(np.float32(0.3))
    assert d2.dtype == np.float32 and d2 == pytest.approx(1.8, rel=1e-6)
