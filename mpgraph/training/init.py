"""Weight initialisers (torch.nn.init's formulas), each drawing from an explicit Generator.

>>> import numpy as np
>>> W = glorot_uniform((64, 10), np.random.default_rng(0))
>>> bool(np.abs(W).max() <= np.sqrt(6 / 74))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "orthogonal"]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    if len(shape) == 1:
        return shape[0], shape[0]
    # our Linear is x @ W with W of shape (fan_in, fan_out); conv kernels are (out, in, kh, kw)
    if len(shape) == 2:
        return shape[0], shape[1]
    return shape[1] * receptive, shape[0] * receptive


def glorot_uniform(shape, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """Xavier/Glorot uniform: U(-a, a), ``a = gain sqrt(6 / (fan_in + fan_out))``."""
    fi, fo = _fans(tuple(shape))
    a = gain * np.sqrt(6.0 / (fi + fo))
    return rng.uniform(-a, a, size=shape)


def glorot_normal(shape, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """Xavier/Glorot normal: N(0, std^2), ``std = gain sqrt(2 / (fan_in + fan_out))``."""
    fi, fo = _fans(tuple(shape))
    return rng.normal(0.0, gain * np.sqrt(2.0 / (fi + fo)), size=shape)


def he_uniform(shape, rng: np.random.Generator) -> np.ndarray:
    """Kaiming/He uniform for ReLU: U(-a, a), ``a = sqrt(6 / fan_in)``."""
    fi, _ = _fans(tuple(shape))
    a = np.sqrt(6.0 / fi)
    return rng.uniform(-a, a, size=shape)


def he_normal(shape, rng: np.random.Generator) -> np.ndarray:
    """Kaiming/He normal for ReLU: N(0, 2 / fan_in)."""
    fi, _ = _fans(tuple(shape))
    return rng.normal(0.0, np.sqrt(2.0 / fi), size=shape)


def orthogonal(shape, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one.

    >>> Q = orthogonal((4, 4), np.random.default_rng(1))
    >>> bool(np.allclose(Q @ Q.T, np.eye(4)))
    True
    """
    rows, cols = shape[0], int(np.prod(shape[1:]))
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols].reshape(shape)
