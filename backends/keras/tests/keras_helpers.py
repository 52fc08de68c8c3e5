"""Test helpers for the keras backend: model building and NumPy reference implementations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from unidl_keras import KerasBackend, KerasModel

import unidl
from unidl.backend import TrainingSetup
from unidl.data import ArrayData, EpochPlan
from unidl.initializers import initial_weights

Array = Any  # numpy arrays; the references mix float32 and float64


def build(spec: unidl.Sequential, seed: int = 0,
          weights: dict[str, Array] | None = None) -> KerasModel:
    w = initial_weights(spec, seed) if weights is None else weights
    return KerasBackend().build(spec, w, "cpu")


def one_batch_epoch(model: KerasModel, x: Array, y: Array, collect: bool = False) -> Any:
    plan = EpochPlan(np.arange(len(x), dtype=np.int64), len(x))
    return model.train_epoch(ArrayData(x, y), plan, collect)


def setup(loss: str | unidl.Loss = "mse", opt: Any = None, logits_loss: bool = False,
          seed: int = 0) -> TrainingSetup:
    loss_spec = loss if isinstance(loss, unidl.Loss) else unidl.Loss(loss)
    return TrainingSetup(loss_spec, opt or unidl.SGD(lr=0.01), logits_loss, seed)


# -- NumPy references ----------------------------------------------------------------------


def erf(x: Array) -> Array:
    return np.vectorize(math.erf)(x)


def activation(name: str, x: Array) -> Array:
    x = x.astype(np.float64)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if name == "gelu":
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if name == "leaky_relu":
        return np.where(x > 0, x, 0.2 * x)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(x))
    if name == "selu":
        a, s = 1.6732632423543772, 1.0507009873554805
        return s * np.where(x > 0, x, a * np.expm1(x))
    if name == "softplus":
        return np.log1p(np.exp(x))
    if name == "swish":
        return x / (1 + np.exp(-x))
    raise AssertionError(name)


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _windows(x: Array, k: tuple[int, int], s: tuple[int, int], padding: str,
             fill: float) -> tuple[Array, Array]:
    """(N, OH, OW, kh, kw, C) windows and a validity mask of the same shape (no N, C)."""
    n, h, w, c = x.shape
    if padding == "same":
        (pt, pb), (pl, pr) = _same_pads(h, k[0], s[0]), _same_pads(w, k[1], s[1])
    else:
        pt = pb = pl = pr = 0
    xp = np.full((n, h + pt + pb, w + pl + pr, c), fill, dtype=np.float64)
    xp[:, pt:pt + h, pl:pl + w] = x
    valid = np.zeros((h + pt + pb, w + pl + pr), bool)
    valid[pt:pt + h, pl:pl + w] = True
    oh = (xp.shape[1] - k[0]) // s[0] + 1
    ow = (xp.shape[2] - k[1]) // s[1] + 1
    win = np.empty((n, oh, ow, k[0], k[1], c))
    mask = np.empty((oh, ow, k[0], k[1]), bool)
    for i in range(oh):
        for j in range(ow):
            win[:, i, j] = xp[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            mask[i, j] = valid[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
    return win, mask


def conv2d(x: Array, kernel: Array, bias: Array, s: tuple[int, int], padding: str) -> Array:
    win, _ = _windows(x, kernel.shape[:2], s, padding, 0.0)
    return np.einsum("nijabc,abcf->nijf", win, kernel.astype(np.float64)) + bias


def max_pool(x: Array, k: tuple[int, int], s: tuple[int, int], padding: str) -> Array:
    win, _ = _windows(x, k, s, padding, -np.inf)
    return win.max(axis=(3, 4))


def avg_pool(x: Array, k: tuple[int, int], s: tuple[int, int], padding: str) -> Array:
    win, mask = _windows(x, k, s, padding, 0.0)
    count = mask.sum(axis=(2, 3))[None, :, :, None]
    return win.sum(axis=(3, 4)) / count
