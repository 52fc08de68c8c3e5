"""A NumPy reference implementation of every layer's inference-mode forward pass.

It is the executable form of the spec's semantics: backends are checked against it (and
against each other). Written for clarity, not speed; float64 inside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..spec import layers as L
from ..spec import layers_1d as L1
from ..spec import layers_shape as LS
from ..spec import merge as M
from ..spec import recurrent as R
from ..spec.activations import LEAKY_RELU_SLOPE
from ..spec.graph import Graph
from ..spec.model import Sequential

__all__ = ["activation", "forward"]

Array = npt.NDArray[Any]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _erf(x: Array) -> Array:
    return np.asarray(np.vectorize(math.erf, otypes=[np.float64])(x))


def activation(name: str, x: Array) -> Array:
    """The activation ``name`` applied to ``x`` (float64)."""
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return np.asarray(1 / (1 + np.exp(-x)))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return np.asarray(e / e.sum(axis=-1, keepdims=True))
    if name == "gelu":
        return np.asarray(0.5 * x * (1 + _erf(x / math.sqrt(2))))
    if name == "leaky_relu":
        return np.where(x >= 0, x, LEAKY_RELU_SLOPE * x)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
    if name == "selu":
        return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
    if name == "softplus":
        return np.logaddexp(0, x)
    if name == "swish":
        return np.asarray(x / (1 + np.exp(-x)))
    raise ValueError(f"unknown activation {name!r}")


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2  # the extra cell goes after (TensorFlow)


def _windows(x: Array, window: tuple[int, int], stride: tuple[int, int], padding: str,
             fill: float) -> tuple[Array, Array]:
    """Sliding windows of (n, h, w, c) -> (n, oh, ow, kh, kw, c), and a validity mask."""
    (kh, kw), (sh, sw) = window, stride
    h, w = x.shape[1], x.shape[2]
    valid = np.ones((1, h, w, 1))
    if padding == "same":
        (t, b), (lft, r) = _same_pads(h, kh, sh), _same_pads(w, kw, sw)
        x = np.pad(x, ((0, 0), (t, b), (lft, r), (0, 0)), constant_values=fill)
        valid = np.pad(valid, ((0, 0), (t, b), (lft, r), (0, 0)))
    oh = (x.shape[1] - kh) // sh + 1
    ow = (x.shape[2] - kw) // sw + 1
    idx_h = (np.arange(oh) * sh)[:, None] + np.arange(kh)[None, :]
    idx_w = (np.arange(ow) * sw)[:, None] + np.arange(kw)[None, :]
    win = x[:, idx_h[:, None, :, None], idx_w[None, :, None, :], :]
    mask = valid[:, idx_h[:, None, :, None], idx_w[None, :, None, :], :]
    return win, mask


def _layer(layer: L.Layer, w: Mapping[str, Array], x: Array) -> Array:
    name = layer.layer_name
    if isinstance(layer, L.Dense):
        y = x @ w[f"{name}/kernel"]
        if layer.use_bias:
            y = y + w[f"{name}/bias"]
        return activation(str(layer.activation), y)
    if isinstance(layer, L.Conv2D):
        win, _ = _windows(x, layer.kernel, layer.stride, layer.padding, 0.0)
        y = np.einsum("nhwijc,ijco->nhwo", win, w[f"{name}/kernel"])
        if layer.use_bias:
            y = y + w[f"{name}/bias"]
        return activation(str(layer.activation), y)
    if isinstance(layer, L.MaxPool2D):
        win, _ = _windows(x, layer.window, layer.stride, layer.padding, -np.inf)
        return np.asarray(win.max(axis=(3, 4)))
    if isinstance(layer, L.AvgPool2D):
        win, mask = _windows(x, layer.window, layer.stride, layer.padding, 0.0)
        return np.asarray(win.sum(axis=(3, 4)) / mask.sum(axis=(3, 4)))
    if isinstance(layer, L.Flatten):
        return x.reshape(len(x), -1)
    if isinstance(layer, L.Dropout):
        return x
    if isinstance(layer, L.BatchNorm):
        mean, var = w[f"{name}/moving_mean"], w[f"{name}/moving_variance"]
        return np.asarray((x - mean) / np.sqrt(var + layer.epsilon) * w[f"{name}/gamma"]
                          + w[f"{name}/beta"])
    if isinstance(layer, L.Activation):
        return activation(str(layer.activation), x)
    return _layer_more(layer, w, x)


def _sigmoid(x: Array) -> Array:
    return np.asarray(1 / (1 + np.exp(-x)))


def _recurrent(layer: R.SimpleRNN | R.LSTM | R.GRU, w: Mapping[str, Array], x: Array) -> Array:
    name, u = layer.layer_name, layer.units
    kernel, rec, bias = (w[f"{name}/{p}"] for p in ("kernel", "recurrent_kernel", "bias"))
    h = np.zeros((len(x), u))
    c = np.zeros((len(x), u))
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if isinstance(layer, R.LSTM):
            z = xt @ kernel + h @ rec + bias
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        elif isinstance(layer, R.GRU):
            xz = xt @ kernel + bias[0]
            hz = h @ rec + bias[1]
            z = _sigmoid(xz[:, :u] + hz[:, :u])
            r = _sigmoid(xz[:, u:2 * u] + hz[:, u:2 * u])
            n = np.tanh(xz[:, 2 * u:] + r * hz[:, 2 * u:])
            h = z * h + (1 - z) * n
        else:
            h = np.tanh(xt @ kernel + h @ rec + bias)
        outs.append(h)
    return np.stack(outs, axis=1) if layer.return_sequences else h


def _layer_more(layer: L.Layer, w: Mapping[str, Array], x: Array) -> Array:
    """Sequence, global-pooling, embedding, reshape, normalisation and recurrent layers."""
    name = layer.layer_name
    if isinstance(layer, L1.Conv1D):
        win, _ = _windows(x[:, None], (1, layer.kernel_size), (1, layer.strides),
                          layer.padding, 0.0)
        y = np.einsum("nhwijc,ijco->nhwo", win, w[f"{name}/kernel"][None])[:, 0]
        if layer.use_bias:
            y = y + w[f"{name}/bias"]
        return activation(str(layer.activation), y)
    if isinstance(layer, (L1.MaxPool1D, L1.AvgPool1D)):
        is_max = isinstance(layer, L1.MaxPool1D)
        win, mask = _windows(x[:, None], (1, layer.pool_size), (1, layer.stride),
                             layer.padding, -np.inf if is_max else 0.0)
        if is_max:
            return np.asarray(win.max(axis=(3, 4))[:, 0])
        return np.asarray((win.sum(axis=(3, 4)) / mask.sum(axis=(3, 4)))[:, 0])
    if isinstance(layer, (L1.GlobalAvgPool1D, L1.GlobalAvgPool2D)):
        return np.asarray(x.reshape(len(x), -1, x.shape[-1]).mean(axis=1))
    if isinstance(layer, (L1.GlobalMaxPool1D, L1.GlobalMaxPool2D)):
        return np.asarray(x.reshape(len(x), -1, x.shape[-1]).max(axis=1))
    if isinstance(layer, LS.Embedding):
        return np.asarray(w[f"{name}/embeddings"][x.astype(np.int64)])
    if isinstance(layer, LS.Reshape):
        return x.reshape(len(x), *layer.output_shape(x.shape[1:]))
    if isinstance(layer, LS.LayerNorm):
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return np.asarray((x - mean) / np.sqrt(var + layer.epsilon) * w[f"{name}/gamma"]
                          + w[f"{name}/beta"])
    if isinstance(layer, LS.Permute):
        return x.transpose(0, *layer.dims)
    if isinstance(layer, (R.SimpleRNN, R.LSTM, R.GRU)):
        return _recurrent(layer, w, x)
    raise NotImplementedError(f"no reference for {layer.kind}")


def _merge(layer: M.Merge, xs: list[Array]) -> Array:
    if isinstance(layer, M.Concatenate):
        return np.concatenate(xs, axis=1 + layer.feature_axis(xs[0].ndim - 1))
    if isinstance(layer, M.Add):
        return np.asarray(sum(xs[1:], xs[0]))
    if isinstance(layer, M.Subtract):
        return xs[0] - xs[1]
    if isinstance(layer, M.Multiply):
        return np.asarray(np.prod(np.stack(xs), axis=0))
    if isinstance(layer, M.Average):
        return np.asarray(np.mean(np.stack(xs), axis=0))
    raise NotImplementedError(f"no reference for {layer.kind}")


def _forward_graph(spec: Graph, w: Mapping[str, Array], xs: tuple[Array, ...]
                   ) -> tuple[Array, ...]:
    # integer inputs stay integer for Embedding; every other layer sees float64
    env = {name: np.asarray(x) for name, x in zip(spec.input_names, xs, strict=True)}
    for node in spec.nodes:
        args = [env[r] for r in node.inputs]
        if not isinstance(node.layer, LS.Embedding):
            args = [np.asarray(a, dtype=np.float64) for a in args]
        env[node.output] = (_merge(node.layer, args) if isinstance(node.layer, M.Merge)
                            else _layer(node.layer, w, args[0]))
    return tuple(env[name] for name in spec.output_names)


def forward(spec: Sequential | Graph, weights: Mapping[str, Array], x: Any) -> Any:
    """Inference-mode output of ``spec`` with canonical ``weights`` on input ``x``.

    For a :class:`~unidl.Graph`, ``x`` is a tuple of arrays in ``spec.input_names`` order
    and the result a tuple in ``spec.output_names`` order.
    """
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    if isinstance(spec, Graph):
        return _forward_graph(spec, w, tuple(x))
    out = np.asarray(x, dtype=np.float64)
    for ls in spec.layer_shapes:
        out = _layer(ls.layer, w, out)
    return out
