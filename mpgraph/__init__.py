"""mpgraph: reverse-mode automatic differentiation as message passing on a NetworkX graph.

>>> import numpy as np, mpgraph as mg
>>> g = mg.Graph()
>>> x = g.input("x", shape=(3,))
>>> w = g.param("w", np.ones(3))
>>> L = mg.ops.sum(mg.ops.tanh(w * x))
>>> g.grad(L, wrt=[w], feed={"x": np.zeros(3)})
[array([0., 0., 0.])]
"""
from . import ops, plugins
from .errors import (ArityError, FeedError, GraphError, MpgraphError, OpError, PluginError,
                     ShapeError, UnknownOpError)
from .graph import Graph
from .node import Node
from .op import Op
from .registry import hookimpl
from .io import load, save
from .render import render
from .run import Run
from .testing import check_grads
from .symbolic import gradients
from .trace import grad, value_and_grad

__version__ = "0.1.0"

__all__ = ["Graph", "Node", "Op", "Run", "ops", "plugins", "grad", "value_and_grad", "gradients", "hookimpl",
           "check_grads", "MpgraphError", "GraphError", "ShapeError", "FeedError", "OpError",
           "PluginError", "ArityError", "UnknownOpError", "render", "save", "load", "__version__"]
