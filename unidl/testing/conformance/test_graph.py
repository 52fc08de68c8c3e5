"""Functional graphs (backends declaring the ``graph`` feature): gradients through shared
layers, merge layers and several weighted losses against finite differences of the NumPy
reference; logs per output; dict/list data and map-style datasets; save and load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import unidl
from unidl.losses import per_sample_loss
from unidl.testing.cases import GRAPH_SPECS, random_input, random_weights
from unidl.testing.reference import forward

from ._support import require, require_spec

Array = npt.NDArray[Any]

LOSSES = {"reg": "mse", "cls": "sparse_categorical_crossentropy"}
LOSS_WEIGHTS = {"reg": 0.5, "cls": 2.0}


def _problem(n: int = 16) -> tuple[unidl.Graph, tuple[Array, ...], dict[str, Array]]:
    spec = GRAPH_SPECS["two_towers_shared"]
    rng = np.random.default_rng(7)
    xs = random_input(spec, n=n, seed=8)
    ys: dict[str, Array] = {"reg": rng.normal(size=(n, 2)).astype(np.float32),
                            "cls": (np.arange(n) % 3).astype(np.int64)}
    return spec, xs, ys


def _reference_loss(spec: unidl.Graph, weights: dict[str, Array], xs: tuple[Array, ...],
                    ys: dict[str, Array]) -> float:
    outs = forward(spec, weights, xs)
    return sum(LOSS_WEIGHTS[name] * float(per_sample_loss(unidl.Loss(LOSSES[name]),
                                                          ys[name], out).mean())
               for name, out in zip(spec.output_names, outs, strict=True))


def test_gradients_through_shared_and_merge_layers_match_finite_differences(
        backend: str) -> None:
    """One full-batch SGD step: (w0 - w1) / lr is the gradient of the weighted loss sum,
    which must equal central differences of the reference loss."""
    spec, xs, ys = _problem()
    require_spec(backend, spec, training=True)
    require(backend, losses="sparse_categorical_crossentropy", optimizers="SGD")
    w0 = random_weights(spec, seed=5)
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    model.set_weights(w0)
    lr = 0.1
    model.compile(LOSSES, unidl.SGD(lr=lr), loss_weights=LOSS_WEIGHTS)
    model.fit((list(xs), ys), epochs=1, batch_size=len(xs[0]), shuffle=False, verbose=0)
    w1 = model.get_weights()
    w64 = {k: v.astype(np.float64) for k, v in w0.items()}
    assert model.history["loss"][0] == pytest.approx(_reference_loss(spec, w64, xs, ys),
                                                     rel=1e-5)
    eps = 1e-6
    for name in ("shared/kernel", "shared/bias", "reg/bias", "cls/bias"):
        numeric = np.zeros(w64[name].shape)
        for idx in np.ndindex(*w64[name].shape):
            saved = w64[name][idx]
            w64[name][idx] = saved + eps
            up = _reference_loss(spec, w64, xs, ys)
            w64[name][idx] = saved - eps
            down = _reference_loss(spec, w64, xs, ys)
            w64[name][idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        step = (w0[name].astype(np.float64) - w1[name]) / lr
        np.testing.assert_allclose(step, numeric, rtol=1e-3, atol=2e-5, err_msg=name)


def test_logs_name_each_output_and_add_up(backend: str) -> None:
    spec, xs, ys = _problem(n=48)
    require_spec(backend, spec, training=True)
    require(backend, losses="sparse_categorical_crossentropy")
    model = unidl.build(spec, backend=backend, seed=1, device="cpu")
    model.compile(LOSSES, unidl.Adam(lr=1e-2), metrics={"reg": ["mae"], "cls": ["accuracy"]},
                  loss_weights=LOSS_WEIGHTS)
    data = (dict(zip(spec.input_names, xs, strict=True)), ys)
    model.fit(data, epochs=3, batch_size=16, validation_data=data, verbose=0)
    assert set(model.history) == {f"{p}{k}" for p in ("", "val_") for k in (
        "loss", "reg_loss", "cls_loss", "reg_mae", "cls_accuracy")}
    for p in ("", "val_"):
        for epoch in range(3):
            total = (0.5 * model.history[f"{p}reg_loss"][epoch]
                     + 2.0 * model.history[f"{p}cls_loss"][epoch])
            assert model.history[f"{p}loss"][epoch] == pytest.approx(total, rel=1e-4)
    logs = model.evaluate(data)
    assert logs["loss"] == pytest.approx(model.history["val_loss"][-1], rel=1e-5)
    assert model.history["loss"][-1] < model.history["loss"][0]
    reg, cls = model.predict(list(xs))
    assert reg.shape == (48, 2) and cls.shape == (48, 3)
    np.testing.assert_allclose(cls.sum(axis=1), 1.0, rtol=1e-5)


class _DictSamples:
    """A map-style dataset yielding ({input: array}, (target per output))."""

    def __init__(self, names: tuple[str, ...], xs: tuple[Array, ...],
                 ys: dict[str, Array]) -> None:
        self.names, self.xs, self.ys = names, xs, ys

    def __len__(self) -> int:
        return len(self.xs[0])

    def __getitem__(self, i: int) -> tuple[dict[str, Array], tuple[Array, Array]]:
        return ({n: x[i] for n, x in zip(self.names, self.xs, strict=True)},
                (self.ys["reg"][i], self.ys["cls"][i]))


def test_a_dataset_of_dict_samples_trains_like_arrays(backend: str) -> None:
    spec, xs, ys = _problem(n=40)
    require_spec(backend, spec, training=True)
    require(backend, losses="sparse_categorical_crossentropy")
    results = []
    for data in ((list(xs), ys), _DictSamples(spec.input_names, xs, ys)):
        model = unidl.build(spec, backend=backend, seed=2, device="cpu")
        model.compile(LOSSES, unidl.Adam(lr=1e-2), loss_weights=LOSS_WEIGHTS)
        model.fit(data, epochs=2, batch_size=8, verbose=0)
        results.append(model.get_weights())
    for k in results[0]:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-5, atol=1e-6)


def test_integer_input_feeding_dense_is_cast_to_float(backend: str) -> None:
    codes = unidl.Input((3,), dtype="int64", name="codes")
    spec = unidl.Graph(codes, unidl.Concatenate()([
        unidl.Dense(2, name="direct")(codes),
        unidl.Flatten()(unidl.Embedding(6, 2, name="lookup")(codes))]))
    require_spec(backend, spec)
    weights = random_weights(spec)
    model = unidl.build(spec, backend=backend, device="cpu")
    model.set_weights(weights)
    x = np.random.default_rng(0).integers(0, 6, size=(5, 3))
    np.testing.assert_allclose(model.predict(x), forward(spec, weights, (x,))[0],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(unidl.DataError, match="outside \\[0, 6\\) of Embedding 'lookup'"):
        model.predict(x + 1)


def test_graph_save_and_load_keeps_outputs_and_training_config(backend: str,
                                                               tmp_path: Path) -> None:
    spec, xs, ys = _problem(n=24)
    require_spec(backend, spec, training=True)
    require(backend, losses="sparse_categorical_crossentropy")
    model = unidl.build(spec, backend=backend, seed=4, device="cpu")
    model.compile(LOSSES, "adam", metrics={"cls": ["accuracy"]}, loss_weights=LOSS_WEIGHTS)
    model.fit((list(xs), ys), epochs=1, batch_size=8, verbose=0)
    back = unidl.load(model.save(tmp_path / "graph"), backend=backend, device="cpu")
    assert back.spec == spec
    assert back.loss_weights == LOSS_WEIGHTS and back.metrics == ("cls_accuracy",)
    for a, b in zip(model.predict(list(xs)), back.predict(list(xs)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.evaluate((list(xs), ys)) == pytest.approx(model.evaluate((list(xs), ys)))
