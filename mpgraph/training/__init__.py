"""Training: optimizers (``mg.optim``), schedules, initialisers, minibatches and the fit loop."""

from . import data, init, layers, optim, schedules, sparse
from .fit import History, accuracy, fit, load_checkpoint, save_checkpoint

__all__ = [
    "History",
    "accuracy",
    "data",
    "fit",
    "init",
    "layers",
    "load_checkpoint",
    "optim",
    "save_checkpoint",
    "schedules",
    "sparse",
]
