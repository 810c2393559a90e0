"""Array libraries: which library a run's values live in, and moving arrays between them.

Ops are written once, in NumPy's names (``np.exp(x)``, ``np.sum(g, axis=0)``). NumPy hands
such a call on to the library of its arguments when that library implements NumPy's dispatch
protocols (``__array_ufunc__`` and ``__array_function__``, NEP 13 and NEP 18), as CuPy (GPU
arrays) and Dask (chunked, lazy arrays) do. So the same op code runs on whatever library the
feeds come from, and the NumPy path pays nothing: ``np.exp`` of an ndarray is NumPy's own.
What does not dispatch is creation from nothing (``np.zeros(shape)``): ops create arrays
with ``np.zeros_like(x, shape=...)`` or ``like=x``, which do.

A run's library is that of its feeds. The first run of a graph on a library moves the graph's
parameters and array constants to it (as a model moves to a device), and they stay there.
Values are copied back to NumPy only to draw, export or save them.

See also
--------
mpgraph.Graph.to : move a graph's parameters and constants explicitly.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

import numpy as np

__all__ = [
    "NUMPY",
    "Library",
    "add_at",
    "as_array",
    "foreign_type_name",
    "not_dispatching",
    "like",
    "library_named",
    "library_of",
    "shape_of",
    "to_numpy",
]


class Library:
    """An array library a graph runs on: its name and one of its arrays (the prototype that
    NumPy's ``like=`` dispatches creation through).

    Parameters
    ----------
    name : str
        The library's top-level module name: ``"numpy"``, ``"cupy"``, ``"dask"``.
    prototype : array or None
        An array of the library (``None`` for NumPy).
    """

    __slots__ = ("name", "prototype")

    def __init__(self, name: str, prototype: Any = None) -> None:
        self.name = name
        self.prototype = prototype

    def asarray(self, value: Any) -> Any:
        """``value`` (a NumPy array, a number or an array of this library) as an array of this
        library; NumPy arrays are copied to it."""
        if self.prototype is None:
            return to_numpy(value)
        if library_of(value).name == self.name:
            return value
        return np.asarray(value, like=self.prototype)

    def describe(self, value: Any) -> str:
        """Where ``value`` lives, for pictures: ``"on cuda:0"``, ``"in dask"``, ``""`` for
        NumPy."""
        if self.prototype is None:
            return ""
        device = getattr(value, "device", None)
        if self.name == "cupy" and device is not None:
            return f"on cuda:{getattr(device, 'id', device)}"
        return f"in {self.name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Library) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<array library {self.name}>"


NUMPY = Library("numpy")

_NDARRAY_PROTOCOL = np.ndarray.__array_function__
_DEVICES = ("cpu", "cuda", "gpu", "mps")
# Python numbers, lists and NumPy's own types belong to no library but NumPy.
_NUMPY_TYPES = (np.ndarray, np.generic, int, float, bool, list, tuple)


def library_of(value: Any) -> Library:
    """The library of ``value``: NumPy for ndarrays, NumPy scalars, Python numbers and lists;
    the value's own library when it implements NumPy's ``__array_function__`` protocol.

    Raises nothing: an array-like that does not implement the protocol (see
    :func:`foreign_type_name`) is reported as NumPy's, for the caller to refuse.

    Examples
    --------
    >>> import numpy as np
    >>> library_of(np.ones(3)).name, library_of(2.0).name
    ('numpy', 'numpy')
    """
    if isinstance(value, _NUMPY_TYPES):
        return NUMPY
    t = type(value)
    proto = getattr(t, "__array_function__", None)
    if proto is None or proto is _NDARRAY_PROTOCOL or t.__module__.startswith("mpgraph."):
        return NUMPY  # a graph node dispatches NumPy calls too, but holds no array
    return Library(t.__module__.split(".")[0], value)


def like(value: Any) -> Any:
    """The ``like=`` argument that makes NumPy's creation functions create their array in the
    library of ``value``: ``value`` itself when it is an array of another library than NumPy,
    else ``None`` (NumPy's default). For op authors: ``np.eye(n, like=like(x))``.

    Examples
    --------
    >>> import numpy as np
    >>> np.eye(2, like=like(np.ones(3)))
    array([[1., 0.],
           [0., 1.]])
    """
    if type(value) is np.ndarray or library_of(value) is NUMPY:
        return None
    return value


def as_array(value: Any) -> Any:
    """``value`` as an array of its own library: an array of another library than NumPy as it
    is (``np.asarray`` would copy it to NumPy, compute it, or refuse), anything else through
    ``np.asarray``.

    Examples
    --------
    >>> as_array([1.0, 2.0])
    array([1., 2.])
    """
    return value if like(value) is not None else np.asarray(value)


def foreign_type_name(value: Any) -> str | None:
    """The type name of an array of a library that does not implement NumPy's dispatch
    protocols (``torch.Tensor``, ``jax.Array``, ``array_api_strict.Array``), which ``np.asarray``
    would silently copy into a NumPy array; ``None`` for anything else."""
    if isinstance(value, _NUMPY_TYPES) or hasattr(type(value), "__array_function__"):
        return None
    if hasattr(value, "__array__") or hasattr(value, "__dlpack__") or hasattr(value, "shape"):
        t = type(value)
        return f"{t.__module__.split('.')[0]}.{t.__qualname__}"
    return None


def not_dispatching(value: Any, what: str) -> str | None:
    """The message that refuses ``value`` when it is an array of a library that does not
    implement NumPy's dispatch protocols (``what`` names it: ``"the feed for input 'x'"``);
    ``None`` for anything else.

    Examples
    --------
    >>> import numpy as np
    >>> not_dispatching(np.ones(2), "x") is None
    True
    """
    name = foreign_type_name(value)
    if name is None:
        return None
    return (
        f"mpgraph: {what} is of type {name}, which does not implement NumPy's dispatch "
        "protocol (__array_function__): mpgraph's ops cannot run on it, and it is not copied "
        "silently; convert it to a NumPy array yourself (np.asarray(x), or x.detach().numpy() "
        "for a torch tensor), or use NumPy, CuPy or Dask arrays"
    )


def library_named(name: Any) -> Library:
    """The library named ``name`` (``"numpy"``, ``"cupy"``, ``"dask"``), or of a module or an
    array given instead of a name.

    Raises
    ------
    ValueError
        ``name`` names no importable library that implements NumPy's dispatch protocols.
    """
    if isinstance(name, Library):
        return name
    if isinstance(name, types.ModuleType):  # numpy, cupy, dask.array
        name = name.__name__.split(".")[0]
    elif not isinstance(name, str):
        return library_of(name)
    name = name.split(".")[0]  # "dask.array" names Dask
    if name in _DEVICES:
        raise ValueError(
            f"{name!r} is a device, not an array library: a graph runs on the library of its "
            "arrays; g.to('cupy') moves it to the GPU, g.to('numpy') to the CPU"
        )
    if name == "numpy":
        return NUMPY
    try:  # Dask's arrays are a submodule of it
        module = importlib.import_module("dask.array" if name == "dask" else name)
    except ImportError:
        raise ValueError(f"array library {name!r} is not installed") from None
    make = getattr(module, "zeros", None)
    if make is None:
        raise ValueError(f"{name!r} is not an array library (it has no zeros)")
    lib = library_of(make(()))
    if lib is NUMPY or lib.name != name:
        raise ValueError(
            f"array library {name!r} does not implement NumPy's dispatch protocol "
            "(__array_function__), which mpgraph's ops rely on"
        )
    return lib


def add_at(a: Any, index: Any, values: Any) -> Any:
    """``a`` with ``values`` added at ``index``, repeated indices adding up (``np.add.at``),
    in the library of ``a``. For op authors, in place of ``np.add.at``, which libraries other
    than NumPy may lack (Dask has no ``ufunc.at``, CuPy's varies by version).

    On NumPy, ``a`` is updated in place and returned. On another library, the flat positions
    the index selects are found on the host (the index is small beside the values), and the
    values are summed into them with ``bincount``, which CuPy and Dask implement; the sum is
    returned as a new array.

    Examples
    --------
    >>> import numpy as np
    >>> add_at(np.zeros(3), np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0]))
    array([4., 0., 2.])
    """
    if type(a) is np.ndarray:
        np.add.at(a, index, values)
        return a
    parts = index if isinstance(index, tuple) else (index,)
    host = tuple(
        p if isinstance(p, (slice, int, type(None), type(Ellipsis))) else to_numpy(p) for p in parts
    )
    positions = np.arange(a.size).reshape(a.shape)[host if isinstance(index, tuple) else host[0]]
    spread = np.broadcast_to(values, positions.shape).reshape(-1)
    where = np.asarray(positions.reshape(-1), like=a)
    added = np.bincount(where, weights=spread, minlength=a.size)
    return a + added.reshape(a.shape).astype(a.dtype)


def shape_of(value: Any) -> tuple:
    """The shape of an array of any library, or of a number (``()``), without converting it
    (``np.shape`` of a Dask array would compute it)."""
    shape = getattr(value, "shape", None)
    return np.shape(value) if shape is None else tuple(shape)


def to_numpy(value: Any) -> Any:
    """``value`` as a NumPy array (a copy from the device for CuPy, computed for Dask); NumPy
    arrays and numbers are returned as they are."""
    if isinstance(value, _NUMPY_TYPES) or value is None:
        return value
    get = getattr(value, "get", None)  # CuPy: the explicit device-to-host copy
    if callable(get) and type(value).__module__.startswith("cupy"):
        return get()
    compute = getattr(value, "compute", None)  # Dask: evaluate the lazy graph
    if callable(compute):
        value = compute()
    return np.asarray(value)
