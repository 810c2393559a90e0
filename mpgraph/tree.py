"""A small pure-Python pytree: nested dicts, lists, tuples and namedtuples of leaves.

Dicts flatten in sorted-key order (as JAX does); ``None`` is an empty subtree.

>>> leaves, treedef = tree_flatten({"b": [1, 2], "a": (3, None)})
>>> leaves
[3, 1, 2]
>>> tree_unflatten(treedef, [x * 10 for x in leaves])
{'a': (30, None), 'b': [10, 20]}
>>> tree_map(lambda x, y: x + y, [1, (2, 3)], [10, (20, 30)])
[11, (22, 33)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .errors import TreeError

__all__ = [
    "TreeDef",
    "tree_flatten",
    "tree_flatten_with_path",
    "tree_leaves",
    "tree_leaves_like",
    "tree_map",
    "tree_unflatten",
]


class TreeDef(NamedTuple):
    """The structure of a pytree: a node kind, its metadata and its children's structures."""

    kind: str  # "leaf", "none", "dict", "list", "tuple" or "namedtuple"
    meta: Any  # sorted keys for dicts, the class for namedtuples
    children: tuple

    @property
    def num_leaves(self) -> int:
        """How many leaves a tree of this structure holds."""
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)


_LEAF = TreeDef("leaf", None, ())


def _children(tree: Any) -> tuple[str, Any, list]:
    if tree is None:
        return "none", None, []
    if isinstance(tree, dict):
        keys = tuple(sorted(tree))
        return "dict", keys, [tree[k] for k in keys]
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return "namedtuple", type(tree), list(tree)
    if isinstance(tree, (list, tuple)):
        return ("list" if isinstance(tree, list) else "tuple"), None, list(tree)
    return "leaf", None, []


def tree_flatten(tree: Any) -> tuple[list, TreeDef]:
    """Split ``tree`` into its leaves (left to right) and its structure.

    Examples
    --------
    >>> tree_flatten([1, {"x": 2}])[0]
    [1, 2]
    """
    kind, meta, kids = _children(tree)
    if kind == "leaf":
        return [tree], _LEAF
    leaves: list = []
    defs = []
    for kid in kids:
        sub, d = tree_flatten(kid)
        leaves.extend(sub)
        defs.append(d)
    return leaves, TreeDef(kind, meta, tuple(defs))


def tree_flatten_with_path(tree: Any) -> tuple[list[tuple[str, Any]], TreeDef]:
    """As :func:`tree_flatten`, each leaf paired with its path as Python indexing
    (``"['layer1']['w']"``, ``"[0]"``, ``".bias"`` for a namedtuple field), for messages.

    Examples
    --------
    >>> tree_flatten_with_path({"w": [1, 2]})[0]
    [("['w'][0]", 1), ("['w'][1]", 2)]
    """
    kind, meta, kids = _children(tree)
    if kind == "leaf":
        return [("", tree)], _LEAF
    if kind == "dict":
        keys = [f"[{k!r}]" for k in meta]
    elif kind == "namedtuple":
        keys = [f".{f}" for f in meta._fields]
    else:
        keys = [f"[{i}]" for i in range(len(kids))]
    pairs: list = []
    defs = []
    for key, kid in zip(keys, kids):
        sub, d = tree_flatten_with_path(kid)
        pairs.extend((key + path, leaf) for path, leaf in sub)
        defs.append(d)
    return pairs, TreeDef(kind, meta, tuple(defs))


def tree_unflatten(treedef: TreeDef, leaves: list) -> Any:
    """Rebuild a tree of structure ``treedef`` from ``leaves``.

    Raises
    ------
    TreeError
        If the number of leaves does not match the structure.

    Examples
    --------
    >>> _, d = tree_flatten((1, [2]))
    >>> tree_unflatten(d, ["a", "b"])
    ('a', ['b'])
    """
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise TreeError(
            f"mpgraph: tree structure holds {treedef.num_leaves} leaves, got {len(leaves)}"
        )
    it = iter(leaves)
    return _build(treedef, it)


def _build(d: TreeDef, it) -> Any:
    if d.kind == "leaf":
        return next(it)
    if d.kind == "none":
        return None
    kids = [_build(c, it) for c in d.children]
    if d.kind == "dict":
        return dict(zip(d.meta, kids))
    if d.kind == "namedtuple":
        return d.meta(*kids)
    return list(kids) if d.kind == "list" else tuple(kids)


def tree_leaves(tree: Any) -> list:
    """The leaves of ``tree``, left to right (dicts by sorted key).

    >>> tree_leaves({"b": 1, "a": [2, None]})
    [2, 1]
    """
    return tree_flatten(tree)[0]


def tree_leaves_like(treedef: TreeDef, tree: Any) -> list:
    """The leaves of ``tree`` read in the structure ``treedef``, where ``None`` in place of a
    leaf or of a whole subtree stands for as many ``None`` leaves: how a cotangent or tangent
    given as ``None`` (zero, as JAX reads it) lines up with its primal's leaves.

    Raises
    ------
    TreeError
        If ``tree`` has another structure than ``treedef`` (beyond the ``None`` subtrees).

    >>> _, d = tree_flatten({"w": 1, "b": (2, 3)})
    >>> tree_leaves_like(d, {"w": 10, "b": None})
    [None, None, 10]
    """
    if treedef.kind == "leaf":
        return [tree]
    if tree is None:
        return [None] * treedef.num_leaves
    kind, meta, kids = _children(tree)
    if kind != treedef.kind or meta != treedef.meta or len(kids) != len(treedef.children):
        raise TreeError(
            f"mpgraph: expected {_describe(treedef.kind, treedef.meta, treedef.children)}, "
            f"got {_describe(kind, meta, kids)}"
        )
    return [leaf for d, kid in zip(treedef.children, kids) for leaf in tree_leaves_like(d, kid)]


def _describe(kind: str, meta: Any, kids: Sequence) -> str:
    if kind == "leaf":
        return "a leaf"
    if kind == "dict":
        return f"a dict with keys {list(meta)}"
    if kind == "namedtuple":
        return f"a {meta.__name__}"
    if kind == "none":
        return "None"
    return f"a {kind} of {len(kids)}"


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` to the leaves of ``tree`` (and matching leaves of ``rest``), keeping structure.

    Raises
    ------
    TreeError
        If a tree in ``rest`` has another structure.

    >>> tree_map(lambda x: x * 2, {"w": 1, "b": (2,)})
    {'b': (4,), 'w': 2}
    """
    leaves, d = tree_flatten(tree)
    others = []
    for r in rest:
        lv, rd = tree_flatten(r)
        if rd != d:
            raise TreeError(f"mpgraph: tree structures differ: {d} and {rd}")
        others.append(lv)
    return tree_unflatten(d, [f(*xs) for xs in zip(leaves, *others)])
