"""The differentiated arguments of a call, flattened to leaves and rebuilt.

Every transformation takes pytrees (nested dicts, lists, tuples and namedtuples of arrays, see
:mod:`mpgraph.tree`) for the arguments named by ``argnums``. :class:`FlatArgs` turns such a call
into a call of a function of leaves, which the engine knows how to trace, and puts results
back into the arguments' structures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..backend import as_array, not_dispatching
from ..engine.node import Node
from ..errors import MpgraphError
from ..tree import TreeDef, tree_flatten, tree_flatten_with_path, tree_unflatten

__all__ = ["FlatArgs", "check_leaf", "fn_name"]


def fn_name(fn: Callable) -> str:
    """The function's name for messages."""
    return getattr(fn, "__name__", "the function")


def check_leaf(fn: Callable, k: int, path: str, leaf: Any) -> None:
    """Refuse a leaf that cannot be differentiated: not a float array (or number, or node).

    Raises
    ------
    MpgraphError
        Naming the argument, the leaf's path in it, and what the leaf is.
    """
    if type(leaf) is Node:
        return
    where = f"argument {k}{' leaf ' + path if path else ''}"
    refused = not_dispatching(leaf, f"{where} of {fn_name(fn)}")
    if refused is not None:
        raise MpgraphError(refused)
    try:  # an array of another library (CuPy, Dask) is read, not converted
        dtype = as_array(leaf).dtype
    except ValueError as e:  # a ragged list of numbers
        raise MpgraphError(f"mpgraph: {where} of {fn_name(fn)} is not an array: {e}") from None
    if dtype.kind in "fc":
        return
    if dtype.kind in "biu":
        raise MpgraphError(
            f"mpgraph: {where} has dtype {dtype}: only float arguments can be "
            "differentiated (pass e.g. 1.0, not 1)"
        )
    raise MpgraphError(
        f"mpgraph: {where} of {fn_name(fn)} is {type(leaf).__name__} "
        f"({leaf!r:.40}), not an array: a differentiated argument must be a float "
        "array or number, or nested dicts, lists, tuples and namedtuples of them"
    )


class FlatArgs:
    """A call's positional arguments with those in ``argnums`` split into leaves.

    Parameters
    ----------
    fn : callable
        The function called (for messages).
    args : tuple
        The positional arguments.
    argnums : int or sequence of int
        Which arguments are differentiated; each may be a pytree.

    Attributes
    ----------
    flat : list
        The arguments with each differentiated one replaced by its leaves, in place.
    leaf_argnums : tuple of int
        The positions in ``flat`` of the differentiated leaves.
    leaf_names : tuple of str
        A name for each differentiated leaf, in the order of ``leaf_argnums``: ``arg0`` for an
        array argument, ``arg0['w']`` for a leaf of a pytree (errors and pictures use it).

    Raises
    ------
    MpgraphError
        An argnum out of range, or a leaf that is not a float array (see :func:`check_leaf`).

    Examples
    --------
    >>> import numpy as np
    >>> fa = FlatArgs(print, ({"w": 1.0, "b": 2.0}, "x"), 0)
    >>> fa.flat, fa.leaf_argnums
    ([2.0, 1.0, 'x'], (0, 1))
    >>> fa.regroup([20.0, 10.0])
    {'b': 20.0, 'w': 10.0}
    """

    def __init__(self, fn: Callable, args: Sequence[Any], argnums: int | Sequence[int]) -> None:
        self.single = isinstance(argnums, (int, np.integer))
        nums = (int(argnums),) if self.single else tuple(int(k) for k in argnums)
        n = len(args)
        for k in nums:
            if not -n <= k < n:
                raise MpgraphError(
                    f"mpgraph: argnums {argnums} asks for argument {k}, but {fn_name(fn)} got {n}"
                )
        self.nums = tuple(k % n for k in nums)
        self.fn = fn
        self.flat: list = []
        self.spans: dict[int, tuple[int, int, TreeDef | None]] = {}  # arg -> (start, stop, def)
        names: dict[int, str] = {}
        for k, a in enumerate(args):
            start = len(self.flat)
            if k in self.nums:
                pairs, treedef = tree_flatten_with_path(a)
                for i, (path, leaf) in enumerate(pairs):
                    check_leaf(fn, k, path, leaf)
                    names[start + i] = f"arg{k}{path}"
                self.flat.extend(leaf for _, leaf in pairs)
                self.spans[k] = (start, len(self.flat), treedef)
            else:
                self.flat.append(a)
                self.spans[k] = (start, start + 1, None)
        self.leaf_argnums = tuple(
            i for k in dict.fromkeys(self.nums) for i in range(*self.spans[k][:2])
        )
        self.leaf_names = tuple(names[i] for i in self.leaf_argnums)

    def rebuild(self, flat: Sequence[Any]) -> list:
        """The positional arguments from a flat list like :attr:`flat`."""
        out = []
        for k in sorted(self.spans):
            start, stop, treedef = self.spans[k]
            out.append(
                flat[start] if treedef is None else tree_unflatten(treedef, flat[start:stop])
            )
        return out

    def function(self, kwargs: dict) -> Callable:
        """``fn`` as a function of the flat arguments."""
        fn = self.fn

        @functools.wraps(fn)
        def flat_fn(*flat: Any) -> Any:
            return fn(*self.rebuild(flat), **kwargs)

        return flat_fn

    def regroup(self, per_leaf: Sequence[Any]) -> Any:
        """One result per differentiated leaf (in the order of :attr:`leaf_argnums`) put back
        in the structure of its argument: one tree, or a tuple of them when ``argnums`` is a
        tuple."""
        at = dict(zip(self.leaf_argnums, per_leaf))
        trees = []
        for k in self.nums:
            start, stop, treedef = self.spans[k]
            trees.append(tree_unflatten(treedef, [at[i] for i in range(start, stop)]))
        return trees[0] if self.single else tuple(trees)

    def tangent_leaves(self, tangents: Sequence[Any]) -> list:
        """Tangents given in the structure of the differentiated arguments (one pytree per
        argnum), as one per differentiated leaf.

        Raises
        ------
        MpgraphError
            Not one tangent per argnum, or a tangent's structure differs from its primal's.
        """
        if len(tangents) != len(self.nums):
            raise MpgraphError(
                f"mpgraph: got {len(tangents)} tangents for {len(self.nums)} primals"
            )
        leaves: list = []
        for k, t in zip(self.nums, tangents):
            treedef = self.spans[k][2]
            lv, tdef = tree_flatten(t)
            if tdef != treedef:
                raise MpgraphError(
                    f"mpgraph: the tangent for argument {k} has structure {tdef}; "
                    f"its primal has {treedef}"
                )
            leaves.extend(lv)
        return leaves
