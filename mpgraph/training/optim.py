"""Optimizers as composable gradient transformations, with torch.optim's update rules and defaults.

A :class:`GradientTransformation` is a pair ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``; :func:`apply_updates` adds the updates to the
parameters. Parameters are any pytree of arrays (see :mod:`mpgraph.tree`). :class:`Optimizer` wraps a
transformation and a set of parameters, exposes the current learning rate and torch-style
``state_dict()``/``load_state_dict()``.

>>> import numpy as np
>>> opt = Optimizer(chain(clip_by_global_norm(1.0), sgd(0.1)), {"w": np.array([1.0, 2.0])})
>>> opt.step({"w": np.array([3.0, 4.0])})["w"].round(6)   # gradient clipped to norm 1 first
array([0.94, 1.92])
>>> opt.lr
0.1
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple, Union

import numpy as np

from ..backend import NUMPY, as_array, library_of, like
from ..errors import UsageError
from ..tree import tree_flatten, tree_leaves, tree_map, tree_unflatten

__all__ = [
    "GradientTransformation",
    "Optimizer",
    "adagrad",
    "adam",
    "adamw",
    "add_weight_decay",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "rmsprop",
    "sgd",
]

Schedule = Callable[[int], float]
LR = Union[float, Schedule]  # noqa: UP007 (a runtime alias)


class GradientTransformation(NamedTuple):
    """``init(params) -> state``, ``update(grads, state, params) -> (updates, state)``, and
    ``lr(state) -> float`` (the learning rate the next update will use, or ``None``)."""

    init: Callable
    update: Callable
    lr: Callable = lambda state: None


def _rate(lr: LR, count: int) -> float:
    return float(lr(count) if callable(lr) else lr)


def _float_copy(x):
    """A copy of ``x`` in its own float dtype (integers and booleans become float64) and its
    own array library (a CuPy array stays on its device): float32 parameters keep float32
    updates and moments, as in torch.optim and optax."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind not in "f":
        dtype = np.float64
    return x.astype(dtype) if like(x) is not None else np.array(x, dtype=dtype)


def apply_updates(params: Any, updates: Any) -> Any:
    """New parameters ``params + updates``; never modifies ``params``."""
    return tree_map(lambda p, u: as_array(p) + u, params, updates)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` one after the other (as ``optax.chain``)."""

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        new = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new.append(s)
        return grads, tuple(new)

    def lr(state):
        rates = [t.lr(s) for t, s in zip(transforms, state)]
        return next((r for r in rates if r is not None), None)

    return GradientTransformation(init, update, lr)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale gradients so their global 2-norm is at most ``max_norm``, as torch's
    ``clip_grad_norm_`` (factor ``max_norm / (norm + 1e-6)``, clamped to 1)."""

    def update(grads, state, params=None):
        norm = np.sqrt(sum(float(np.sum(np.square(g))) for g in tree_leaves(grads)))
        coef = min(max_norm / (norm + 1e-6), 1.0)
        return tree_map(lambda g: as_array(g) * coef, grads), state

    return GradientTransformation(lambda params: (), update)


def add_weight_decay(weight_decay: float) -> GradientTransformation:
    """Add ``weight_decay * param`` to each gradient (L2 penalty, coupled, as torch's
    ``weight_decay`` argument)."""

    def update(grads, state, params):
        return tree_map(lambda g, p: as_array(g) + weight_decay * as_array(p), grads, params), state

    return GradientTransformation(lambda params: (), update)


def _stateful(lr: LR, init_slots: Callable, step: Callable) -> GradientTransformation:
    """A transformation with a step count and one dict of slot arrays per leaf;
    ``step(g, p, slots, t, rate)`` returns ``(update, slots)`` for one leaf, ``t`` counting from 1."""
    if not callable(lr) and (
        isinstance(lr, (bool, np.bool_))
        or not isinstance(lr, (int, float, np.integer, np.floating))
    ):
        raise UsageError(
            f"mpgraph: the learning rate must be a number or a schedule (a "
            f"function of the step count), got {type(lr).__name__} {lr!r:.40}"
        )

    def init(params):
        return {"count": 0, "slots": [init_slots(_float_copy(p)) for p in tree_leaves(params)]}

    def update(grads, state, params):
        t = state["count"] + 1
        rate = _rate(lr, state["count"])
        g_leaves, treedef = tree_flatten(grads)
        done = [
            step(_float_copy(g), _float_copy(p), s, t, rate)
            for g, p, s in zip(g_leaves, tree_leaves(params), state["slots"])
        ]
        return (
            tree_unflatten(treedef, [u for u, _ in done]),
            {"count": t, "slots": [s for _, s in done]},
        )

    return GradientTransformation(init, update, lambda state: _rate(lr, state["count"]))


def sgd(
    lr: LR = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> GradientTransformation:
    """torch.optim.SGD: ``b = mu b + (1 - dampening) g`` (``b = g`` on the first step),
    ``g = g + mu b`` if Nesterov else ``b``; ``p -= lr g``. ``lr`` may be a schedule."""

    def step(g, p, s, t, rate):
        g = g + weight_decay * p
        if momentum:
            b = g if t == 1 else momentum * s["b"] + (1 - dampening) * g
            s = {"b": b}
            g = g + momentum * b if nesterov else b
        return -rate * g, s

    return _stateful(lr, lambda p: {"b": np.zeros_like(p)}, step)


def adam(
    lr: LR = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
) -> GradientTransformation:
    """torch.optim.Adam: bias-corrected moments, ``p -= lr m_hat / (sqrt(v_hat) + eps)``.
    With ``decoupled=True`` the decay is AdamW's ``p *= 1 - lr weight_decay``."""
    b1, b2 = betas

    def step(g, p, s, t, rate):
        shrink = 0.0
        if decoupled:
            shrink = -rate * weight_decay * p
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * s["m"] + (1 - b1) * g
        v = b2 * s["v"] + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return shrink - rate * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v}

    return _stateful(lr, lambda p: {"m": np.zeros_like(p), "v": np.zeros_like(p)}, step)


def adamw(
    lr: LR = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> GradientTransformation:
    """torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2)."""
    return adam(lr, betas, eps, weight_decay, decoupled=True)


def rmsprop(
    lr: LR = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0
) -> GradientTransformation:
    """torch.optim.RMSprop: ``v = alpha v + (1 - alpha) g^2``, ``p -= lr g / (sqrt(v) + eps)``
    (eps outside the square root, unlike optax)."""

    def step(g, p, s, t, rate):
        g = g + weight_decay * p
        v = alpha * s["v"] + (1 - alpha) * g * g
        return -rate * g / (np.sqrt(v) + eps), {"v": v}

    return _stateful(lr, lambda p: {"v": np.zeros_like(p)}, step)


def adagrad(
    lr: LR = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> GradientTransformation:
    """torch.optim.Adagrad: ``s += g^2``, ``p -= lr / (1 + (t-1) lr_decay) g / (sqrt(s) + eps)``
    (accumulator starts at 0, optax's at 0.1)."""

    def step(g, p, s, t, rate):
        g = g + weight_decay * p
        acc = s["s"] + g * g
        return -rate / (1 + (t - 1) * lr_decay) * g / (np.sqrt(acc) + eps), {"s": acc}

    return _stateful(lr, lambda p: {"s": np.full_like(p, initial_accumulator_value)}, step)


class Optimizer:
    """Parameters plus a transformation's state, stepped with gradients.

    Parameters
    ----------
    transform : GradientTransformation
        e.g. ``adam(1e-3)`` or ``chain(clip_by_global_norm(1.0), adam(1e-3))``.
    params : pytree of arrays
        Copied; the caller's arrays are never modified.
    """

    def __init__(self, transform: GradientTransformation, params: Any):
        self.transform = transform
        self.params = tree_map(_float_copy, params)
        self.state = transform.init(self.params)
        leaves = tree_leaves(self.params)
        self._library = library_of(leaves[0]) if leaves else NUMPY  # where params and state live
        self.graph = None
        self._graph_size: int | None = None
        self._growths = 0

    @classmethod
    def for_graph(cls, transform: GradientTransformation, graph: Any) -> Optimizer:
        """An optimizer over ``graph.params()`` (a dict by node name); each step writes the new
        values back into the graph with ``graph.set_param``.

        Examples
        --------
        >>> import numpy as np, mpgraph as mg
        >>> g = mg.Graph()
        >>> w = g.param("w", 0.0)
        >>> loss = (w - 3.0) * (w - 3.0)
        >>> opt = Optimizer.for_graph(sgd(0.5), g)     # one step lands on the minimum
        >>> for _ in range(2):
        ...     _ = opt.minimize(loss)
        >>> round(float(g["w"].value), 6)
        3.0
        """
        opt = cls(transform, {n.name: n.value for n in graph.params()})
        opt.graph = graph
        return opt

    def minimize(self, loss: Any, feed: Any = None) -> float:
        """One step on a graph optimizer: forward, backward, update; returns the loss value.

        Warns (``RuntimeWarning``) when the graph has grown between steps three times running:
        the loss is being rebuilt each iteration; build it once and run it many times.
        """
        size = len(self.graph)
        self._growths = (
            self._growths + 1 if self._graph_size is not None and size > self._graph_size else 0
        )
        self._graph_size = size
        if self._growths == 3:
            warnings.warn(
                f"mpgraph: the graph grew to {size} nodes across training steps; "
                "build the loss once, outside the loop, and run it many times",
                RuntimeWarning,
                stacklevel=2,
            )
        names = list(self.params)
        # the gradient run of g.grad: no messages to inputs, values freed as it goes, and
        # compiled once the step has run often (see mpgraph.engine.compiled)
        run, found = self.graph.gradient_run(
            loss, [self.graph[n] for n in names], feed, strict=False
        )
        if run.library is not self._library and run.library != self._library:
            # the graph moved (its first run on another library, or g.to)
            self._follow(run.library)
        grads = dict(zip(names, found))
        value = float(run.value(loss))
        self.step(grads)
        return value

    @property
    def lr(self) -> float | None:
        """The learning rate the next step will use."""
        return self.transform.lr(self.state)

    def step(self, grads: Any) -> Any:
        """Update the parameters with ``grads`` (same structure) and return them."""
        updates, self.state = self.transform.update(grads, self.state, self.params)
        self.params = apply_updates(self.params, updates)
        self._write_back()
        return self.params

    def _follow(self, library: Any) -> None:
        """Move the parameters and the state (moments, ...) to ``library``, where the graph
        runs now (it moved on its first run there, or by ``g.to``), so that steps stay
        there."""

        def moved(v):
            return library.asarray(v) if hasattr(v, "shape") and library_of(v) != library else v

        self.params = tree_map(moved, self.params)
        self.state = tree_map(moved, self.state)
        self._library = library

    def _write_back(self) -> None:
        if self.graph is not None:
            for name, value in self.params.items():
                self.graph.set_param(name, value)

    def state_dict(self) -> dict:
        """A deep copy of parameters and optimizer state (for checkpoints)."""
        return copy.deepcopy({"params": self.params, "state": self.state})

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned; a later step continues exactly."""
        state = copy.deepcopy(state)
        self.params, self.state = state["params"], state["state"]
        self._write_back()
