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
                           unidl.Loss("categorical_crossentropy")) == (("accuracy", "mae"), {})


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


def test_averaged_topk_and_auc_metrics_match_sklearn() -> None:
    k = 4
    y = RNG.integers(0, k, 300)
    p = _softmax(RNG.normal(size=(300, k)) + 1.5 * np.eye(k)[y])
    pred = p.argmax(1)
    loss = unidl.Loss("sparse_categorical_crossentropy")
    names, _ = resolve_metrics(["precision_micro", "recall_weighted", "f1_weighted",
                                "f1_macro", "top_2_accuracy", "top_k_accuracy", "auc"], loss)
    got = compute_metrics(names, loss, y, p)
    assert got["precision_micro"] == pytest.approx(skm.precision_score(y, pred, average="micro"))
    assert got["recall_weighted"] == pytest.approx(skm.recall_score(y, pred, average="weighted"))
    assert got["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["top_2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, p, k=2))
    assert got["top_k_accuracy"] == pytest.approx(1.0)  # k=5 >= 4 classes
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))


def test_binary_auc_with_ties_matches_sklearn() -> None:
    y = RNG.integers(0, 2, 200).astype(float)
    p = np.round(np.clip(0.3 * y + RNG.uniform(0, 0.7, 200), 0, 1), 1).reshape(-1, 1)  # ties
    got = compute_metrics(["auc"], unidl.Loss("binary_crossentropy"), y.reshape(-1, 1), p)
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 0]))


def test_user_metric_functions() -> None:
    def worst_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(np.abs(y_true - y_pred).max())

    loss = unidl.Loss("mse")
    names, custom = resolve_metrics(["mae", worst_error], loss)
    assert names == ("mae", "worst_error")
    got = compute_metrics(names, loss, np.zeros((3, 1)), np.array([[1.0], [-3.0], [2.0]]),
                          custom)
    assert got["worst_error"] == 3.0
    with pytest.raises(unidl.SpecError, match="named function"):
        resolve_metrics([lambda t, p: 0.0], loss)


def test_classification_report_matches_sklearn() -> None:
    from unidl.training.report import classification_report

    y = RNG.integers(0, 3, 120)
    p = _softmax(RNG.normal(size=(120, 3)) + np.eye(3)[y])
    report = classification_report(unidl.Loss("sparse_categorical_crossentropy"), y, p)
    np.testing.assert_array_equal(report.confusion_matrix,
                                  skm.confusion_matrix(y, p.argmax(1), labels=range(3)))
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, p.argmax(1), labels=range(3))
    np.testing.assert_allclose(report.precision, prec)
    np.testing.assert_allclose(report.recall, rec)
    np.testing.assert_allclose(report.f1, f1)
    np.testing.assert_array_equal(report.support, support)
    assert "weighted avg" in str(report) and report.accuracy == pytest.approx(
        skm.accuracy_score(y, p.argmax(1)))
