"""Everything an op author needs, in one import.

The built-in ops (``mpgraph.builtin``) are written with exactly this module, as a third-party
plugin is::

    from mpgraph.extend import Op, hookimpl, unbroadcast, cases

See ``docs/plugins.md`` for a worked example.
"""
from .contract.op import Op, is_graph_node
from .contract.samples import cases, chain, doc, float_dtype, normal, positive, unit
from .contract.shapes import (Shape, broadcast_shapes, normalize_axis, reduce_shape, same_shape,
                              unbroadcast)
from .hooks.manager import hookimpl

__all__ = ["Op", "Shape", "broadcast_shapes", "cases", "chain", "doc", "float_dtype", "hookimpl",
           "is_graph_node", "normal", "normalize_axis", "positive", "reduce_shape", "same_shape",
           "unbroadcast", "unit"]
