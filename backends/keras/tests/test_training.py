"""train_epoch: fast path == generic path, plan semantics, determinism, outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from keras_helpers import build, setup

import unidl
from unidl.data import ArrayData, EpochPlan, epoch_plan

Array = Any


class Generic:
    """A SampleSource that is not ArrayData: forces the per-batch ``take`` path."""

    def __init__(self, x: Array, y: Array) -> None:
        self._inner = ArrayData(x, y)
        self.calls = 0

    def __len__(self) -> int:
        return len(self._inner)

    def take(self, indices: Array) -> tuple[Array, Array | None]:
        self.calls += 1
        return self._inner.take(indices)


def _cnn() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((7, 7, 2)), unidl.Conv2D(4, 3, strides=2, padding="same",
                                             activation="relu"),
        unidl.BatchNorm(), unidl.AvgPool2D(2, padding="same"), unidl.Flatten(),
        unidl.Dense(8, activation="gelu"), unidl.Dense(3, activation="softmax"),
    ])


def _data(rng: np.random.Generator, n: int = 103) -> tuple[Array, Array]:
    x = rng.standard_normal((n, 7, 7, 2)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int64)
    return x, y


def _train(spec: unidl.Sequential, source: Any, opt: Any, epochs: int, seed: int = 0,
           collect: bool = False, batch_size: int = 16) -> tuple[Any, list[Any]]:
    model = build(spec, seed=seed)
    model.configure(setup("sparse_categorical_crossentropy", opt, logits_loss=True,
                          seed=seed))
    results = [model.train_epoch(source, epoch_plan(len(source), batch_size, seed, e),
                                 collect) for e in range(epochs)]
    return model, results


@pytest.mark.parametrize("opt", [unidl.SGD(lr=0.05, momentum=0.9), unidl.Adam()], ids=repr)
def test_fast_path_equals_generic_path(opt: Any, rng: np.random.Generator) -> None:
    x, y = _data(rng)  # 103 samples, batch 16: a last batch of 7
    fast, fast_res = _train(_cnn(), ArrayData(x, y), opt, 3, collect=True)
    source = Generic(x, y)
    slow, slow_res = _train(_cnn(), source, opt, 3, collect=True)
    assert source.calls == 3 * 7
    for k, v in fast.get_weights().items():
        np.testing.assert_allclose(v, slow.get_weights()[k], rtol=1e-6, atol=1e-6, err_msg=k)
    for a, b in zip(fast_res, slow_res, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-6)
        np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-5, atol=1e-6)


def _dropout_mlp() -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((6,)), unidl.Dense(16, activation="relu"),
                             unidl.Dropout(0.5), unidl.Dense(3, activation="softmax")])


def test_same_seed_same_result_with_dropout(rng: np.random.Generator) -> None:
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64).astype(np.int64)
    a, ra = _train(_dropout_mlp(), ArrayData(x, y), unidl.Adam(), 2, seed=5)
    b, rb = _train(_dropout_mlp(), ArrayData(x, y), unidl.Adam(), 2, seed=5)
    c, _ = _train(_dropout_mlp(), ArrayData(x, y), unidl.Adam(), 2, seed=6)
    for k, v in a.get_weights().items():
        np.testing.assert_array_equal(v, b.get_weights()[k])
    assert [r.loss for r in ra] == [r.loss for r in rb]
    assert not np.array_equal(a.get_weights()["dense/kernel"], c.get_weights()["dense/kernel"])


def test_reconfigure_restarts_dropout_stream(rng: np.random.Generator) -> None:
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int64)
    model = build(_dropout_mlp())
    plan = epoch_plan(32, 32, 0, 0)
    outs = []
    for _ in range(2):
        model.set_weights(build(_dropout_mlp()).get_weights())
        model.configure(setup("sparse_categorical_crossentropy", unidl.SGD(), seed=9))
        outs.append(model.train_epoch(ArrayData(x, y), plan, True).outputs)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_cached_device_arrays_follow_the_data_object(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)])
    model = build(spec)
    model.configure(setup("mse", unidl.SGD(lr=0.0001)))
    x = rng.standard_normal((8, 3)).astype(np.float32)
    plan = EpochPlan(np.arange(8), 8)
    first = model.train_epoch(ArrayData(x, np.zeros((8, 1), np.float32)), plan, False).loss
    second = model.train_epoch(ArrayData(x, np.ones((8, 1), np.float32) * 10), plan,
                               False).loss
    assert second > first + 50  # new targets were used, not the cached ones


def test_training_without_targets_is_a_data_error(rng: np.random.Generator) -> None:
    model = build(unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)]))
    model.configure(setup("mse"))
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(unidl.DataError, match="targets"):
        model.train_epoch(ArrayData(x, None), EpochPlan(np.arange(4), 2), False)


def test_predict_batches_and_empty_input(rng: np.random.Generator) -> None:
    model = build(_cnn())
    x, _ = _data(rng, 37)
    full = model.predict(x, 64)
    np.testing.assert_allclose(model.predict(x, 5), full, rtol=1e-6, atol=1e-7)
    assert model.predict(x[:0], 8).shape == (0, 3)


def test_without_xla_fast_path_still_equals_generic(rng: np.random.Generator) -> None:
    x, y = _data(rng, 40)
    models = []
    for source in (ArrayData(x, y), Generic(x, y)):
        model = build(_cnn())
        model.jit_compile = False
        model.configure(setup("sparse_categorical_crossentropy", unidl.Adam(),
                              logits_loss=True))
        for e in range(2):
            model.train_epoch(source, epoch_plan(40, 16, 0, e), False)
        models.append(model)
    for k, v in models[0].get_weights().items():
        np.testing.assert_allclose(v, models[1].get_weights()[k], rtol=1e-6, atol=1e-6)


def test_xla_refusal_falls_back_to_graph_mode() -> None:
    from unidl_keras._runtime import tf
    from unidl_keras.training import Compiled

    fn = Compiled(lambda v: tf.strings.length(tf.strings.as_string(v)), True)
    with pytest.warns(RuntimeWarning, match="XLA"):
        assert fn(tf.constant([1.5, 10.0])).numpy().tolist() == [8, 9]
    assert not fn.jit_compile


def test_device_copy_is_released_with_the_data(rng: np.random.Generator) -> None:
    import gc

    model = build(unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)]))
    model.configure(setup("mse"))
    data = ArrayData(rng.standard_normal((8, 3)).astype(np.float32),
                     np.zeros((8, 1), np.float32))
    model.train_epoch(data, EpochPlan(np.arange(8), 4), False)
    assert model._cache is not None
    del data
    gc.collect()
    assert model._cache is None
