"""Everything an op author needs, in one import.

The built-in ops (``mpgraph.builtin``) are written with exactly this module, as a third-party
plugin is::

    from mpgraph.extend import Op, hookimpl, unbroadcast, cases
    from mpgraph.extend import elementwise_unary, broadcasting_binary   # common shapes of op

Ops written in NumPy's names run on any array library that implements NumPy's dispatch
protocols (CuPy, Dask): create arrays with ``np.zeros_like(x)`` or ``np.eye(n, like=like(x))``
so that they are made where ``x`` lives (``docs/backends.md``).

See ``docs/plugins.md`` for a worked example.
"""

from .backend import add_at, as_array, like, to_numpy
from .contract.op import Op, is_graph_node
from .contract.rules import (
    apply_op,
    broadcasting_binary,
    comparison,
    elementwise_unary,
    reduction,
    signal_as_is,
    signal_times_x,
    signal_times_y,
    zero_gradient,
)
from .contract.samples import (
    BINARY,
    BINARY_POSITIVE,
    UNARY,
    UNARY_POSITIVE,
    UNARY_UNIT,
    cases,
    chain,
    doc,
    float_dtype,
    normal,
    positive,
    unit,
)
from .contract.shapes import (
    Shape,
    broadcast_shapes,
    normalize_axis,
    reduce_shape,
    same_shape,
    unbroadcast,
)
from .errors import GraphError, ShapeError
from .hooks.manager import hookimpl

__all__ = [
    "BINARY",
    "BINARY_POSITIVE",
    "GraphError",
    "Op",
    "Shape",
    "ShapeError",
    "UNARY",
    "UNARY_POSITIVE",
    "UNARY_UNIT",
    "add_at",
    "apply_op",
    "as_array",
    "broadcast_shapes",
    "broadcasting_binary",
    "cases",
    "chain",
    "comparison",
    "doc",
    "elementwise_unary",
    "float_dtype",
    "hookimpl",
    "is_graph_node",
    "like",
    "normal",
    "normalize_axis",
    "positive",
    "reduce_shape",
    "reduction",
    "same_shape",
    "signal_as_is",
    "signal_times_x",
    "signal_times_y",
    "to_numpy",
    "unbroadcast",
    "unit",
    "zero_gradient",
]
