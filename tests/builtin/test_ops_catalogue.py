"""The ops of the second catalogue against independent computations (the registry-wide checks
in test_registry_gradcheck.py cover their gradients against finite differences)."""

import math

import numpy as np
import pytest

import mpgraph as mg


def test_erf_and_erfc_match_the_c_library_and_keep_float32():
    x = np.array([-3.0, -0.5, 0.0, 0.7, 6.0])
    np.testing.assert_allclose(mg.ops.erf(x), [math.erf(v) for v in x], rtol=0, atol=0)
    np.testing.assert_allclose(mg.ops.erfc(x), [math.erfc(v) for v in x], rtol=0, atol=0)
    assert mg.ops.erf(x.astype(np.float32)).dtype == np.float32
    assert mg.ops.erfc(np.arange(3)).dtype == np.float64


def test_gelu_exact_and_tanh_against_pytorch_formulas():
    x = np.linspace(-5, 5, 11)
    cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(mg.ops.gelu(x), x * cdf, rtol=1e-15, atol=1e-15)
    tanh = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(mg.ops.gelu(x, approximate="tanh"), tanh, rtol=1e-15)
    # d/dx x Phi(x) = Phi(x) + x phi(x)
    dx = mg.grad(lambda v: mg.ops.sum(mg.ops.gelu(v)))(x)
    np.testing.assert_allclose(
        dx, cdf + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi), rtol=1e-12
    )
    g = mg.Graph()
    with pytest.raises(mg.ShapeError, match="approximate"):
        mg.ops.gelu(g.input("x", (2,)), approximate="erf")


def test_activations_stay_finite_for_large_inputs():
    x = np.array([-1e4, -50.0, 50.0, 1e4])
    for name in ("gelu", "silu", "mish", "softsign", "erf", "erfc"):
        f = getattr(mg.ops, name)
        assert np.all(np.isfinite(f(x))), name
        assert np.all(np.isfinite(mg.grad(lambda v, f=f: mg.ops.sum(f(v)))(x))), name
    np.testing.assert_allclose(mg.ops.mish(np.array([50.0, -50.0])), [50.0, 0.0], atol=1e-15)


def test_rounding_ops_send_zero_gradient():
    x = np.array([-1.5, 0.2, 2.5])
    for name in ("floor", "ceil", "trunc", "round"):
        d = mg.grad(lambda v, name=name: mg.ops.sum(getattr(mg.ops, name)(v) * v))(x)
        # d/dx (r(x) x) = r(x): only the product's other factor carries a gradient
        np.testing.assert_array_equal(d, getattr(np, name)(x))


def test_hardtanh_sends_zero_at_its_bounds_and_clip_does_not():
    x = np.array([-1.0, -0.5, 1.0, 2.0])
    d = mg.grad(lambda v: mg.ops.sum(mg.ops.hardtanh(v)))(x)
    np.testing.assert_array_equal(d, [0.0, 1.0, 0.0, 0.0])
    d = mg.grad(lambda v: mg.ops.sum(mg.ops.clip(v, -1.0, 1.0)))(x)
    np.testing.assert_array_equal(d, [1.0, 1.0, 1.0, 0.0])


def test_remainder_and_percent_on_nodes_follow_python():
    g = mg.Graph()
    x, y = g.input("x", (3,)), g.input("y", (3,))
    r = x % y
    xv, yv = np.array([7.5, -7.5, 7.5]), np.array([2.0, 2.0, -2.0])
    run = g.forward([r, 3.0 % y], {x: xv, y: yv})
    np.testing.assert_array_equal(run[r], [7.5 % 2, -7.5 % 2, 7.5 % -2])
    dx, dy = g.grad(mg.ops.sum(r), wrt=[x, y], feed={x: xv, y: yv})
    np.testing.assert_array_equal(dx, [1, 1, 1])
    np.testing.assert_array_equal(dy, -np.floor(xv / yv))


def test_nan_to_num_passes_the_signal_only_where_x_was_finite():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    out = mg.ops.nan_to_num(x, nan=0.5, posinf=9.0, neginf=-9.0)
    np.testing.assert_array_equal(out, [1.0, 0.5, 9.0, -9.0, -2.0])
    d = mg.grad(lambda v: mg.ops.sum(3.0 * mg.ops.nan_to_num(v, posinf=9.0, neginf=-9.0)))(x)
    np.testing.assert_array_equal(d, [3.0, 0.0, 0.0, 0.0, 3.0])


def test_fmax_ignores_nan_and_splits_ties():
    x, y = np.array([1.0, np.nan, 2.0, 3.0]), np.array([np.nan, 4.0, 2.0, 1.0])
    np.testing.assert_array_equal(mg.ops.fmax(x, y), [1.0, 4.0, 2.0, 3.0])
    dx, dy = mg.grad(lambda a, b: mg.ops.sum(mg.ops.fmax(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(dx, [1.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(dy, [0.0, 1.0, 0.5, 0.0])


def test_numpy_names_on_nodes_reach_the_new_ops():
    g = mg.Graph()
    x = g.input("x", (3,))
    nodes = [
        np.log2(x),
        np.rad2deg(x),
        np.deg2rad(x),
        np.fabs(x),
        np.sinc(x),
        np.round(x, 1),
        np.logaddexp(x, x),
        np.nan_to_num(x),
    ]
    assert [n.op.name for n in nodes] == [
        "log2",
        "degrees",
        "radians",
        "fabs",
        "sinc",
        "round",
        "logaddexp",
        "nan_to_num",
    ]
    xv = np.array([0.25, 1.5, 3.0])
    run = g.forward(nodes, {x: xv})
    np.testing.assert_allclose(run[nodes[1]], xv * 180 / np.pi)
    np.testing.assert_allclose(run[nodes[6]], xv + np.log(2))


def test_op_functions_show_their_real_parameters():
    import inspect

    assert str(inspect.signature(mg.ops.softmax)) == "(x, axis=-1, *, name=None)"
    assert str(inspect.signature(mg.ops.gelu)) == "(x, approximate='none', *, name=None)"
    assert str(inspect.signature(mg.ops.concatenate)) == "(arrays, axis=0, *, name=None)"
    assert str(inspect.signature(mg.ops.layer_norm)) == (
        "(x, normalized_shape, weight=None, bias=None, eps=1e-05, name=None)"
    )
    assert list(inspect.signature(mg.ops.linalg.solve_triangular).parameters) == [
        "a",
        "b",
        "trans",
        "lower",
        "unit_diagonal",
        "name",
    ]
    assert str(inspect.signature(mg.ops.linalg.qr)) == "(a, mode='reduced', name=None)"
    assert str(inspect.signature(mg.ops.linalg.eigh)) == "(a, name=None)"
    assert str(inspect.signature(mg.ops.linalg.slogdet)) == "(a, name=None)"
    from mpgraph.hooks.manager import ops

    for name in ops():  # no catch-all **kwargs: every parameter is named
        f = mg.ops
        for part in name.split("."):
            f = getattr(f, part)
        kinds = [p.kind for p in inspect.signature(f).parameters.values()]
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{name}: {inspect.signature(f)}"
    # the signature is the truth: binding by it works for every op
    for name in ("exp", "add", "clip", "reshape", "take", "cross_entropy"):
        assert "name" in inspect.signature(getattr(mg.ops, name)).parameters


def test_help_shows_the_signature_and_the_formula():
    import pydoc

    text = pydoc.render_doc(mg.ops.gelu, renderer=pydoc.plaintext)
    assert "gelu(x, approximate='none', *, name=None)" in text
    assert "Derivative: Phi(x) + x phi(x)" in text


THIRD_ORDER = """sin cos tan tanh sinh cosh exp expm1 log log1p log2 log10 exp2 sqrt square
reciprocal arcsin arccos arctan arcsinh arccosh arctanh erf erfc gelu silu mish softsign softplus
sigmoid sinc""".split()


@pytest.mark.parametrize("name", THIRD_ORDER)
def test_elementwise_ops_differentiate_three_times(name):
    """The third derivative, by nesting mg.grad twice inside a finite-difference check, as
    autograd's tests differentiate these functions to third order."""
    from mpgraph.hooks.manager import ops
    from mpgraph.testing import check_grads, samples

    op = ops()[name]
    x = next(
        np.asarray(a[0], dtype=float)
        for a, _ in samples(op, np.random.default_rng(0))
        if np.ndim(a[0]) == 2
    )
    f = getattr(mg.ops, name)
    rng = np.random.default_rng(1)
    v, u = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    first = mg.grad(lambda a: mg.ops.sum(f(a)))
    second = mg.grad(lambda a: mg.ops.sum(v * first(a)))
    check_grads(lambda a: mg.ops.sum(u * second(a)), x, rtol=1e-4, atol=1e-6)
