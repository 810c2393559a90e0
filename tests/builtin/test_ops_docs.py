"""docs/ops.md is generated from the registry and must not fall behind it."""

import importlib.util
from pathlib import Path

from mpgraph.hooks.manager import BUILTIN, ops

ROOT = Path(__file__).resolve().parents[2]

CATALOGUE = """
negative exp expm1 log log1p sqrt square abs sin cos tan tanh sinh cosh arctan sigmoid relu
leaky_relu softplus elu clip add subtract multiply divide power maximum minimum where greater
greater_equal less less_equal equal not_equal sum mean max min prod var std logsumexp norm
matmul dot outer transpose einsum trace linalg.inv linalg.solve linalg.det reshape expand_dims
squeeze broadcast_to concatenate stack split flip tile repeat pad getitem softmax log_softmax
softmax_cross_entropy mean_squared_error binary_cross_entropy_with_logits dropout
erf erfc gelu silu mish softsign hardtanh floor ceil round trunc log2 log10 exp2 arcsin arccos
arcsinh arccosh arctanh degrees radians reciprocal sinc fabs logaddexp logaddexp2 fmax fmin
remainder nan_to_num take take_along_axis index_add scatter_add embedding one_hot sort argsort
topk argmax argmin layer_norm group_norm batch_norm batch_norm_update scaled_dot_product_attention
cross_entropy nll_loss huber_loss kl_div vstack hstack dstack column_stack row_stack append
array_split vsplit hsplit dsplit atleast_1d atleast_2d atleast_3d ravel swapaxes moveaxis rollaxis
flipud fliplr rot90 roll tril triu diag diagonal cumsum cumprod diff tensordot inner kron cross
linalg.cholesky linalg.qr linalg.svd linalg.eigh linalg.slogdet linalg.pinv linalg.lstsq
linalg.matrix_power linalg.solve_triangular select partition argpartition gradient linspace astype
""".split()


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_ops_table", ROOT / "docs" / "make_ops_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_ops_md_is_up_to_date_with_the_registry():
    assert (ROOT / "docs" / "ops.md").read_text() == _generator().render(), (
        "docs/ops.md is out of date: run python docs/make_ops_table.py"
    )


def test_every_builtin_op_documents_its_formula_and_derivative():
    parts = _generator()._parts
    for name, op in ops().items():
        if op.plugin in BUILTIN:
            formula, derivative, _ = parts(op.doc)
            assert formula and derivative, (
                f"op '{name}' lacks a formula or a 'Derivative:' paragraph"
            )


def test_the_whole_catalogue_is_registered_by_the_builtin_plugins():
    table = ops()
    missing = [n for n in CATALOGUE if n not in table or table[n].plugin not in BUILTIN]
    assert not missing, f"not registered: {missing}"
