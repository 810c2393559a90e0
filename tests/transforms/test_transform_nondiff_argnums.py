"""mg.custom_vjp and mg.custom_jvp with nondiff_argnums, as in JAX: numbers, strings, callables
and constant arrays that are not differentiated, passed first to bwd and to the jvp rule; against
closed forms and finite differences, eagerly, under mg.grad and on graph nodes."""

import functools
import gc
import weakref

import numpy as np
import pytest

import mpgraph as mg
from mpgraph.testing import check_grads, numerical_grad
from mpgraph.transforms.custom import inside

X = np.array([0.3, -2.0, 1.5, 0.05])

# -- custom_vjp: a clip bound, a float that is not differentiated ---------------------------------

seen = []  # what bwd was given before the residuals


@functools.partial(mg.custom_vjp, nondiff_argnums=(1,))
def clip_gradient(x, bound):
    """The identity, with its gradient clipped to [-bound, bound]."""
    return x * 1.0


def _clip_fwd(x, bound):
    return clip_gradient(x, bound), None


def _clip_bwd(bound, res, g):
    seen.append(bound)
    return (mg.ops.clip(g, -bound, bound),)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_a_nondiff_float_bound_clips_the_gradient_and_reaches_bwd_as_it_is():
    seen.clear()
    for bound in (0.5, 2.0, 0.5, 3):  # each bound its own rule, 0.5 the second time too
        got = mg.grad(lambda x, b=bound: mg.ops.sum(clip_gradient(x, b) ** 2))(X)
        np.testing.assert_allclose(got, np.clip(2 * X, -bound, bound))
    assert seen == [0.5, 2.0, 0.5, 3] and type(seen[-1]) is int
    np.testing.assert_array_equal(clip_gradient(X, 0.5), X)  # eagerly: the function runs


def test_on_graph_nodes_the_bound_is_no_argument_of_the_node():
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    y = clip_gradient(x, 1.0)
    assert y.op.name == "clip_gradient" and [p.kind for p in y.args] == ["input"]
    assert [n.name for n in inside(y).inputs] == ["x"]  # the inside's inputs: x only
    L = mg.ops.sum(3.0 * y)
    np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": X}), np.ones(4))  # 3, clipped
    np.testing.assert_allclose(g.forward(y, {"x": X})[y], X)


def test_the_kept_rule_does_not_keep_the_graph_of_the_call_that_built_it():
    g = mg.Graph()
    y = clip_gradient(g.input("x", shape=(4,)), 0.25)
    alive = weakref.ref(g)
    del g, y
    gc.collect()
    assert alive() is None
    g = mg.Graph()  # the kept rule, on another graph
    x = g.input("x", shape=(4,))
    L = mg.ops.sum(clip_gradient(x, 0.25))
    np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": X}), np.full(4, 0.25))


def test_a_negative_position_counts_from_the_end_as_a_python_index():
    @functools.partial(mg.custom_vjp, nondiff_argnums=(-1,))
    def scaled(x, s):
        return x * s

    scaled.defvjp(lambda x, s: (scaled(x, s), None), lambda s, res, g: (g * s,))
    np.testing.assert_allclose(mg.grad(lambda x: mg.ops.sum(scaled(x, 3.0)))(X), np.full(4, 3.0))


# -- custom_vjp: an activation chosen by name ----------------------------------------------------

ACTIVATIONS = {
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "softplus": (lambda x: np.log1p(np.exp(x)), lambda x: 1 / (1 + np.exp(-x))),
}


@functools.partial(mg.custom_vjp, nondiff_argnums=(0,))
def activation(name, x):
    return {"tanh": mg.ops.tanh, "sigmoid": mg.ops.sigmoid, "softplus": mg.ops.softplus}[name](x)


def _activation_fwd(name, x):
    return activation(name, x), x


def _activation_bwd(name, x, g):
    if name == "tanh":
        return (g * (1 - mg.ops.tanh(x) ** 2),)
    s = mg.ops.sigmoid(x)
    return (g * s * (1 - s),) if name == "sigmoid" else (g * s,)


activation.defvjp(_activation_fwd, _activation_bwd)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_an_activation_name_selects_the_function_and_its_gradient(name):
    f, df = ACTIVATIONS[name]
    w = np.array([1.0, -0.5, 2.0, 0.25])
    loss = lambda x: mg.ops.sum(w * activation(name, x))  # noqa: E731
    np.testing.assert_allclose(activation(name, X), f(X), rtol=1e-12)
    np.testing.assert_allclose(mg.grad(loss)(X), w * df(X), rtol=1e-10)
    np.testing.assert_allclose(
        mg.grad(loss)(X), numerical_grad(lambda x: float(loss(x)), [X], 0), rtol=1e-6
    )
    # on graph nodes, differentiated by the graph
    g = mg.Graph()
    x = g.input("x", shape=(4,))
    L = mg.ops.sum(w * activation(name, x))
    np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": X}), w * df(X), rtol=1e-10)


def test_second_derivatives_run_through_bwd_with_its_nondiff_arguments():
    # bwd is written with mg.ops, so it is differentiated again: the Hessian of
    # sum(tanh(x)) is diag(-2 tanh (1 - tanh^2))
    t = np.tanh(X)
    total = lambda x: mg.ops.sum(activation("tanh", x))  # noqa: E731
    np.testing.assert_allclose(mg.hessian(total)(X), np.diag(-2 * t * (1 - t**2)), rtol=1e-10)
    check_grads(lambda x: mg.ops.sum(mg.grad(total)(x) * X), X)
    # forward mode through a custom_vjp transposes bwd
    v = np.array([1.0, 2.0, -1.0, 0.5])
    out, tangent = mg.jvp(lambda x: activation("softplus", x), (X,), (v,))
    np.testing.assert_allclose(out, np.log1p(np.exp(X)), rtol=1e-12)
    np.testing.assert_allclose(tangent, v / (1 + np.exp(-X)), rtol=1e-10)


# -- custom_vjp: callables, their order, constant arrays ------------------------------------------


@functools.partial(mg.custom_vjp, nondiff_argnums=(2, 0))
def elementwise(fn, x, dfn):
    """fn(x), differentiated by the derivative it is given."""
    return fn(x)


def _elementwise_fwd(fn, x, dfn):
    return elementwise(fn, x, dfn), x


def _elementwise_bwd(dfn, fn, x, g):  # in the order of nondiff_argnums: 2, then 0
    return (g * dfn(x),)


elementwise.defvjp(_elementwise_fwd, _elementwise_bwd)


def test_callables_are_nondiff_arguments_passed_in_the_order_of_nondiff_argnums():
    loss = lambda x: mg.ops.sum(elementwise(mg.ops.sin, x, mg.ops.cos))  # noqa: E731
    np.testing.assert_allclose(mg.grad(loss)(X), np.cos(X), rtol=1e-12)
    # a lambda made afresh on each call has its own rule: no rule of another call is reused
    for k in (2.0, -3.0):
        cube = lambda x, k=k: mg.ops.sum(  # noqa: E731
            elementwise(lambda t: k * t**3, x, lambda t: 3 * k * t**2)
        )
        np.testing.assert_allclose(mg.grad(cube)(X), 3 * k * X**2, rtol=1e-12)
    # the derivative it is given is what bwd uses, right or wrong: here twice the true one
    wrong = lambda x: mg.ops.sum(elementwise(mg.ops.exp, x, lambda t: 2 * mg.ops.exp(t)))  # noqa: E731
    np.testing.assert_allclose(mg.grad(wrong)(X), 2 * np.exp(X), rtol=1e-12)


@functools.partial(mg.custom_vjp, nondiff_argnums=(1,))
def weighted_square(x, config):
    """sum(w * x**2) with the weights in a dict: an unhashable, constant argument."""
    return mg.ops.sum(config["w"] * x * x)


weighted_square.defvjp(
    lambda x, config: (weighted_square(x, config), x),
    lambda config, x, g: (2 * g * config["w"] * x,),
)


def test_constant_arrays_in_an_unhashable_nondiff_argument_are_read_on_each_call():
    for w in (np.array([1.0, 2.0, 3.0, 4.0]), np.array([-1.0, 0.0, 0.5, 2.0])):
        got = mg.grad(lambda x, w=w: weighted_square(x, {"w": w}))(X)
        np.testing.assert_allclose(got, 2 * w * X, rtol=1e-12)
        check_grads(lambda x, w=w: weighted_square(x, {"w": w}), X)


# -- custom_jvp ------------------------------------------------------------------------------------


@functools.partial(mg.custom_jvp, nondiff_argnums=(1,))
def power(x, p):
    return x**p


def _power_jvp(p, primals, tangents):
    (x,), (t,) = primals, tangents  # the differentiable argument only
    return power(x, p), p * x ** (p - 1) * t


power.defjvp(_power_jvp)


@functools.partial(mg.custom_jvp, nondiff_argnums=(0,))
def act(name, x):
    return mg.ops.tanh(x) if name == "tanh" else mg.ops.sigmoid(x)


def _act_jvp(name, primals, tangents):
    (x,), (t,) = primals, tangents
    y = act(name, x)
    return y, (1 - y * y if name == "tanh" else y * (1 - y)) * t


act.defjvp(_act_jvp)


def test_custom_jvp_takes_a_nondiff_int_forward_and_transposed():
    v = np.array([1.0, -1.0, 2.0, 0.5])
    for p in (2, 3, 2):  # each exponent its own rule
        out, t = mg.jvp(lambda x, p=p: power(x, p), (X,), (v,))
        np.testing.assert_allclose(out, X**p, rtol=1e-12)
        np.testing.assert_allclose(t, p * X ** (p - 1) * v, rtol=1e-12)
        np.testing.assert_allclose(
            mg.grad(lambda x, p=p: mg.ops.sum(power(x, p)))(X), p * X ** (p - 1), rtol=1e-12
        )
    # the transposed rule is differentiable again: the Hessian of sum(x^3) is diag(6 x)
    np.testing.assert_allclose(
        mg.hessian(lambda x: mg.ops.sum(power(x, 3)))(X), np.diag(6 * X), rtol=1e-10
    )
    np.testing.assert_allclose(mg.jacfwd(lambda x: power(x, 2))(X), np.diag(2 * X), rtol=1e-12)


def test_custom_jvp_with_an_activation_name_against_finite_differences():
    for name, (f, df) in (("tanh", ACTIVATIONS["tanh"]), ("sigmoid", ACTIVATIONS["sigmoid"])):
        loss = lambda x, name=name: mg.ops.sum(act(name, x) * X)  # noqa: E731
        np.testing.assert_allclose(act(name, X), f(X), rtol=1e-12)
        np.testing.assert_allclose(mg.grad(loss)(X), X * df(X), rtol=1e-10)
        check_grads(loss, X)
        g = mg.Graph()
        x = g.input("x", shape=(4,))
        y = act(name, x)
        assert [p.kind for p in y.args] == ["input"]
        np.testing.assert_allclose(
            g.grad(mg.ops.sum(y * X), wrt=x, feed={"x": X}), X * df(X), rtol=1e-10
        )


# -- what is refused, and why ----------------------------------------------------------------------


def test_a_graph_node_as_a_nondiff_argument_is_refused_naming_the_function_and_position():
    why = r"a nondiff argument is a constant of the node and cannot depend on what is traced"
    with pytest.raises(
        mg.UsageError,
        match=r"argument 1 of clip_gradient \(a custom_vjp function\) is graph node 'max_\d+', "
        r"but position 1 is in nondiff_argnums: " + why,
    ):
        mg.grad(lambda x: mg.ops.sum(clip_gradient(x, mg.ops.max(x))))(X)
    g = mg.Graph()
    x, s = g.input("x", shape=(4,)), g.input("s", shape=())
    with pytest.raises(mg.UsageError, match=r"argument 1 leaf \['c'\] of weighted_square .* 's'"):
        weighted_square(x, {"c": s})
    with pytest.raises(mg.MpgraphError, match=r"argument 0 of act \(a custom_jvp function\)"):
        act(s, x)  # refused even where the differentiated arguments are plain arrays
    with pytest.raises(mg.UsageError, match=r"argument 0 of act .* graph node 's'"):
        act(s, X)


def test_nondiff_positions_out_of_range_twice_or_not_ints_are_refused():
    with pytest.raises(
        mg.UsageError,
        match=r"nondiff_argnums \(1,\) of clip_gradient \(a custom_vjp function\) ask for "
        r"argument 1, but clip_gradient got 1 argument$",
    ):
        clip_gradient(X)
    with pytest.raises(mg.UsageError, match=r"ask for argument 2, but elementwise got 2 arguments"):
        elementwise(mg.ops.sin, X)

    def f(x, c, *shift):
        return x * c + sum(shift)

    with pytest.raises(
        mg.UsageError, match=r"nondiff_argnums \(1, 1\) of f .* name argument 1 twice"
    ):
        mg.custom_vjp(f, nondiff_argnums=(1, 1))
    with pytest.raises(mg.UsageError, match=r"nondiff_argnums of f \(a custom_jvp function\) must"):
        mg.custom_jvp(f, nondiff_argnums=("c",))
    twice = mg.custom_vjp(f, nondiff_argnums=(1, -1))  # the same argument when given two
    twice.defvjp(lambda x, *cs: (f(x, *cs), None), lambda c, d, res, g: (g * c,))
    with pytest.raises(
        mg.UsageError, match=r"name argument 1 twice: with 2 arguments, -1 is argument 1"
    ):
        mg.grad(lambda x: mg.ops.sum(twice(x, 2.0)))(X)
    # given three, -1 is argument 2: bwd gets c = 2.0 and d = 5.0
    np.testing.assert_allclose(mg.grad(lambda x: mg.ops.sum(twice(x, 2.0, 5.0)))(X), 2 * np.ones(4))
    assert float(twice(3.0, 2.0, 5.0)) == 11.0


def test_bwd_returns_cotangents_for_the_differentiable_arguments_only():
    @functools.partial(mg.custom_vjp, nondiff_argnums=(1,))
    def shift(x, c, y):
        return x + y["a"] + y["b"] + c

    fwd = lambda x, c, y: (shift(x, c, y), None)  # noqa: E731
    loss = lambda x: mg.ops.sum(shift(x, 4.0, {"a": x, "b": 2.0 * x}))  # noqa: E731
    shift.defvjp(fwd, lambda c, res, g: (g, None, {"a": g, "b": g}))
    with pytest.raises(
        mg.MpgraphError,
        match=r"bwd of shift must return a tuple with one entry per argument not in "
        r"nondiff_argnums \(2\); it returned a tuple of 3",
    ):
        mg.grad(loss)(X)
    shift.defvjp(fwd, lambda c, res, g: (g, {"a": g}))
    with pytest.raises(
        mg.MpgraphError,
        match=r"bwd of shift: entry 1 must have the structure of argument 2 \(or be None\): "
        r"expected a dict with keys \['a', 'b'\], got a dict with keys \['a'\]",
    ):
        mg.grad(loss)(X)
    shift.defvjp(fwd, lambda c, res, g: (c * g, {"a": g, "b": None}))  # 4 + 1 + 2 * 0
    np.testing.assert_allclose(mg.grad(loss)(X), np.full(4, 5.0))


def test_a_string_at_a_differentiable_position_points_to_nondiff_argnums():
    plain = mg.custom_vjp(lambda name, x: x * 2.0)
    plain.defvjp(lambda name, x: (x * 2.0, None), lambda res, g: (None, 2.0 * g))
    with pytest.raises(
        mg.MpgraphError,
        match=r"argument 0 of <lambda> \(a custom_vjp function\) is str \('relu'\).*"
        r"or name its position in nondiff_argnums",
    ):
        mg.grad(lambda x: mg.ops.sum(plain("relu", x)))(X)
