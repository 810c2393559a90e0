"""Learning-rate schedules: functions of the step count (0 on the first step), as optax's.

>>> s = cosine_decay(1.0, decay_steps=10)
>>> s(0), round(s(5), 6), s(10)
(1.0, 0.5, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["constant", "cosine_decay", "one_cycle", "step_decay", "warmup_cosine_decay"]


def constant(lr: float) -> Callable[[int], float]:
    """``lr`` at every step."""
    return lambda step: lr


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Callable[[int], float]:
    """torch's StepLR: ``lr * gamma ** (step // step_size)``.

    >>> step_decay(1.0, 2, 0.5)(5)
    0.25
    """
    return lambda step: lr * gamma ** (step // step_size)


def cosine_decay(lr: float, decay_steps: int, alpha: float = 0.0) -> Callable[[int], float]:
    """Cosine from ``lr`` to ``alpha * lr`` over ``decay_steps``, then flat."""

    def f(step):
        c = 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
        return lr * ((1 - alpha) * c + alpha)

    return f


def warmup_cosine_decay(
    peak: float, warmup_steps: int, decay_steps: int, end: float = 0.0
) -> Callable[[int], float]:
    """Linear warm-up from 0 to ``peak`` then cosine down to ``end`` by ``decay_steps`` in all.

    Examples
    --------
    >>> s = warmup_cosine_decay(1.0, 2, 4)
    >>> [round(s(i), 3) for i in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def f(step):
        if step < warmup_steps:
            return peak * step / warmup_steps
        frac = min(step - warmup_steps, decay_steps - warmup_steps) / (decay_steps - warmup_steps)
        return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * frac))

    return f


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Callable[[int], float]:
    """torch's OneCycleLR (cosine annealing): up from ``max_lr/div_factor`` to ``max_lr``, then
    down to ``max_lr/(div_factor*final_div_factor)``.

    >>> s = one_cycle(1.0, 11, pct_start=0.5)
    >>> round(s(0), 6), round(s(10), 8)
    (0.04, 4e-06)
    """
    start, low = max_lr / div_factor, max_lr / (div_factor * final_div_factor)
    up = float(pct_start * total_steps) - 1

    def anneal(a, b, frac):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * frac))

    def f(step):
        if step <= up:
            return anneal(start, max_lr, step / up)
        return anneal(max_lr, low, (step - up) / (total_steps - 1 - up))

    return f
