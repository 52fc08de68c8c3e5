"""Sequence, shape and recurrent layers: layouts inside image stacks, integer inputs,
gradients of the fused recurrent kernels, and training (fast path == Dataset path)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch_refs import DEVICE, build, configure
from unidl_torch import TorchBackend
from unidl_torch.devices import full_precision

import unidl
from unidl.data import ArrayData, MappedData, epoch_plan
from unidl.spec import LAYER_TYPES
from unidl.testing.cases import random_weights
from unidl.testing.reference import forward

ATOL = 1e-5


def test_every_layer_type_is_declared() -> None:
    # every built-in kind; a test's own kinds count only where it registered a builder
    declared = TorchBackend().capabilities.layers
    assert frozenset(LAYER_TYPES.builtins()) <= declared <= frozenset(LAYER_TYPES)


LAYOUT_SPECS = {
    # channels-last order is kept when a 2-D conv stack (NCHW inside) meets these layers
    "conv2d_reshape_seq": unidl.Sequential([
        unidl.Input((6, 5, 3)), unidl.Conv2D(4, 3, padding="same", activation="softmax"),
        unidl.Reshape((-1, 4)), unidl.Conv1D(3, 2, strides=2, padding="same"),
        unidl.LSTM(3, return_sequences=True), unidl.GRU(2)]),
    "conv2d_layernorm_globalmax": unidl.Sequential([
        unidl.Input((6, 5, 3)), unidl.Conv2D(4, 3), unidl.LayerNorm(), unidl.GlobalMaxPool2D(),
        unidl.Dense(2, activation="softmax")]),
    "conv2d_dropout_softmax_gap": unidl.Sequential([
        unidl.Input((6, 5, 3)), unidl.Conv2D(4, 3), unidl.Dropout(0.3),
        unidl.Activation("softmax"), unidl.GlobalAvgPool2D(), unidl.Dense(2)]),
    "pools_1d_padded": unidl.Sequential([
        unidl.Input((10, 3)), unidl.MaxPool1D(4, strides=3, padding="same"),
        unidl.AvgPool1D(3, strides=1, padding="same"),
        unidl.AvgPool1D(4, strides=2, padding="same"), unidl.Conv1D(2, 4, padding="same")]),
    "pools_1d_symmetric": unidl.Sequential([
        unidl.Input((9, 3)), unidl.MaxPool1D(3, strides=1, padding="same"),
        unidl.AvgPool1D(3, strides=1, padding="same"),
        unidl.Conv1D(2, 3, padding="same", use_bias=False, activation="softmax")]),
    "int32_dense": unidl.Sequential([unidl.Input((4,), dtype="int32"), unidl.Dense(2)]),
    "int32_embedding_rnn": unidl.Sequential([
        unidl.Input((5,), dtype="int32"), unidl.Embedding(7, 3), unidl.SimpleRNN(2)]),
}


@pytest.mark.parametrize("name", LAYOUT_SPECS)
def test_forward_and_weight_round_trip(name: str, rng: np.random.Generator) -> None:
    spec = LAYOUT_SPECS[name]
    w = random_weights(spec)
    if spec.input.dtype.startswith("int"):
        x = rng.integers(0, 7, size=(5, *spec.input_shape)).astype(spec.input.dtype)
    else:
        x = rng.standard_normal((5, *spec.input_shape)).astype(np.float32)
    model = build(spec, weights=w)
    np.testing.assert_allclose(model.predict(x, 3), forward(spec, w, x), atol=ATOL, rtol=1e-5)
    got = model.get_weights()
    assert list(got) == list(spec.params)
    for k, v in w.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def _manual_rnn(layer: Any, w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The spec's recurrence step by step (float64 autograd), canonical weights."""
    k, r, b = w["kernel"], w["recurrent_kernel"], w["bias"]
    u = layer.units
    h = c = x.new_zeros(x.shape[0], u)
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if isinstance(layer, unidl.LSTM):
            i, f, g, o = (xt @ k + h @ r + b).split(u, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif isinstance(layer, unidl.GRU):
            xz, hz = xt @ k + b[0], h @ r + b[1]
            z = torch.sigmoid(xz[:, :u] + hz[:, :u])
            rg = torch.sigmoid(xz[:, u:2 * u] + hz[:, u:2 * u])
            h = z * h + (1 - z) * torch.tanh(xz[:, 2 * u:] + rg * hz[:, 2 * u:])
        else:
            h = torch.tanh(xt @ k + h @ r + b)
        outs.append(h)
    return torch.stack(outs, 1) if layer.return_sequences else h


@pytest.mark.parametrize("layer", [unidl.SimpleRNN(5, return_sequences=True), unidl.LSTM(4),
                                   unidl.GRU(3, return_sequences=True)],
                         ids=["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_gradients_in_canonical_layout(layer: Any, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((6, 3)), layer])
    w = random_weights(spec)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    model = build(spec, weights=w)
    model.net.train()
    with full_precision(torch.device(DEVICE)):  # no TF32 in cuDNN's kernels
        (model.net(torch.from_numpy(x).to(DEVICE)) ** 2).sum().backward()
    name = spec.layers[1].layer_name
    ref = {p: torch.tensor(w[f"{name}/{p}"], dtype=torch.float64, requires_grad=True)
           for p in ("kernel", "recurrent_kernel", "bias")}
    (_manual_rnn(spec.layers[1], ref, torch.tensor(x, dtype=torch.float64)) ** 2).sum() \
        .backward()
    for slot in model._slots:
        assert slot.tensor.grad is not None
        grad = slot.to_canonical(slot.tensor.grad.cpu().numpy())
        expected = ref[slot.name.split("/")[1]].grad
        assert expected is not None
        np.testing.assert_allclose(grad, expected.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=slot.name)  # cuDNN sums in another order


class _Dataset:
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.x[i], self.y[i]


def _fit(model: Any, data: Any, loss: str, epochs: int) -> list[Any]:
    configure(model, loss, unidl.Adam(lr=0.01), logits_loss=loss.startswith("sparse"), seed=3)
    return [model.train_epoch(data, epoch_plan(len(data), 16, 0, e), True)
            for e in range(epochs)]


def _check_training(spec: unidl.Sequential, x: np.ndarray, y: np.ndarray, loss: str) -> None:
    fast, generic = build(spec), build(spec)
    r_fast = _fit(fast, ArrayData(x, y), loss, 12)
    r_generic = _fit(generic, MappedData(_Dataset(x, y), lambda xs, ys: (xs, ys)), loss, 12)
    assert r_fast[-1].loss < 0.7 * r_fast[0].loss
    for a, b in zip(r_fast, r_generic, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
        np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-5, atol=1e-6)
    wg = generic.get_weights()
    for k, v in fast.get_weights().items():
        np.testing.assert_allclose(v, wg[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_embedding_lstm_trains(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([
        unidl.Input((8,), dtype="int64"), unidl.Embedding(10, 6), unidl.LSTM(8),
        unidl.Dense(2, activation="softmax")])
    x = rng.integers(0, 10, size=(96, 8)).astype(np.int64)
    y = (x == 3).any(axis=1).astype(np.int64)  # does token 3 occur?
    _check_training(spec, x, y, "sparse_categorical_crossentropy")


def test_conv1d_trains(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([
        unidl.Input((12, 2)), unidl.Conv1D(6, 3, strides=2, padding="same", activation="relu"),
        unidl.MaxPool1D(2, padding="same"), unidl.LayerNorm(), unidl.GRU(4),
        unidl.Dense(1)])
    x = rng.standard_normal((96, 12, 2)).astype(np.float32)
    y = x[:, :, :1].mean(axis=1) - x[:, :, 1:].max(axis=1)
    _check_training(spec, x, y.astype(np.float32), "mse")
