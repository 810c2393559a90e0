"""mpgraph: reverse-mode automatic differentiation as message passing on a NetworkX graph.

>>> import numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", shape=(3,))
>>> w = g.param("w", np.ones(3))
>>> L = mg.ops.sum(mg.ops.tanh(w * x))
>>> g.grad(L, wrt=[w], feed={"x": np.zeros(3)})
[array([0., 0., 0.])]

The package's layers, each importing only those below it (checked by import-linter, see
``docs/architecture.md``): ``errors`` <- ``contract`` (what an op is) <- ``hooks`` (the plugin
machinery) <- ``extend`` (the op author's kit) <- ``engine`` <- ``builtin``, ``testing``,
``drawing``, ``readwrite``, ``training`` <- ``explorer`` (the interactive page, above ``drawing``)
<- ``cli``. Drawing and the explorer are imported when first used (PEP 562), so
``import mpgraph`` does not need graphviz.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import hooks as plugins
from . import tree
from .contract.op import Op
from .engine import functions as ops
from .engine import pickling as _pickling  # noqa: F401 - registers how a Graph pickles
from .engine.graph import Graph
from .engine.index_tricks import c_, r_
from .engine.node import Node
from .engine.run import Run
from .engine.symbolic import gradients
from .errors import (
    ArityError,
    FeedError,
    GraphError,
    LayoutError,
    LoadError,
    MpgraphError,
    OpError,
    PluginError,
    SaveError,
    ShapeError,
    TreeError,
    UnknownOpError,
    UsageError,
    WorkerError,
)
from .hooks.manager import hookimpl
from .testing import check_grads
from .training import History, fit, layers, optim, schedules
from .training import init as nn_init
from .training.data import minibatches
from .transforms import (
    checkpoint,
    custom_jvp,
    custom_vjp,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
)

__version__ = "0.1.0"

# Loaded on first use: names -> (module, attribute or None for the module itself).
_LAZY = {
    "render": ("mpgraph.drawing.render", "render"),
    "save": ("mpgraph.readwrite.saveload", "save"),
    "load": ("mpgraph.readwrite.saveload", "load"),
    "stepper": ("mpgraph.drawing.stepper", None),
    "layout": ("mpgraph.drawing.dot", None),
    "export": ("mpgraph.readwrite.export", None),
    "io": ("mpgraph.readwrite.saveload", None),
    "explore": ("mpgraph.explorer.page", "explore"),
    "distributed": ("mpgraph.distributed", None),  # Ray itself only when a Ray backend starts
}

__all__ = [
    "__version__",
    "ArityError",
    "c_",
    "check_grads",
    "checkpoint",
    "custom_jvp",
    "custom_vjp",
    "distributed",
    "explore",
    "FeedError",
    "fit",
    "grad",
    "gradients",
    "Graph",
    "GraphError",
    "hessian",
    "History",
    "hookimpl",
    "hvp",
    "jacfwd",
    "jacrev",
    "jvp",
    "layers",
    "LayoutError",
    "linearize",
    "load",
    "LoadError",
    "minibatches",
    "MpgraphError",
    "nn_init",
    "Node",
    "Op",
    "OpError",
    "ops",
    "optim",
    "PluginError",
    "plugins",
    "r_",
    "render",
    "Run",
    "save",
    "SaveError",
    "schedules",
    "ShapeError",
    "tree",
    "TreeError",
    "UnknownOpError",
    "UsageError",
    "value_and_grad",
    "WorkerError",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mpgraph' has no attribute '{name}'")
    modname, attr = _LAZY[name]
    module = importlib.import_module(modname)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
