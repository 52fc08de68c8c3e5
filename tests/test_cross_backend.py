"""Backends compared with each other (runs for every ordered pair of installed backends).

Tolerances (docs/parity.md): forward passes agree to 1e-5 absolute; after 3 epochs of
training from the same weights, data, seed and batch order, weights agree to 1e-4 and
per-epoch losses to 1e-4 relative. Dropout masks cannot match across frameworks, so the
training-parity models are dropout-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl
from unidl.testing.cases import FORWARD_SPECS, random_input, random_weights
from unidl.testing.skips import require, require_spec

Pair = tuple[str, str]


def require_features(backend: str, *features: str) -> None:
    for feature in features:
        require(backend, features=feature)


@pytest.mark.parametrize("case", sorted(FORWARD_SPECS))
def test_forward_parity_with_identical_weights(backend_pair: Pair, case: str) -> None:
    a, b = backend_pair
    spec = FORWARD_SPECS[case]
    require_spec(a, spec)
    require_spec(b, spec)
    weights = random_weights(spec, seed=3)
    x = random_input(spec, n=9, seed=4)
    outs = []
    for name in (a, b):
        model = unidl.build(spec, backend=name, device="cpu")
        model.set_weights(weights)
        outs.append(model.predict(x))
    assert np.abs(outs[0] - outs[1]).max() <= 1e-5


def test_build_gives_identical_initial_weights(backend_pair: Pair) -> None:
    spec = FORWARD_SPECS["cnn_flatten_dense"]
    wa = unidl.build(spec, backend=backend_pair[0], seed=11).get_weights()
    wb = unidl.build(spec, backend=backend_pair[1], seed=11).get_weights()
    assert list(wa) == list(wb)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])


def _cnn() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((8, 8, 1)),
        unidl.Conv2D(6, 3, padding="same", use_bias=False),  # a bias before BatchNorm has a
        unidl.BatchNorm(),                                     # zero gradient: docs/parity.md
        unidl.Activation("relu"),  # before the pool: see the max-pool note in docs/parity.md
        unidl.MaxPool2D(),
        unidl.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        unidl.Flatten(),
        unidl.Dense(10, activation="softmax"),
    ])


def _mlp() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((64,)),
        unidl.Dense(32, activation="relu"),
        unidl.Dense(16, activation="tanh"),
        unidl.Dense(10, activation="softmax"),
    ])


def _digits(digits: Any, cnn: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised digits (as the seed notes' StandardScaler does); raw pixels that are
    almost always 0 make Adam amplify float32 rounding (docs/parity.md)."""
    x, y, xt, _ = digits
    mean, std = x.mean(0), x.std(0) + 1e-3
    x, xt = (x - mean) / std, (xt - mean) / std
    if cnn:
        return x.reshape(-1, 8, 8, 1), y, xt.reshape(-1, 8, 8, 1)
    return x, y, xt


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_save_on_one_backend_load_on_the_other(backend_pair: Pair, arch: str, digits: Any,
                                               tmp_path: Path) -> None:
    a, b = backend_pair
    x, y, xt = _digits(digits, arch == "cnn")
    spec = _cnn() if arch == "cnn" else _mlp()
    model = unidl.fit(spec, (x, y), backend=a, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], epochs=2, seed=0, verbose=0)
    moved = unidl.load(model.save(tmp_path / "m"), backend=b)
    assert moved.backend_name == b and moved.history == model.history
    assert np.abs(moved.predict(xt) - model.predict(xt)).max() <= 1e-5
    if arch == "cnn":  # the moving statistics travelled too
        np.testing.assert_array_equal(moved.get_weights()["batch_normalization/moving_mean"],
                                      model.get_weights()["batch_normalization/moving_mean"])


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("optimizer", [unidl.SGD(lr=0.05, momentum=0.9), unidl.Adam(lr=1e-3)],
                         ids=["sgd_momentum", "adam"])
def test_training_parity(backend_pair: Pair, arch: str, optimizer: unidl.spec.Optimizer,
                         digits: Any) -> None:
    a, b = backend_pair
    x, y, _ = _digits(digits, arch == "cnn")
    spec = _cnn() if arch == "cnn" else _mlp()
    runs = [unidl.fit(spec, (x, y), backend=name, loss="sparse_categorical_crossentropy",
                      optimizer=optimizer, metrics=["accuracy"], epochs=3, batch_size=32,
                      seed=7, device="cpu", verbose=0) for name in (a, b)]
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"], rtol=1e-4)
    wa, wb = runs[0].get_weights(), runs[1].get_weights()
    for k in wa:
        assert np.abs(wa[k] - wb[k]).max() <= 1e-4, k


def test_resume_on_the_other_backend_continues_the_trajectory(backend_pair: Pair,
                                                              digits: Any,
                                                              tmp_path: Path) -> None:
    """Saved mid-training on one backend (weights, Adam state, schedule), finished on the
    other: the same result as finishing on the first, within the parity tolerance."""
    a, b = backend_pair
    for name in (a, b):
        require_features(name, "optimizer_state", "lr_schedule", "sample_weight",
                         "gradient_clipping")
    x, y, _ = _digits(digits, cnn=False)
    kw: dict[str, Any] = dict(loss="sparse_categorical_crossentropy",
                              optimizer=unidl.Adam(lr=1e-3, clipnorm=5.0),
                              lr_schedule=unidl.LinearWarmup(warmup=10, per="step"),
                              class_weight={0: 2.0, 1: 0.5}, batch_size=32, seed=3,
                              device="cpu", verbose=0)
    straight = unidl.fit(_mlp(), (x, y), backend=a, epochs=3, **kw)
    half = unidl.fit(_mlp(), (x, y), backend=a, epochs=2, **kw)
    moved = unidl.load(half.save(tmp_path / "half"), backend=b)
    moved.fit((x, y), epochs=3, initial_epoch=2, batch_size=32, verbose=0,
              class_weight={0: 2.0, 1: 0.5})
    np.testing.assert_allclose(moved.history["loss"], straight.history["loss"], rtol=1e-4)
    for k, v in straight.get_weights().items():
        assert np.abs(moved.get_weights()[k] - v).max() <= 1e-4, k
