"""train_epoch: BatchNorm moving statistics, fast vs generic path, outputs, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch_refs import build, configure

import unidl
from unidl.data import ArrayData, MappedData, epoch_plan


@pytest.mark.parametrize("shape", [(4,), (3, 4), (5, 3, 4)])
def test_batchnorm_training_update_is_keras(shape: tuple[int, ...],
                                            rng: np.random.Generator) -> None:
    """Batch stats normalise; moving stats move by (1 - momentum) toward the *biased* var."""
    spec = unidl.Sequential([unidl.Input(shape), unidl.BatchNorm(momentum=0.8, epsilon=0.01)])
    w = {"batch_normalization/gamma": rng.uniform(0.5, 2, 4).astype(np.float32),
         "batch_normalization/beta": rng.standard_normal(4).astype(np.float32),
         "batch_normalization/moving_mean": rng.standard_normal(4).astype(np.float32),
         "batch_normalization/moving_variance": rng.uniform(0.5, 2, 4).astype(np.float32)}
    model = build(spec, weights=w)
    x = (rng.standard_normal((6, *shape)) * 3 + 1).astype(np.float32)
    configure(model, "mse", unidl.SGD(lr=1e-9))
    result = model.train_epoch(ArrayData(x, np.zeros_like(x)),
                               epoch_plan(6, 6, 0, 0, shuffle=False), True)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # numpy's var is the biased one
    v = lambda k: w[f"batch_normalization/{k}"]  # noqa: E731
    want_out = v("gamma") * (x - mean) / np.sqrt(var + 0.01) + v("beta")
    assert result.outputs is not None
    np.testing.assert_allclose(result.outputs, want_out, atol=1e-5, rtol=1e-5)
    got = model.get_weights()
    np.testing.assert_allclose(got["batch_normalization/moving_mean"],
                               0.8 * v("moving_mean") + 0.2 * mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["batch_normalization/moving_variance"],
                               0.8 * v("moving_variance") + 0.2 * var, rtol=1e-6, atol=1e-6)


def test_batchnorm_on_conv_maps_and_batch_of_one(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3, 3, 2)), unidl.Conv2D(2, 1, use_bias=False),
                             unidl.BatchNorm(momentum=0.5)])
    w = {"conv2d/kernel": np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2),
         "batch_normalization/gamma": np.ones(2, np.float32),
         "batch_normalization/beta": np.zeros(2, np.float32),
         "batch_normalization/moving_mean": np.zeros(2, np.float32),
         "batch_normalization/moving_variance": np.ones(2, np.float32)}
    model = build(spec, weights=w)
    x = rng.standard_normal((5, 3, 3, 2)).astype(np.float32)
    configure(model, "mse", unidl.SGD(lr=1e-9))
    # 5 samples in batches of 4: the last batch holds one sample (allowed, as in Keras)
    model.train_epoch(ArrayData(x, np.zeros_like(x)), epoch_plan(5, 4, 0, 0, shuffle=False),
                      False)
    mm, mv = np.zeros(2), np.ones(2)
    for batch in (x[:4], x[4:]):
        mm = 0.5 * mm + 0.5 * batch.mean(axis=(0, 1, 2))
        mv = 0.5 * mv + 0.5 * batch.var(axis=(0, 1, 2))
    got = model.get_weights()
    np.testing.assert_allclose(got["batch_normalization/moving_mean"], mm, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["batch_normalization/moving_variance"], mv, rtol=1e-4,
                               atol=1e-5)


def _conv_spec(dropout: float = 0.0) -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((6, 6, 1)), unidl.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        unidl.BatchNorm(), unidl.MaxPool2D(2, padding="same"), unidl.Flatten(),
        unidl.Dropout(dropout), unidl.Dense(3, activation="softmax"),
    ])


class _Dataset:
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.x[i], self.y[i]


def _train(model: Any, data: Any, epochs: int, collect: bool = False) -> list[Any]:
    configure(model, "sparse_categorical_crossentropy", unidl.Adam(lr=0.01), logits_loss=True,
              seed=7)
    return [model.train_epoch(data, epoch_plan(len(data), 8, 0, e), collect)
            for e in range(epochs)]


def test_fast_path_equals_generic_path(rng: np.random.Generator) -> None:
    x = rng.standard_normal((30, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 30).astype(np.int64)
    fast, generic = build(_conv_spec()), build(_conv_spec())
    r_fast = _train(fast, ArrayData(x, y), 3, collect=True)
    mapped = MappedData(_Dataset(x, y), lambda xs, ys: (xs, ys))
    r_generic = _train(generic, mapped, 3, collect=True)
    for a, b in zip(r_fast, r_generic, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-6)
        np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-6, atol=1e-7)
    wg = generic.get_weights()
    for k, v in fast.get_weights().items():
        np.testing.assert_allclose(v, wg[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_same_seed_same_training_with_dropout(rng: np.random.Generator) -> None:
    x = rng.standard_normal((30, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 30).astype(np.int64)
    data = ArrayData(x, y)
    a, b, c = (build(_conv_spec(0.5)) for _ in range(3))
    la, lb = [r.loss for r in _train(a, data, 3)], [r.loss for r in _train(b, data, 3)]
    assert la == lb
    for k, v in a.get_weights().items():
        np.testing.assert_array_equal(v, b.get_weights()[k])
    configure(c, "sparse_categorical_crossentropy", unidl.Adam(lr=0.01), logits_loss=True,
              seed=8)
    lc = [c.train_epoch(data, epoch_plan(30, 8, 0, e), False).loss for e in range(3)]
    assert lc != la  # other dropout masks


def test_training_reduces_loss_and_new_data_replaces_cache(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((5,)), unidl.Dense(16, activation="relu"),
                             unidl.Dense(1)])
    model = build(spec)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 1))).astype(np.float32)
    configure(model, "mse", unidl.Adam(lr=0.01))
    data = ArrayData(x, y)
    losses = [model.train_epoch(data, epoch_plan(64, 16, 0, e), False).loss for e in range(30)]
    assert losses[-1] < 0.2 * losses[0]
    other = ArrayData(x, np.zeros_like(y))  # different targets, must not hit the cache
    configure(model, "mse", unidl.SGD(lr=1e-9))
    loss = model.train_epoch(other, epoch_plan(64, 64, 0, 0), False).loss
    np.testing.assert_allclose(loss, float((model.predict(x, 64) ** 2).mean()), rtol=1e-5)


