"""The core's NumPy metric and loss definitions against scikit-learn and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import unidl
from unidl.losses import compute_loss
from unidl.metrics import compute_metrics, resolve_metrics

RNG = np.random.default_rng(0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("k", [3, 10])
def test_multiclass_metrics_match_sklearn(k: int) -> None:
    y = RNG.integers(0, k, 300)
    p = _softmax(RNG.normal(size=(300, k)) + 2 * np.eye(k)[y])
    pred = p.argmax(1)
    got = compute_metrics(["accuracy", "precision", "recall", "f1"],
                          unidl.Loss("sparse_categorical_crossentropy"), y, p)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for name, fn in [("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)]:
        assert got[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0))
    one_hot = np.eye(k)[y]
    again = compute_metrics(["accuracy", "f1"], unidl.Loss("categorical_crossentropy"),
                            one_hot, p)
    assert again["accuracy"] == got["accuracy"] and again["f1"] == got["f1"]


def test_macro_average_ignores_classes_absent_from_truth_and_prediction() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.eye(4)[[0, 1, 1, 1]]  # classes 2 and 3 never appear
    got = compute_metrics(["precision", "recall", "f1"],
                          unidl.Loss("sparse_categorical_crossentropy"), y, p)
    for name, fn in [("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)]:
        assert got[name] == pytest.approx(fn(y, p.argmax(1), average="macro", zero_division=0))


def test_binary_metrics_match_sklearn() -> None:
    y = RNG.integers(0, 2, 200).astype(np.float32)
    p = np.clip(y * 0.6 + RNG.uniform(0, 0.5, 200), 0, 1).reshape(-1, 1)
    pred = (p[:, 0] > 0.5).astype(int)
    got = compute_metrics(["accuracy", "precision", "recall", "f1"],
                          unidl.Loss("binary_crossentropy"), y.reshape(-1, 1), p)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))


@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_match_sklearn(outputs: int) -> None:
    y = RNG.normal(size=(100, outputs))
    p = y + RNG.normal(scale=0.3, size=y.shape)
    got = compute_metrics(["mae", "mse", "rmse", "r2"], unidl.Loss("mse"), y, p)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert got["mse"] == pytest.approx(skm.mean_squared_error(y, p))
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert got["r2"] == pytest.approx(skm.r2_score(y, p))


def test_metric_names_are_validated() -> None:
    with pytest.raises(unidl.UnknownNameError, match="Did you mean 'accuracy'"):
        resolve_metrics(["acuracy"], unidl.Loss("sparse_categorical_crossentropy"))
    with pytest.raises(unidl.SpecError, match="needs a classification loss"):
        resolve_metrics(["accuracy"], unidl.Loss("mse"))
    assert resolve_metrics(["acc", "mean_absolute_error"],
                           unidl.Loss("categorical_crossentropy")) == ("accuracy", "mae")


def test_cross_entropies_match_sklearn_log_loss() -> None:
    y = RNG.integers(0, 4, 50)
    z = RNG.normal(size=(50, 4))
    p = _softmax(z)
    expected = skm.log_loss(y, p, labels=range(4))
    sparse = unidl.Loss("sparse_categorical_crossentropy")
    assert compute_loss(sparse, y, p) == pytest.approx(expected, rel=1e-6)
    assert compute_loss(sparse, y, z, logits=True) == pytest.approx(expected, rel=1e-6)
    assert compute_loss(unidl.Loss("categorical_crossentropy"), np.eye(4)[y], p) == \
        pytest.approx(expected, rel=1e-6)
    t = RNG.integers(0, 2, (50, 1)).astype(float)
    q = RNG.uniform(0.01, 0.99, (50, 1))
    bce = unidl.Loss("binary_crossentropy")
    assert compute_loss(bce, t, q) == pytest.approx(skm.log_loss(t, q), rel=1e-6)
    logit = np.log(q / (1 - q))
    assert compute_loss(bce, t, logit, logits=True) == pytest.approx(skm.log_loss(t, q), rel=1e-6)


def test_cross_entropy_of_saturated_probabilities_is_finite() -> None:
    y = np.array([0, 1])
    p = np.array([[0.0, 1.0], [1.0, 0.0]])  # confidently wrong
    value = compute_loss(unidl.Loss("sparse_categorical_crossentropy"), y, p)
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)


def test_regression_losses_closed_form() -> None:
    y = np.array([[0.0], [1.0], [3.0]])
    p = np.array([[0.5], [1.0], [0.0]])
    assert compute_loss(unidl.Loss("mse"), y, p) == pytest.approx((0.25 + 9) / 3)
    assert compute_loss(unidl.Loss("mae"), y, p) == pytest.approx(3.5 / 3)
    # huber(delta=1): 0.5*0.25 for |e|=0.5, 1*(3-0.5) for |e|=3
    assert compute_loss(unidl.Loss("huber"), y, p) == pytest.approx((0.125 + 2.5) / 3)
