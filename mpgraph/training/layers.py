"""Thin layer helpers: each call adds ordinary nodes to the graph, in one scope per layer.

A layer is a small object holding its hyperparameters. Called on a node, it adds its parameters
(the first time) and its op nodes to that node's graph, inside a scope named after the layer
(``linear_1/W``, ``linear_1/matmul_1``, ...), so that every node shows in pictures, clustered by
layer, and nothing happens outside the graph. Called again on the same graph it reuses its
parameters (weight sharing).

Layers whose behaviour differs between training and evaluation (:class:`Dropout`) add a boolean
constant node ``training`` to their scope and select with ``where``; :func:`train`,
:func:`eval` and :func:`mode` set every such flag of a graph, and :func:`mpgraph.fit` trains in
training mode and validates in evaluation mode.

Examples
--------
>>> import numpy as np, mpgraph as mg
>>> rng = np.random.default_rng(0)
>>> g = mg.Graph()
>>> x = g.input("x", shape=(None, 4))
>>> net = mg.layers.MLP([4, 8, 3], rng=rng, activation=mg.ops.relu)
>>> logits = net(x)
>>> [p.name for p in net.params()]
['mlp_1/layer1/W', 'mlp_1/layer1/b', 'mlp_1/layer2/W', 'mlp_1/layer2/b']
>>> g.forward(logits, {"x": np.ones((2, 4))})[logits].shape
(2, 3)
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..backend import like
from ..engine import functions as ops
from ..engine.graph import Graph
from ..engine.node import Node
from ..errors import GraphError, PluginError, ShapeError
from ..hooks.manager import ops as registered_ops
from . import init as nn_init

__all__ = [
    "BatchNorm",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Layer",
    "LayerNorm",
    "Linear",
    "MLP",
    "eval",
    "is_training",
    "mode",
    "statistics",
    "train",
    "update_statistics",
]

Init = Callable[[tuple, np.random.Generator], np.ndarray]

# Per graph: the scope names layers have taken (for fresh default names), and the ``training``
# flags of mode-dependent layers. Keyed weakly, so a dropped graph takes its entries with it.
_scopes: weakref.WeakKeyDictionary[Graph, set[str]] = weakref.WeakKeyDictionary()
_flags: weakref.WeakKeyDictionary[Graph, list[Node]] = weakref.WeakKeyDictionary()
# and the running statistics of batch-norm layers: (update node, running mean, running var)
_statistics: weakref.WeakKeyDictionary[Graph, list[tuple[Node, Node, Node]]] = (
    weakref.WeakKeyDictionary()
)


class Layer:
    """Base of the layer helpers: a scope name, the graph it was built on, its parameters.

    Subclasses define ``_check(x)`` (refuse an input before anything is added),
    ``_build(g)`` (add the parameters, called once per layer) and ``_apply(g, x)`` (add the op
    nodes for input ``x``); the last two run inside the layer's scope.
    """

    kind = "layer"

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._graph: weakref.ref | None = None
        self._params: list[Node] = []

    def params(self) -> list[Node]:
        """The parameter nodes this layer added (empty before its first call)."""
        return list(self._params)

    def __call__(self, x: Node) -> Node:
        """Add this layer's nodes for input ``x`` to ``x``'s graph; return the output node.

        Raises
        ------
        GraphError
            ``x`` is not a graph node, or the layer was built on another graph.
        """
        if type(x) is not Node:
            raise GraphError(
                f"mpgraph: layer {type(self).__name__} takes a graph node (an input "
                f"or the output of another layer), got {type(x).__name__}"
            )
        g = x.graph
        self._check(x)
        built = self._graph() if self._graph is not None else None
        if built is None:
            taken = _scopes.setdefault(g, set())
            if self.name is None:
                k = 1
                while f"{self.kind}_{k}" in taken:
                    k += 1
                self.name = f"{self.kind}_{k}"
            taken.add(self.name)
            self._params = []
            with g.scope(self.name):
                self._build(g)
            self._graph = weakref.ref(g)
        elif built is not g:
            raise GraphError(
                f"mpgraph: layer '{self.name}' was built on another graph; make a "
                "new layer for this one"
            )
        with g.scope(self.name):
            return self._apply(g, x)

    def _param(self, g: Graph, name: str, value: np.ndarray) -> Node:
        node = g.param(name, value)
        self._params.append(node)
        return node

    def _what(self) -> str:
        cls = type(self).__name__
        return f"layer '{self.name}' ({cls})" if self.name else f"layer {cls}"

    def _check(self, x: Node) -> None:
        pass

    def _build(self, g: Graph) -> None:
        pass

    def _apply(self, g: Graph, x: Node) -> Node:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Linear(Layer):
    """``x @ W + b``, PyTorch's ``nn.Linear`` with ``W`` stored as (in, out).

    Parameters
    ----------
    in_features, out_features : int
    rng : numpy.random.Generator
        Draws the initial weights.
    bias : bool
        Add ``b`` (initialised to 0).
    init : callable ``(shape, rng) -> array``
        Weight initialiser; :func:`mpgraph.training.init.glorot_uniform` by default.
    dtype : numpy dtype of the parameters (float64 by default)
    name : str, optional
        The layer's scope; ``linear_1``, ``linear_2``, ... by default.

    Returns
    -------
    A callable layer: ``Linear(...)(x)`` is the output node, shape ``x.shape[:-1] + (out,)``.

    Raises
    ------
    ShapeError
        When called on a node whose last dimension is not ``in_features``.

    See also
    --------
    MLP : Linear layers with activations between them.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(None, 3))
    >>> y = mg.layers.Linear(3, 2, rng=np.random.default_rng(0), name="layer1")(x)
    >>> sorted(n.name for n in g if n.name.startswith("layer1/"))
    ['layer1/W', 'layer1/add_1', 'layer1/b', 'layer1/matmul_1']
    """

    kind = "linear"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        bias: bool = True,
        init: Init = nn_init.glorot_uniform,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.in_features, self.out_features, self.bias = int(in_features), int(out_features), bias
        self.rng, self.init, self.dtype = rng, init, np.dtype(dtype)

    def _build(self, g: Graph) -> None:
        shape = (self.in_features, self.out_features)
        self.W = self._param(g, "W", np.asarray(self.init(shape, self.rng), dtype=self.dtype))
        self.b = self._param(g, "b", np.zeros(self.out_features, self.dtype)) if self.bias else None

    def _check(self, x: Node) -> None:
        _check_last(self, x, (self.in_features,))

    def _apply(self, g: Graph, x: Node) -> Node:
        y = x @ self.W
        return y + self.b if self.b is not None else y


class MLP(Layer):
    """Linear layers with ``activation`` between them (none after the last).

    Parameters
    ----------
    sizes : sequence of int
        ``[in, hidden..., out]``; the layers are ``layer1``, ``layer2``, ... in the MLP's scope.
    rng : numpy.random.Generator
    activation : callable on nodes
        ``mg.ops.tanh`` by default; ``mg.ops.relu``, ``mg.ops.sigmoid``, ...
    dropout : float
        When positive, a :class:`Dropout` of this rate after each hidden activation, drawing
        its masks from ``rng``.
    init, dtype, bias : passed to each :class:`Linear`.
    name : str, optional
        The MLP's scope; ``mlp_1``, ... by default.

    Returns
    -------
    A callable layer; its output is the last layer's (the logits, for a classifier).

    Raises
    ------
    GraphError
        Fewer than two sizes.

    See also
    --------
    Linear, Dropout

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(None, 2))
    >>> y = mg.layers.MLP([2, 2, 2, 2], rng=np.random.default_rng(0),
    ...                   activation=mg.ops.sigmoid, name="lee")(x)
    >>> y.name, y.shape
    ('lee/layer3/add_1', (None, 2))
    """

    kind = "mlp"

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        rng: np.random.Generator,
        activation: Callable[[Node], Node] = ops.tanh,
        dropout: float = 0.0,
        bias: bool = True,
        init: Init = nn_init.glorot_uniform,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if len(sizes) < 2:
            raise GraphError(
                f"mpgraph: MLP needs at least two sizes (in and out), got {list(sizes)}"
            )
        self.sizes, self.activation = [int(s) for s in sizes], activation
        self.layers = [
            Linear(a, b, rng=rng, bias=bias, init=init, dtype=dtype, name=f"layer{i}")
            for i, (a, b) in enumerate(zip(self.sizes, self.sizes[1:]), start=1)
        ]
        self.dropouts = (
            [Dropout(dropout, rng=rng, name=f"dropout{i}") for i in range(1, len(self.layers))]
            if dropout
            else []
        )

    def params(self) -> list[Node]:
        return [p for layer in self.layers for p in layer.params()]

    def _apply(self, g: Graph, x: Node) -> Node:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.activation(x)
                if self.dropouts:
                    x = self.dropouts[i](x)
        return x


class LayerNorm(Layer):
    """PyTorch's ``nn.LayerNorm`` from mean, var and sqrt nodes:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` over the last ``len(normalized_shape)`` axes
    (biased variance, as PyTorch).

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The trailing shape normalised over.
    eps : float
        Added to the variance (PyTorch's default 1e-5).
    elementwise_affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros) of ``normalized_shape``.
    dtype : numpy dtype of the parameters
    name : str, optional
        ``layernorm_1``, ... by default.

    Returns
    -------
    A callable layer; its output has the input's shape.

    Raises
    ------
    ShapeError
        When called on a node whose trailing shape is not ``normalized_shape``.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(None, 4))
    >>> y = mg.layers.LayerNorm(4)(x)
    >>> g.forward(y, {"x": np.array([[1.0, 2.0, 3.0, 4.0]])})[y].round(3)
    array([[-1.342, -0.447,  0.447,  1.342]])
    """

    kind = "layernorm"

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(normalized_shape)
        )
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps, self.affine, self.dtype = float(eps), elementwise_affine, np.dtype(dtype)

    def _build(self, g: Graph) -> None:
        if self.affine:
            self.weight = self._param(g, "weight", np.ones(self.normalized_shape, self.dtype))
            self.bias = self._param(g, "bias", np.zeros(self.normalized_shape, self.dtype))

    def _check(self, x: Node) -> None:
        _check_last(self, x, self.normalized_shape)

    def _apply(self, g: Graph, x: Node) -> Node:
        axes = tuple(range(-len(self.normalized_shape), 0))
        centred = x - ops.mean(x, axis=axes, keepdims=True)
        y = centred / ops.sqrt(ops.var(x, axis=axes, keepdims=True) + self.eps)
        return y * self.weight + self.bias if self.affine else y


class Dropout(Layer):
    """Dropout in training mode, the identity in evaluation mode.

    Adds ``dropout`` (the op ``mg.ops.dropout``: ``x m / (1 - rate)`` with a fresh mask per run)
    and ``where(training, dropout, x)``, where ``training`` is a boolean constant node of the
    layer's scope that :func:`train` / :func:`eval` / :func:`mode` set for the whole graph
    (``True`` to begin with, as a PyTorch module). In evaluation mode the mask is still drawn
    (every node of a schedule runs), so the Generator advances the same way in both modes.

    Parameters
    ----------
    rate : float
        Probability of zeroing an element, in [0, 1).
    rng : numpy.random.Generator or int
        Draws the masks (an int seed repeats one mask at every run). Checkpoints written by
        :func:`mpgraph.training.fit.save_checkpoint` save and restore a Generator's state.
    name : str, optional
        ``dropout_1``, ... by default.

    Returns
    -------
    A callable layer; its output has the input's shape.

    See also
    --------
    train, eval, mode

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(4,))
    >>> y = mg.layers.Dropout(0.5, rng=np.random.default_rng(0))(x)
    >>> np.unique(g.forward(y, {"x": np.ones(4)})[y])   # kept elements scaled by 2
    array([0., 2.])
    >>> with mg.layers.mode(g, training=False):
    ...     g.forward(y, {"x": np.ones(4)})[y]
    array([1., 1., 1., 1.])
    """

    kind = "dropout"

    def __init__(
        self, rate: float, *, rng: np.random.Generator | int, name: str | None = None
    ) -> None:
        super().__init__(name)
        if not 0 <= rate < 1:
            raise GraphError(f"mpgraph: Dropout rate must be in [0, 1), got {rate!r}")
        self.rate, self.rng = float(rate), rng

    def _build(self, g: Graph) -> None:
        self.flag = _training_flag(g)

    def _apply(self, g: Graph, x: Node) -> Node:
        return ops.where(self.flag, ops.dropout(x, rate=self.rate, rng=self.rng), x)


def _training_flag(g: Graph) -> Node:
    flags = _flags.setdefault(g, [])
    current = flags[0].value if flags else True
    flag = g.constant(bool(current), name="training")
    flags.append(flag)
    return flag


class BatchNorm(Layer):
    """PyTorch's ``nn.BatchNorm1d``/``2d`` on (N, C, ...) inputs, from the ``batch_norm`` op.

    In training mode the output is normalized by the batch's mean and (biased) variance per
    channel; in evaluation mode by the running statistics. The running statistics are constant
    nodes ``running_mean`` and ``running_var`` of the layer's scope, updated (momentum as
    PyTorch's, the batch's unbiased variance) by :func:`update_statistics`, which
    :func:`mpgraph.fit` calls before each training step with that step's batch, so they are
    the statistics of the forward pass the step differentiates, as PyTorch's are.

    Parameters
    ----------
    num_features : int
        The number of channels C (axis 1).
    momentum : float
    eps : float
    affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros) per channel.
    dtype : numpy dtype of the parameters and statistics
    name : str, optional
        ``batch_norm_1``, ... by default.

    Returns
    -------
    A callable layer.

    Raises
    ------
    ShapeError
        When called on a node whose axis 1 is not ``num_features``.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(None, 2))
    >>> bn = mg.layers.BatchNorm(2)
    >>> y = bn(x)
    >>> batch = {"x": np.array([[1.0, 10.0], [3.0, 30.0]])}
    >>> np.round(g.forward(y, batch)[y], 4)  # training mode: the batch's statistics
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> mg.layers.update_statistics(g, batch)
    >>> bn.running_mean.value, bn.running_var.value
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """

    kind = "batch_norm"

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.1,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if not 0 <= momentum <= 1:
            raise GraphError(f"mpgraph: BatchNorm momentum must be in [0, 1], got {momentum!r}")
        self.num_features, self.momentum, self.eps = int(num_features), float(momentum), eps
        self.affine, self.dtype = affine, np.dtype(dtype)

    def _check(self, x: Node) -> None:
        if x.shape is not None and (
            len(x.shape) < 2 or x.shape[1] not in (None, self.num_features)
        ):
            raise ShapeError(
                f"mpgraph: {self._what()} normalizes {self.num_features} channels on axis 1; "
                f"node '{x.name}' has shape {x.shape}"
            )

    def _build(self, g: Graph) -> None:
        c = self.num_features
        ones, zeros = np.ones(c, self.dtype), np.zeros(c, self.dtype)
        if self.affine:
            self.weight = self._param(g, "weight", ones)
            self.bias = self._param(g, "bias", zeros)
        else:
            self.weight = g.constant(ones, name="weight")
            self.bias = g.constant(zeros, name="bias")
        self.running_mean = g.constant(zeros, name="running_mean")
        self.running_var = g.constant(ones, name="running_var")
        self.flag = _training_flag(g)

    def _apply(self, g: Graph, x: Node) -> Node:
        args = (x, self.running_mean, self.running_var, self.weight, self.bias)
        batch = ops.batch_norm(*args, training=True, eps=self.eps)
        running = ops.batch_norm(*args, training=False, eps=self.eps)
        update = ops.batch_norm_update(
            x, self.running_mean, self.running_var, momentum=self.momentum
        )
        _statistics.setdefault(g, []).append((update, self.running_mean, self.running_var))
        return ops.where(self.flag, batch, running)


def update_statistics(graph: Graph, feed: dict) -> None:
    """Update the running statistics of ``graph``'s :class:`BatchNorm` layers from one training
    batch ``feed`` (one forward pass up to their inputs), as a PyTorch forward in training mode
    does. Nothing happens in evaluation mode or on a graph without such layers.

    Raises
    ------
    FeedError
        ``feed`` lacks an input the statistics depend on.
    """
    entries = _statistics.get(graph)
    if not entries or not is_training(graph):
        return
    run = graph.forward([update for update, _, _ in entries], feed)
    for update, mean, var in entries:
        new = run[update]
        if like(new) is None:  # a NumPy copy the next run cannot change
            new = np.array(new)
            new.flags.writeable = False
        else:  # stays where the graph lives
            new = new.copy()
        # constant nodes' values are read at every run: the statistics are such constants
        mean.fixed, var.fixed = new[0], new[1]


def statistics(graph: Graph) -> dict[str, Node]:
    """The running-statistics nodes of ``graph``'s :class:`BatchNorm` layers, by name (what a
    checkpoint saves besides the parameters)."""
    return {node.name: node for _, mean, var in _statistics.get(graph, ()) for node in (mean, var)}


class Embedding(Layer):
    """Rows of a table ``W`` (num_embeddings, embedding_dim) picked by integer ids, as
    PyTorch's ``nn.Embedding``: one ``embedding`` node, ``W[ids]``.

    The ids are a graph node (typically ``g.input("ids", dtype=np.int64)``) of any shape; the
    output has shape ``ids.shape + (embedding_dim,)``. ``W``'s gradient is the sum of the error
    signals of the positions that picked each row (repeated ids sum); the ids get none. An id
    outside ``[0, num_embeddings)`` is refused when the graph runs.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    rng : numpy.random.Generator
    init : callable ``(shape, rng) -> array``
        Standard normal by default, as PyTorch.
    dtype : numpy dtype of the table
    name : str, optional
        ``embedding_1``, ... by default.

    Returns
    -------
    A callable layer.

    Raises
    ------
    GraphError
        When called on a node of a non-integer dtype.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> ids = g.input("ids", shape=(None,), dtype=np.int64)
    >>> emb = mg.layers.Embedding(5, 2, rng=np.random.default_rng(0))
    >>> e = emb(ids)
    >>> out = g.forward(e, {"ids": np.array([4, 0, 4])})[e]
    >>> bool(np.array_equal(out, emb.W.value[[4, 0, 4]]))
    True
    """

    kind = "embedding"

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        rng: np.random.Generator,
        init: Init | None = None,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.rng, self.init, self.dtype = rng, init, np.dtype(dtype)

    def _build(self, g: Graph) -> None:
        shape = (self.num_embeddings, self.embedding_dim)
        table = self.init(shape, self.rng) if self.init else self.rng.standard_normal(shape)
        self.W = self._param(g, "W", np.asarray(table, dtype=self.dtype))

    def _check(self, ids: Node) -> None:
        if ids.dtype is not None and ids.dtype.kind not in "iu":
            raise GraphError(
                f"mpgraph: {self._what()} takes integer ids; node "
                f"'{ids.name}' has dtype {ids.dtype} (feed ids through "
                "g.input(name, dtype=np.int64))"
            )

    def _apply(self, g: Graph, ids: Node) -> Node:
        return ops.embedding(ids, self.W)


class Conv2d(Layer):
    """PyTorch's ``nn.Conv2d`` on (N, C, H, W) inputs, from the conv plugin's ``conv2d`` op:
    ``conv2d(x, W, stride, padding, dilation, groups) + b`` with ``W`` of shape
    (out, in / groups, kh, kw) and ``b`` of shape (out, 1, 1).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, dilation : int
        Passed to ``mg.ops.conv2d``.
    groups : int
        Channels in ``groups`` independent groups (``in_channels`` for a depthwise
        convolution); divides both channel counts.
    rng : numpy.random.Generator
    bias : bool
    init : callable ``(shape, rng) -> array``
        :func:`mpgraph.training.init.he_normal` by default (fans of a conv kernel).
    dtype : numpy dtype of the parameters
    name : str, optional
        ``conv2d_1``, ... by default.

    Returns
    -------
    A callable layer.

    Raises
    ------
    PluginError
        The op ``conv2d`` is not registered (the conv plugin, ``plugins/conv``, is not
        installed or is blocked).
    GraphError
        ``groups`` does not divide ``in_channels`` and ``out_channels``.
    ShapeError
        When called on a node whose channel dimension is not ``in_channels``.

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> x = g.input("x", shape=(None, 1, 8, 8))
    >>> y = mg.layers.Conv2d(1, 4, 3, padding=1, rng=np.random.default_rng(0))(x)
    >>> y.shape
    (None, 4, 8, 8)
    """

    kind = "conv2d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        rng: np.random.Generator,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        init: Init = nn_init.he_normal,
        dtype: Any = np.float64,
        name: str | None = None,
    ) -> None:
        if "conv2d" not in registered_ops():
            raise PluginError(
                "mpgraph: Conv2d needs the op 'conv2d' of the conv plugin, which is "
                "not registered: install it with `pip install ./plugins/conv` "
                "(distribution mpgraph-conv), and do not block the plugin 'conv'"
            )
        super().__init__(name)
        kh, kw = (
            (kernel_size, kernel_size)
            if isinstance(kernel_size, (int, np.integer))
            else kernel_size
        )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        if groups < 1 or self.in_channels % groups or self.out_channels % groups:
            raise GraphError(
                f"mpgraph: Conv2d({in_channels}, {out_channels}): groups={groups} must divide "
                "both the input and the output channels"
            )
        self.kernel_size, self.stride, self.padding = (int(kh), int(kw)), stride, padding
        self.dilation, self.groups = dilation, int(groups)
        self.rng, self.bias, self.init, self.dtype = rng, bias, init, np.dtype(dtype)

    def _build(self, g: Graph) -> None:
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.W = self._param(g, "W", np.asarray(self.init(shape, self.rng), dtype=self.dtype))
        self.b = (
            self._param(g, "b", np.zeros((self.out_channels, 1, 1), self.dtype))
            if self.bias
            else None
        )

    def _check(self, x: Node) -> None:
        if x.shape is not None and (
            len(x.shape) != 4 or x.shape[1] not in (None, self.in_channels)
        ):
            raise ShapeError(
                f"mpgraph: {self._what()} takes (N, {self.in_channels}, "
                f"H, W) inputs; node '{x.name}' has shape {_show(x.shape)}"
            )

    def _apply(self, g: Graph, x: Node) -> Node:
        y = ops.conv2d(
            x,
            self.W,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )
        return y + self.b if self.b is not None else y


# -- training and evaluation mode --------------------------------------------------------------


def is_training(graph: Graph) -> bool:
    """Whether ``graph``'s mode-dependent layers are in training mode (``True`` for a graph
    without any: it behaves the same in both modes)."""
    flags = _flags.get(graph)
    return bool(flags[0].value) if flags else True


def train(graph: Graph, training: bool = True) -> None:
    """Put every mode-dependent layer of ``graph`` (:class:`Dropout`) in training mode, or in
    evaluation mode with ``training=False``: sets the value of their ``training`` constant nodes.

    The flags are constants of the graph, read at every run: runs started after the call see
    the new mode. A backward graph built by ``mg.gradients`` takes the mode in force when it is
    built.

    See also
    --------
    eval, mode

    Examples
    --------
    >>> import numpy as np, mpgraph as mg
    >>> g = mg.Graph()
    >>> y = mg.layers.Dropout(0.9, rng=0)(g.input("x", shape=(3,)))
    >>> mg.layers.eval(g)
    >>> g.forward(y, {"x": np.ones(3)})[y], g["dropout_1/training"].value
    (array([1., 1., 1.]), False)
    >>> mg.layers.train(g)
    >>> mg.layers.is_training(g)
    True
    """
    for flag in _flags.get(graph, ()):
        # a constant node's value is read at every run; this is the one place that changes one
        flag.fixed = bool(training)


def eval(graph: Graph) -> None:  # noqa: A001 (PyTorch's name for the switch)
    """Put ``graph``'s mode-dependent layers in evaluation mode (:class:`Dropout` becomes the
    identity); ``train(graph)`` switches back. See :func:`train`."""
    train(graph, False)


@contextlib.contextmanager
def mode(graph: Graph, training: bool) -> Iterator[None]:
    """Run the block in training (``True``) or evaluation (``False``) mode, restoring the
    previous mode after it.

    Examples
    --------
    >>> import mpgraph as mg
    >>> g = mg.Graph()
    >>> _ = mg.layers.Dropout(0.5, rng=0)(g.input("x"))
    >>> with mg.layers.mode(g, training=False):
    ...     mg.layers.is_training(g)
    False
    >>> mg.layers.is_training(g)
    True
    """
    before = is_training(graph)
    train(graph, training)
    try:
        yield
    finally:
        train(graph, before)


def _show(shape: tuple) -> str:
    return (
        "("
        + ", ".join("?" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def _check_last(layer: Layer, x: Node, expected: tuple[int, ...]) -> None:
    if x.shape is None:
        return
    tail = x.shape[len(x.shape) - len(expected) :] if len(x.shape) >= len(expected) else None
    if tail is None or any(d is not None and d != e for d, e in zip(tail, expected)):
        raise ShapeError(
            f"mpgraph: {layer._what()} takes inputs "
            f"whose trailing shape is {_show(expected)}; node '{x.name}' has shape "
            f"{_show(x.shape)}"
        )
