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
from unidl.testing.cases import (
    FORWARD_SPECS,
    GRAPH_SPECS,
    random_input,
    random_weights,
    tabular_graph,
)
from unidl.testing.skips import require, require_spec

Pair = tuple[str, str]


def require_features(backend: str, *features: str) -> None:
    for feature in features:
        require(backend, features=feature)


def require_both(pair: Pair, spec: unidl.Sequential | unidl.Graph, training: bool = False,
                 optimizer: str = "Adam",
                 loss: str = "sparse_categorical_crossentropy") -> None:
    """Skip, with the reason, unless both backends declare what the test uses: a backend
    that passes the conformance suite with fewer capabilities never fails these tests."""
    for name in pair:
        require_spec(name, spec, training=training)
        if training:
            require(name, optimizers=optimizer, losses=loss)


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
    require_both(backend_pair, spec)
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
    require_both(backend_pair, spec, training=True)
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
    require_both(backend_pair, spec, training=True, optimizer=optimizer.kind)
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
    require_both(backend_pair, _mlp(), training=True)
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


@pytest.mark.parametrize("case", sorted(GRAPH_SPECS))
def test_graph_forward_parity_and_save_load(backend_pair: Pair, case: str,
                                            tmp_path: Path) -> None:
    """Identical weights give identical outputs; a graph saved on one backend loads on the
    other with the same outputs."""
    a, b = backend_pair
    spec = GRAPH_SPECS[case]
    require_spec(a, spec)
    require_spec(b, spec)
    weights = random_weights(spec, seed=3)
    xs = list(random_input(spec, n=9, seed=4))
    first = unidl.build(spec, backend=a, device="cpu")
    first.set_weights(weights)
    moved = unidl.load(first.save(tmp_path / case), backend=b, device="cpu")
    fresh = unidl.build(spec, backend=b, device="cpu")
    fresh.set_weights(weights)
    outs = [m.predict(xs) for m in (first, moved, fresh)]
    outs = [o if isinstance(o, list) else [o] for o in outs]
    for ref, loaded, other in zip(*outs, strict=True):
        assert np.abs(ref - other).max() <= 1e-5
        assert np.abs(ref - loaded).max() <= 1e-5


def tabular_data(n: int, seed: int = 0) -> tuple[list[Any], Any]:
    """Seed 002's setting, generated: 3 categorical columns and 5 numeric features; the
    class comes from a per-category effect plus a linear score of the numbers."""
    rng = np.random.default_rng(seed)
    sizes = (10, 6, 4)
    effects = [np.random.default_rng(100 + i).normal(size=(k, 3)) for i, k in enumerate(sizes)]
    w = np.random.default_rng(99).normal(size=(5, 3))
    cats = [rng.integers(0, k, size=(n, 1)) for k in sizes]
    num = rng.normal(size=(n, 5)).astype(np.float32)
    score = num @ w + sum(e[c[:, 0]] for e, c in zip(effects, cats, strict=True))
    return [*cats, num], score.argmax(axis=1)


def test_graph_training_parity(backend_pair: Pair) -> None:
    """Seed 002's model without dropout (masks cannot match): the same weights and losses
    on both backends after 3 epochs, BatchNorm and embeddings included."""
    a, b = backend_pair
    spec = tabular_graph(n_categories=(10, 6, 4), n_numeric=5, hidden=(16, 8))
    require_both(backend_pair, spec, training=True)
    x, y = tabular_data(256)
    runs = [unidl.fit(spec, (x, y), backend=name, loss="sparse_categorical_crossentropy",
                      optimizer=unidl.Adam(lr=1e-2), epochs=3, batch_size=32, seed=5,
                      device="cpu", verbose=0) for name in (a, b)]
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"], rtol=1e-4)
    wa, wb = runs[0].get_weights(), runs[1].get_weights()
    for k in wa:
        assert np.abs(wa[k] - wb[k]).max() <= 1e-4, k
