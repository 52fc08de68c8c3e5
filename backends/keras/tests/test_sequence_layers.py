"""Sequence, embedding and recurrent layers: training in the compiled epoch loop."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from keras_helpers import build, setup

import unidl
from unidl.data import ArrayData, epoch_plan
from unidl.testing.cases import Pairs, random_weights
from unidl.testing.reference import forward

Array = Any


class Generic:
    """A SampleSource that is not ArrayData: forces the per-batch ``take`` path."""

    def __init__(self, x: Array, y: Array) -> None:
        self._inner = ArrayData(x, y)
        self.sample_weight = None

    def __len__(self) -> int:
        return len(self._inner)

    def take(self, indices: Array) -> tuple[Array, Array | None]:
        return self._inner.take(indices)


def _embedding_lstm(dtype: str = "int64") -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((8,), dtype=dtype), unidl.Embedding(20, 6), unidl.LSTM(8),
        unidl.Dense(3, activation="softmax")])


def _token_data(rng: np.random.Generator, n: int = 70) -> tuple[Array, Array]:
    x = rng.integers(0, 20, (n, 8)).astype(np.int64)
    y = (x[:, -1] % 3).astype(np.int64)  # learnable from the last token
    return x, y


def _conv1d() -> unidl.Sequential:
    """Ends with a Conv1D + sigmoid, so the fused loss uses its pre-activation."""
    return unidl.Sequential([
        unidl.Input((12, 3)), unidl.Conv1D(6, 3, padding="same", activation="relu"),
        unidl.MaxPool1D(2), unidl.AvgPool1D(2, strides=1, padding="same"),
        unidl.LayerNorm(), unidl.Conv1D(2, 3, strides=2, activation="sigmoid")])


def _train(model: Any, source: Any, loss: str, opt: Any, epochs: int, bs: int = 16,
           logits_loss: bool = True) -> list[float]:
    model.configure(setup(loss, opt, logits_loss=logits_loss, seed=3))
    return [model.train_epoch(source, epoch_plan(len(source), bs, 3, e), False).loss
            for e in range(epochs)]


def _assert_same_weights(a: Any, b: Any) -> None:
    for k, v in a.get_weights().items():
        np.testing.assert_allclose(v, b.get_weights()[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_embedding_lstm_trains_in_graph_mode_and_fast_equals_generic(
        rng: np.random.Generator) -> None:
    x, y = _token_data(rng)  # 70 samples, batch 16: a last batch of 6
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an XLA fallback warns
        fast = build(_embedding_lstm())
        fast_losses = _train(fast, ArrayData(x, y), "sparse_categorical_crossentropy",
                             unidl.Adam(lr=0.01), 10)
        slow = build(_embedding_lstm())
        slow_losses = _train(slow, Generic(x, y), "sparse_categorical_crossentropy",
                             unidl.Adam(lr=0.01), 10)
    # recurrent models default to graph mode (faster than XLA's while loop on CPU)
    assert not fast._require_trainer().epoch_fn(16, False, False).jit_compile
    assert fast_losses[-1] < 0.8 * fast_losses[0]
    np.testing.assert_allclose(fast_losses, slow_losses, rtol=1e-5)
    _assert_same_weights(fast, slow)


def test_conv1d_ending_model_trains_with_fused_loss(rng: np.random.Generator) -> None:
    x = rng.standard_normal((50, 12, 3)).astype(np.float32)
    y = (x[:, ::6, :2] > 0).astype(np.float32)  # (50, 2, 2) in {0, 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fast = build(_conv1d())
        fast_losses = _train(fast, ArrayData(x, y), "binary_crossentropy",
                             unidl.SGD(lr=0.2, momentum=0.9), 8)
        slow = build(_conv1d())
        slow_losses = _train(slow, Generic(x, y), "binary_crossentropy",
                             unidl.SGD(lr=0.2, momentum=0.9), 8)
    assert fast._net.head is not None  # the sigmoid is separate from the Conv1D
    assert fast_losses[-1] < 0.9 * fast_losses[0]
    np.testing.assert_allclose(fast_losses, slow_losses, rtol=1e-5)
    _assert_same_weights(fast, slow)


@pytest.mark.parametrize("layer", [unidl.SimpleRNN(5, return_sequences=True),
                                   unidl.GRU(5, return_sequences=True),
                                   unidl.LSTM(5, return_sequences=True)], ids=repr)
def test_recurrent_layers_compile_with_xla(layer: Any, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((7, 3)), layer, unidl.GlobalAvgPool1D(),
                             unidl.Dense(2)])
    x = rng.standard_normal((40, 7, 3)).astype(np.float32)
    y = np.stack([x[:, :, 0].mean(1), x[:, -1, 1]], 1).astype(np.float32)
    model = build(spec)
    model.jit_compile = True  # not the default for recurrent models, but it must work
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        losses = _train(model, ArrayData(x, y), "mse", unidl.Adam(lr=0.02), 5,
                        logits_loss=False)
    assert model._require_trainer().epoch_fn(16, False, False).jit_compile
    assert model._predict_fn is None or model._predict_fn.jit_compile
    assert losses[-1] < losses[0]
    w = model.get_weights()
    np.testing.assert_allclose(model.predict(x[:9], 4), forward(spec, w, x[:9]),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_inputs_stay_integer(dtype: str, rng: np.random.Generator) -> None:
    spec = _embedding_lstm(dtype)
    model = build(spec)
    assert model.keras_model.inputs[0].dtype == dtype
    weights = random_weights(spec)
    model.set_weights(weights)
    x = rng.integers(0, 20, (9, 8)).astype(dtype)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, weights, x),
                               rtol=1e-5, atol=1e-5)
    seen: list[Any] = []
    forward_fn = model._forward

    def spy(xs: Any, training: bool) -> Any:
        seen.append(xs[0].dtype)  # the model's one input
        return forward_fn(xs, training)

    model._forward = spy  # type: ignore[method-assign]
    y = (x[:, 0] % 3).astype(np.int64)
    _train(model, ArrayData(x, y), "sparse_categorical_crossentropy", unidl.SGD(), 1)
    _train(model, Generic(x, y), "sparse_categorical_crossentropy", unidl.SGD(), 1)
    assert seen and all(d.is_integer for d in seen)


def test_public_api_fit_array_equals_dataset(rng: np.random.Generator) -> None:
    x, y = _token_data(rng, 40)
    histories = []
    for data in ((x, y), Pairs(x, y)):
        model = unidl.build(_embedding_lstm(), backend="keras", seed=0, device="cpu")
        model.compile("sparse_categorical_crossentropy", unidl.Adam(lr=0.01))
        model.fit(data, epochs=3, batch_size=8, verbose=0)
        histories.append(model.history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    assert histories[0][-1] < histories[0][0]


def test_embedding_index_out_of_range_is_refused_before_running(
        rng: np.random.Generator) -> None:
    model = unidl.build(_embedding_lstm(), backend="keras", seed=0, device="cpu")
    x = rng.integers(0, 20, (4, 8))
    x[2, 3] = 20
    with pytest.raises(unidl.DataError):
        model.predict(x)
