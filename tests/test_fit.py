"""Training end to end on every installed backend (the ``backend`` fixture)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

import unidl
from unidl.testing.cases import Pairs
from unidl.testing.skips import require_spec

from .helpers import mlp


def test_fit_learns_digits_and_reports_keras_style_history(backend: str, digits: Any) -> None:
    x, y, xt, yt = digits
    model = unidl.fit(mlp(), (x, y), backend=backend, loss="sparse_categorical_crossentropy",
                      optimizer=unidl.Adam(lr=3e-3), metrics=["accuracy", "f1"], epochs=8,
                      batch_size=32, validation_data=(xt, yt), seed=0, device="cpu", verbose=0)
    h = model.history
    assert list(h) == ["loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"]
    assert all(len(v) == 8 for v in h.values())
    assert h["loss"][-1] < h["loss"][0] / 3
    assert h["val_accuracy"][-1] > 0.85
    result = model.evaluate((xt, yt))
    assert set(result) == {"loss", "accuracy", "f1"}
    assert result["accuracy"] == pytest.approx(h["val_accuracy"][-1])
    probs = model.predict(xt)
    assert probs.shape == (len(xt), 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(yt, probs.argmax(1)))
    assert result["f1"] == pytest.approx(skm.f1_score(yt, probs.argmax(1), average="macro"))
    assert result["loss"] == pytest.approx(skm.log_loss(yt, probs, labels=range(10)), rel=1e-4)
    assert model.epochs_trained == 8 and model.backend_name == backend


def test_regression_with_r2_matches_sklearn(backend: str, regression: Any) -> None:
    x, y = regression
    spec = unidl.Sequential([unidl.Input((8,)), unidl.Dense(30, activation="relu"),
                             unidl.Dense(15, activation="relu"), unidl.Dense(1)])
    model = unidl.fit(spec, (x[:400], y[:400]), backend=backend, loss="mse",
                      metrics=["mae", "r2"], epochs=30, batch_size=32,
                      validation_data=(x[400:], y[400:]), seed=1, verbose=0)
    result = model.evaluate((x[400:], y[400:]))
    pred = model.predict(x[400:])
    assert pred.shape == (112, 1)
    assert result["r2"] == pytest.approx(skm.r2_score(y[400:], pred[:, 0]), rel=1e-5)
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(y[400:], pred[:, 0]), rel=1e-5)
    assert result["loss"] == pytest.approx(skm.mean_squared_error(y[400:], pred[:, 0]), rel=1e-5)
    assert result["r2"] > 0.9


@pytest.mark.parametrize("opt", [unidl.SGD(lr=0.05, momentum=0.9, nesterov=True), unidl.Adam(),
                                 unidl.AdamW(), unidl.RMSprop(), unidl.Adagrad(lr=0.05),
                                 unidl.Adadelta(lr=1.0), "sgd"], ids=lambda o: str(o)[:12])
def test_every_optimizer_lowers_the_loss(backend: str, regression: Any, opt: Any) -> None:
    x, y = regression
    model = unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss="mse", optimizer=opt,
                      epochs=5, batch_size=64, seed=0, verbose=0)
    assert model.history["loss"][-1] < model.history["loss"][0]


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_losses_train(backend: str, regression: Any, loss: str) -> None:
    x, y = regression
    model = unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss=loss, epochs=5,
                      batch_size=64, seed=0, verbose=0)
    assert model.history["loss"][-1] < model.history["loss"][0]
    assert model.evaluate((x, y))["loss"] == pytest.approx(model.history["loss"][-1], rel=0.2)


def test_binary_classification_with_logits(backend: str) -> None:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    spec = unidl.Sequential([unidl.Input((30,)), unidl.Dense(16, activation="relu"),
                             unidl.Dense(1)])
    model = unidl.fit(spec, (x, y), backend=backend,
                      loss=unidl.Loss("binary_crossentropy", from_logits=True),
                      metrics=["accuracy", "precision", "recall"], epochs=10, seed=0,
                      verbose=0)
    result = model.evaluate((x, y))
    logits = model.predict(x)[:, 0]
    assert result["accuracy"] > 0.95
    assert result["precision"] == pytest.approx(skm.precision_score(y, logits > 0))
    assert result["loss"] == pytest.approx(
        skm.log_loss(y, 1 / (1 + np.exp(-logits.astype(np.float64)))), rel=1e-4)


def test_categorical_crossentropy_on_one_hot(backend: str, digits: Any) -> None:
    x, y, _, _ = digits
    model = unidl.fit(mlp(), (x, np.eye(10)[y]), backend=backend,
                      loss="categorical_crossentropy", metrics=["accuracy"], epochs=3, seed=0,
                      verbose=0)
    assert model.history["accuracy"][-1] > 0.7


def test_same_seed_same_result_different_seed_differs(backend: str, regression: Any) -> None:
    x, y = regression
    spec = unidl.Sequential([unidl.Input((8,)), unidl.Dense(16, activation="relu"),
                             unidl.Dropout(0.3), unidl.Dense(1)])

    def run(seed: int) -> dict[str, np.ndarray]:
        return unidl.fit(spec, (x, y), backend=backend, loss="mse", epochs=2, seed=seed,
                         verbose=0).get_weights()

    a, b, c = run(3), run(3), run(4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["dense/kernel"], c["dense/kernel"])


def test_build_starts_from_the_cores_initial_weights(backend: str) -> None:
    from unidl.initializers import initial_weights

    spec = unidl.Sequential([unidl.Input((6, 6, 2)), unidl.Conv2D(3, 3), unidl.BatchNorm(),
                             unidl.Flatten(), unidl.Dense(4)])
    require_spec(backend, spec)
    model = unidl.build(spec, backend=backend, seed=5)
    expected = initial_weights(spec, 5)
    got = model.get_weights()
    assert list(got) == list(expected)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k])


def test_set_weights_round_trip_and_checks(backend: str) -> None:
    spec = mlp(4, 2, None)
    model = unidl.build(spec, backend=backend, seed=0)
    rng = np.random.default_rng(0)
    new = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in model.get_weights().items()}
    model.set_weights(new)
    got = model.get_weights()
    assert all(np.array_equal(got[k], new[k]) for k in new)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    ref = np.maximum(x @ new["dense/kernel"] + new["dense/bias"], 0) @ new["dense_1/kernel"] \
        + new["dense_1/bias"]
    np.testing.assert_allclose(model.predict(x), ref, rtol=1e-5, atol=1e-5)
    bad = dict(new, **{"dense/kernel": np.zeros((3, 3), np.float32)})
    with pytest.raises(unidl.ShapeMismatchError, match=r"dense/kernel.*\(3, 3\).*\(4, 32\)"):
        model.set_weights(bad)
    with pytest.raises(unidl.ShapeMismatchError, match="missing"):
        model.set_weights({"dense/kernel": new["dense/kernel"]})


def test_fit_continues_and_keeps_history(backend: str, regression: Any) -> None:
    x, y = regression
    model = unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss="mse", epochs=2, seed=0,
                      verbose=0)
    model.fit((x, y), epochs=3, verbose=0)
    assert len(model.history["loss"]) == 5 and model.epochs_trained == 5


def test_validation_split_takes_the_last_fraction(backend: str, regression: Any) -> None:
    x, y = regression
    model = unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss="mse", epochs=1,
                      validation_split=0.25, seed=0, verbose=0)
    tail = model.evaluate((x[384:], y[384:]))["loss"]
    assert model.history["val_loss"][0] == pytest.approx(tail, rel=1e-5)


def test_a_dataset_trains_exactly_like_the_same_arrays(backend: str, regression: Any) -> None:
    x, y = regression
    kwargs: dict[str, Any] = dict(backend=backend, loss="mse", metrics=["mae"], epochs=2,
                                  batch_size=50, seed=0, verbose=0)
    a = unidl.fit(mlp(8, 1, None), (x, y), **kwargs)
    b = unidl.fit(mlp(8, 1, None), Pairs(x, y), **kwargs)
    for k, v in a.get_weights().items():
        np.testing.assert_allclose(b.get_weights()[k], v, rtol=1e-5, atol=1e-6)
    assert b.history["mae"] == pytest.approx(a.history["mae"], rel=1e-5)
    assert b.evaluate(Pairs(x, y))["loss"] == pytest.approx(a.evaluate((x, y))["loss"], rel=1e-5)


def test_cnn_with_batchnorm_trains_channels_last(backend: str, digits: Any) -> None:
    x, y, xt, yt = digits
    spec = unidl.Sequential([
        unidl.Input((8, 8, 1)),
        unidl.Conv2D(8, 3, padding="same", activation="relu"),
        unidl.BatchNorm(),
        unidl.MaxPool2D(),
        unidl.Conv2D(16, 3, padding="same", activation="relu"),
        unidl.AvgPool2D(),
        unidl.Flatten(),
        unidl.Dropout(0.1),
        unidl.Dense(10, activation="softmax"),
    ])
    require_spec(backend, spec, training=True)
    model = unidl.fit(spec, (x.reshape(-1, 8, 8, 1), y), backend=backend,
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"], epochs=6,
                      optimizer=unidl.Adam(lr=3e-3), seed=0, verbose=0)
    assert model.evaluate((xt.reshape(-1, 8, 8, 1), yt))["accuracy"] > 0.7
    w = model.get_weights()
    assert not np.allclose(w["batch_normalization/moving_mean"], 0)


def test_zero_epochs_changes_nothing(backend: str, regression: Any) -> None:
    x, y = regression
    model = unidl.build(mlp(8, 1, None), backend=backend, seed=0)
    before = model.get_weights()
    model.compile("mse")
    model.fit((x, y), epochs=0, verbose=0)
    assert model.history == {} and all(np.array_equal(before[k], v)
                                       for k, v in model.get_weights().items())


def test_verbose_prints_one_line_per_epoch(backend: str, regression: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    x, y = regression
    unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss="mse", epochs=2, seed=0, verbose=1)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch")]
    assert len(lines) == 2 and "loss:" in lines[0] and lines[1].startswith("Epoch 2/2")


def test_verbose_on_a_terminal_shows_a_progress_bar(backend: str, regression: Any,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from unidl.training import progress

    x, y = regression
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(progress, "terminal_columns", lambda: 100)  # a terminal with a width
    plain = unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss="mse", epochs=2,
                      batch_size=16, seed=0, verbose=0)
    shown = unidl.fit(mlp(8, 1, None), (x, y), backend=backend, loss="mse", epochs=2,
                      batch_size=16, seed=0, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "32/32" in err and "loss" in err
    assert shown.history["loss"] == pytest.approx(plain.history["loss"], rel=1e-6)
