"""NumPy references for the torch backend tests (written from the spec, not from the code)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import numpy.typing as npt
from unidl_torch import TorchBackend, TorchModel

from unidl.backend import TrainingSetup
from unidl.initializers import initial_weights
from unidl.spec import Loss, Optimizer, Sequential

Array = npt.NDArray[Any]

#: Run the whole suite on another device, e.g. ``UNIDL_TORCH_TEST_DEVICE=cuda:0``.
DEVICE = os.environ.get("UNIDL_TORCH_TEST_DEVICE", "cpu")


def build(spec: Sequential, seed: int = 0, weights: dict[str, Array] | None = None,
          device: str = DEVICE) -> TorchModel:
    w = initial_weights(spec, seed) if weights is None else weights
    return TorchBackend().build(spec, w, device)


def configure(model: TorchModel, loss: str | Loss = "mse", optimizer: Optimizer | None = None,
              logits_loss: bool = False, seed: int = 0) -> None:
    from unidl import SGD

    model.configure(TrainingSetup(loss if isinstance(loss, Loss) else Loss(loss),
                                  optimizer or SGD(lr=0.01), logits_loss, seed))


def tf_same(size: int, window: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _pad_nhwc(x: Array, window: tuple[int, int], stride: tuple[int, int], padding: str,
              value: float) -> Array:
    if padding == "valid":
        return x
    rows = tf_same(x.shape[1], window[0], stride[0])
    cols = tf_same(x.shape[2], window[1], stride[1])
    return np.pad(x, ((0, 0), rows, cols, (0, 0)), constant_values=value)


def conv2d(x: Array, kernel: Array, bias: Array | None, stride: tuple[int, int],
           padding: str) -> Array:
    x = _pad_nhwc(x.astype(np.float64), kernel.shape[:2], stride, padding, 0.0)
    kh, kw, _, co = kernel.shape
    ho, wo = (x.shape[1] - kh) // stride[0] + 1, (x.shape[2] - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], ho, wo, co))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, i, j] = np.einsum("nhwc,hwco->no", patch, kernel)
    return out + (0 if bias is None else bias)


def pool(x: Array, window: tuple[int, int], stride: tuple[int, int], padding: str,
         kind: str) -> Array:
    # NaN marks padding: nanmax ignores it (as -inf would), nanmean leaves it out of the count.
    x = _pad_nhwc(x.astype(np.float64), window, stride, padding, np.nan)
    ho, wo = (x.shape[1] - window[0]) // stride[0] + 1, (x.shape[2] - window[1]) // stride[1] + 1
    out = np.zeros((x.shape[0], ho, wo, x.shape[3]))
    reduce = np.nanmax if kind == "max" else np.nanmean
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * stride[0]:i * stride[0] + window[0],
                      j * stride[1]:j * stride[1] + window[1]]
            out[:, i, j] = reduce(patch, axis=(1, 2))
    return out


def _sigmoid(x: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def activation(name: str, x: Array) -> Array:
    x = x.astype(np.float64)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return np.asarray(e / e.sum(axis=-1, keepdims=True))
    if name == "gelu":
        return np.asarray(0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))))
    if name == "leaky_relu":
        return np.where(x > 0, x, 0.2 * x)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(x))
    if name == "selu":
        alpha, scale = 1.6732632423543772, 1.0507009873554805
        return np.asarray(scale * np.where(x > 0, x, alpha * np.expm1(x)))
    if name == "softplus":
        return np.asarray(np.log1p(np.exp(x)))
    if name == "swish":
        return np.asarray(x * _sigmoid(x))
    raise AssertionError(name)
