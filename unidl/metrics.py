"""Metric definitions, computed by the core in NumPy from a backend's outputs.

Defining metrics once, outside the frameworks, is what makes ``history`` and ``evaluate``
mean the same on every backend. What a classification metric compares depends on the loss:

- ``sparse_categorical_crossentropy``: targets are class indices, predictions' argmax;
- ``categorical_crossentropy``: targets and predictions argmax;
- ``binary_crossentropy``: every output is a yes/no, thresholded at 0.5;
- regression losses: classification metrics are refused (they would be meaningless).

precision/recall/f1 are binary for a single binary output and macro-averaged otherwise
(scikit-learn's ``average="binary"`` / ``"macro"``, ``zero_division=0``). ``r2`` is
scikit-learn's ``r2_score`` averaged uniformly over outputs. Training-epoch metrics are
computed over the whole epoch's training-mode outputs, not averaged over batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from .errors import SpecError, UnknownNameError
from .spec.training import Loss

__all__ = ["METRICS", "TargetKind", "compute_metrics", "resolve_metrics", "target_kind"]

Array = npt.NDArray[Any]
TargetKind = Literal["sparse", "categorical", "binary", "regression"]


def target_kind(loss: Loss) -> TargetKind:
    return {
        "sparse_categorical_crossentropy": "sparse",
        "categorical_crossentropy": "categorical",
        "binary_crossentropy": "binary",
    }.get(loss.name, "regression")  # type: ignore[return-value]


def _labels(kind: TargetKind, y_true: Array, y_prob: Array) -> tuple[Array, Array, int]:
    """(true labels, predicted labels, number of classes) as flat integer arrays."""
    if kind == "sparse":
        return y_true.reshape(-1).astype(np.int64), y_prob.argmax(-1).reshape(-1), \
            y_prob.shape[-1]
    if kind == "categorical":
        return y_true.argmax(-1).reshape(-1), y_prob.argmax(-1).reshape(-1), y_prob.shape[-1]
    return (y_true.reshape(-1) > 0.5).astype(np.int64), \
        (y_prob.reshape(-1) > 0.5).astype(np.int64), 2


def _accuracy(kind: TargetKind, y_true: Array, y_prob: Array) -> float:
    t, p, _ = _labels(kind, y_true, y_prob)
    return float(np.mean(t == p))


def _prf(kind: TargetKind, y_true: Array, y_prob: Array) -> tuple[float, float, float]:
    t, p, k = _labels(kind, y_true, y_prob)
    multilabel = kind == "binary" and y_prob.reshape(len(y_prob), -1).shape[1] > 1
    if kind == "binary" and not multilabel:
        tp = np.array([np.sum((t == 1) & (p == 1))], dtype=np.float64)
        fp = np.array([np.sum((t == 0) & (p == 1))], dtype=np.float64)
        fn = np.array([np.sum((t == 1) & (p == 0))], dtype=np.float64)
    elif multilabel:  # one binary problem per output column, macro-averaged
        n = len(y_prob)
        tt, pp = t.reshape(n, -1), p.reshape(n, -1)
        tp = ((tt == 1) & (pp == 1)).sum(0).astype(np.float64)
        fp = ((tt == 0) & (pp == 1)).sum(0).astype(np.float64)
        fn = ((tt == 1) & (pp == 0)).sum(0).astype(np.float64)
    else:  # macro over the classes present in either truth or prediction (sklearn's rule)
        cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.float64)
        present = (cm.sum(0) + cm.sum(1)) > 0
        tp = np.diag(cm)[present]
        fp = (cm.sum(0) - np.diag(cm))[present]
        fn = (cm.sum(1) - np.diag(cm))[present]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def _flat2(y_true: Array, y_pred: Array) -> tuple[Array, Array]:
    n = len(y_pred)
    return (np.asarray(y_true, np.float64).reshape(n, -1),
            np.asarray(y_pred, np.float64).reshape(n, -1))


def _mse(kind: TargetKind, y_true: Array, y_pred: Array) -> float:
    t, p = _flat2(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def _r2(kind: TargetKind, y_true: Array, y_pred: Array) -> float:
    t, p = _flat2(y_true, y_pred)
    ss_res = ((t - p) ** 2).sum(0)
    ss_tot = ((t - t.mean(0)) ** 2).sum(0)
    # sklearn: a constant target scores 1.0 if predicted exactly, else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
    return float(score.mean())


MetricFn = Callable[[TargetKind, Array, Array], float]

METRICS: Final[dict[str, MetricFn]] = {
    "accuracy": _accuracy,
    "precision": lambda k, t, p: _prf(k, t, p)[0],
    "recall": lambda k, t, p: _prf(k, t, p)[1],
    "f1": lambda k, t, p: _prf(k, t, p)[2],
    "mae": lambda k, t, p: float(np.mean(np.abs(np.subtract(*_flat2(t, p))))),
    "mse": _mse,
    "rmse": lambda k, t, p: float(np.sqrt(_mse(k, t, p))),
    "r2": _r2,
}
_CLASSIFICATION: Final = ("accuracy", "precision", "recall", "f1")
_ALIASES: Final = {
    "acc": "accuracy",
    "f1_score": "f1",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "root_mean_squared_error": "rmse",
    "r2_score": "r2",
}


def resolve_metrics(names: Sequence[str] | None, loss: Loss) -> tuple[str, ...]:
    """Canonical metric names for ``loss``, validated; raise naming the bad entry."""
    if names is None:
        return ()
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for i, name in enumerate(names):
        path = f"metrics[{i}]"
        if not isinstance(name, str):
            raise SpecError(f"must be a metric name, got {name!r}", path)
        key = _ALIASES.get(name.lower(), name.lower())
        if key not in METRICS:
            raise UnknownNameError("metric", name, METRICS, path)
        if key in _CLASSIFICATION and target_kind(loss) == "regression":
            raise SpecError(f"{key!r} needs a classification loss (a cross-entropy), but the "
                            f"loss is {loss.name!r}; use 'mae', 'mse', 'rmse' or 'r2'", path)
        if key not in out:
            out.append(key)
    return tuple(out)


def compute_metrics(names: Sequence[str], loss: Loss, y_true: Array,
                    y_prob: Array) -> dict[str, float]:
    """Metric values for targets ``y_true`` and (probability) predictions ``y_prob``."""
    kind = target_kind(loss)
    return {name: METRICS[name](kind, y_true, y_prob) for name in names}
