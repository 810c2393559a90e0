"""The exceptions mpgraph raises.

Every message starts with ``mpgraph:`` and names what it is about (the node, the op or the
plugin), what was expected and what came, e.g.::

    mpgraph: op 'matmul' at node 'layer1/matmul_2': shapes (3, 4) and (5, 2) do not align (4 != 5)
"""

from __future__ import annotations

__all__ = [
    "ArityError",
    "FeedError",
    "GraphError",
    "LayoutError",
    "LoadError",
    "MpgraphError",
    "OpError",
    "PluginError",
    "SaveError",
    "ShapeError",
    "UnknownOpError",
    "a_kind",
    "at",
]


class MpgraphError(Exception):
    """Base class of every error mpgraph raises on purpose."""


class GraphError(MpgraphError, ValueError):
    """A graph cannot be built as asked: unknown op, wrong arity, cycle, duplicate name, ..."""


class ArityError(GraphError, TypeError):
    """An op got the wrong number of array arguments, or an attribute it does not take."""


class UnknownOpError(GraphError, AttributeError):
    """No plugin defines an op of that name (an AttributeError too, for ``mg.ops.<name>``)."""


class ShapeError(GraphError):
    """Shapes do not fit: found when a node is built or when a vjp sends a message of the wrong shape."""


class FeedError(MpgraphError, ValueError):
    """A feed is missing, names no input, or has the wrong shape or dtype."""


class UsageError(MpgraphError, TypeError):
    """A node or an op function used in a way it does not support: ``bool(node)``, a NumPy
    function that has no op, ``name=`` on plain arrays."""


class TreeError(MpgraphError, ValueError):
    """Pytrees (``mg.tree``) whose structures do not match."""


class OpError(MpgraphError, RuntimeError):
    """An op's forward or vjp raised while a graph ran; the original exception is chained."""


class PluginError(MpgraphError):
    """A plugin or one of its op definitions is malformed, or two plugins define the same op."""


class LayoutError(MpgraphError, RuntimeError):
    """No layout program can draw the picture in the format asked for, or it failed."""


class SaveError(MpgraphError, TypeError):
    """A graph holds something the file format cannot represent."""


class LoadError(MpgraphError, ValueError):
    """A file is not a saved graph, or one part of it is wrong; the message names the part."""


class WorkerError(MpgraphError, RuntimeError):
    """A distributed worker raised, or died more often than allowed; the worker and its shard
    are named and the worker's exception is chained."""


def a_kind(kind: str) -> str:
    """``"an input"``, ``"a param"``: a node kind with its article, for messages."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def at(op: str | None, node: str | None) -> str:
    """The ``op 'x' at node 'y'`` prefix shared by messages about one node."""
    if op is None:
        return f"mpgraph: node '{node}'"
    if node is None:
        return f"mpgraph: op '{op}'"
    return f"mpgraph: op '{op}' at node '{node}'"
