"""Metric definitions, computed by the core in NumPy from a backend's outputs.

Defining metrics once, outside the frameworks, is what makes ``history`` and ``evaluate``
mean the same on every backend. What a classification metric compares depends on the loss:

- ``sparse_categorical_crossentropy``: targets are class indices, predictions' argmax;
- ``categorical_crossentropy``: targets and predictions argmax;
- ``binary_crossentropy``: every output is a yes/no, thresholded at 0.5;
- regression losses: classification metrics are refused (they would be meaningless).

precision/recall/f1 are binary for a single binary output and macro-averaged otherwise
(scikit-learn's ``average="binary"`` / ``"macro"``, ``zero_division=0``); the
``_macro``, ``_micro`` and ``_weighted`` variants (e.g. ``"f1_weighted"``) choose the
averaging explicitly. ``top_k_accuracy`` (k=5; ``"top_3_accuracy"`` picks k) counts a
sample right when its class is among the k most probable. ``auc`` is the ROC AUC
(one-vs-rest, macro-averaged over classes for multi-class; NaN when a class never or
always occurs). ``r2`` is scikit-learn's ``r2_score`` averaged uniformly over outputs.

User metrics are plain functions ``fn(y_true, y_pred) -> float`` of NumPy arrays, named
by ``fn.__name__``. Training-epoch metrics are computed over the whole epoch's
training-mode outputs, not averaged over batches. Metrics are not sample-weighted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from .errors import SpecError, UnknownNameError, short
from .spec import Loss

__all__ = ["METRICS", "TargetKind", "compute_metrics", "resolve_metrics", "target_kind"]

Array = npt.NDArray[Any]
TargetKind = Literal["sparse", "categorical", "binary", "regression"]


def target_kind(loss: Loss) -> TargetKind:
    """What the targets of ``loss`` are, from its kind's facts: class indices, one-hot
    rows (a loss fused with softmax), 0/1 values (fused with sigmoid) or values."""
    kind = loss.kind
    if kind.target == "class_index":
        return "sparse"
    if kind.fuses_with == "softmax":
        return "categorical"
    if kind.fuses_with == "sigmoid":
        return "binary"
    return "regression"


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


def _prf(kind: TargetKind, y_true: Array, y_prob: Array,
         average: str = "auto") -> tuple[float, float, float]:
    t, p, k = _labels(kind, y_true, y_prob)
    multilabel = kind == "binary" and y_prob.reshape(len(y_prob), -1).shape[1] > 1
    support: Array | None = None
    if kind == "binary" and not multilabel and average == "auto":
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
    support = tp + fn
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    if average == "weighted":
        w = support / support.sum() if support.sum() > 0 else np.zeros_like(support)
        return float(precision @ w), float(recall @ w), float(f1 @ w)
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def _top_k(k: int) -> MetricFn:
    def top_k_accuracy(kind: TargetKind, y_true: Array, y_prob: Array) -> float:
        if kind == "binary":
            raise SpecError(f"top_{k}_accuracy needs a multi-class loss", "metrics")
        t = y_true.reshape(-1) if kind == "sparse" else y_true.argmax(-1).reshape(-1)
        top = np.argsort(-y_prob.reshape(len(t), -1), axis=1, kind="stable")[:, :k]
        return float(np.mean((top == t[:, None]).any(axis=1)))

    return top_k_accuracy


def _ranks(x: Array) -> Array:
    """Average ranks (1-based), ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def _binary_auc(t: Array, score: Array) -> float:
    pos = t == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((_ranks(score)[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _auc(kind: TargetKind, y_true: Array, y_prob: Array) -> float:
    n = len(y_prob)
    scores = np.asarray(y_prob, np.float64).reshape(n, -1)
    if kind == "binary":
        truth = (np.asarray(y_true).reshape(n, -1) > 0.5).astype(np.int64)
    else:
        idx = y_true.reshape(-1) if kind == "sparse" else y_true.argmax(-1).reshape(-1)
        truth = np.eye(scores.shape[1], dtype=np.int64)[idx.astype(np.int64)]
    return float(np.mean([_binary_auc(truth[:, j], scores[:, j])
                          for j in range(scores.shape[1])]))


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

def _prf_metric(index: int, average: str) -> MetricFn:
    return lambda k, t, p: _prf(k, t, p, average)[index]


METRICS: Final[dict[str, MetricFn]] = {
    "accuracy": _accuracy,
    **{f"{name}{suffix}": _prf_metric(i, average)
       for i, name in enumerate(("precision", "recall", "f1"))
       for suffix, average in (("", "auto"), ("_macro", "macro"), ("_micro", "micro"),
                               ("_weighted", "weighted"))},
    "top_k_accuracy": _top_k(5),
    "auc": _auc,
    "mae": lambda k, t, p: float(np.mean(np.abs(np.subtract(*_flat2(t, p))))),
    "mse": _mse,
    "rmse": lambda k, t, p: float(np.sqrt(_mse(k, t, p))),
    "r2": _r2,
}
_CLASSIFICATION: Final = tuple(
    m for m in METRICS if m.startswith(("accuracy", "precision", "recall", "f1", "top_", "auc")))
_ALIASES: Final = {
    "acc": "accuracy",
    "f1_score": "f1",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "root_mean_squared_error": "rmse",
    "r2_score": "r2",
}


UserMetric = Callable[[Array, Array], float]
_TOP_K = re.compile(r"^top_(\d+)_accuracy$")


def metric_fn(name: str, custom: dict[str, UserMetric] | None = None) -> MetricFn:
    """The function behind a resolved metric name."""
    if custom and name in custom:
        fn = custom[name]
        return lambda kind, t, p: float(fn(t, p))
    m = _TOP_K.match(name)
    return _top_k(int(m.group(1))) if m else METRICS[name]


def resolve_metrics(names: Sequence[str | UserMetric] | None, loss: Loss
                    ) -> tuple[tuple[str, ...], dict[str, UserMetric]]:
    """Canonical metric names for ``loss`` (validated) and the user metric functions."""
    if names is None:
        return (), {}
    if isinstance(names, str) or callable(names):
        names = [names]
    if not isinstance(names, (list, tuple)):
        raise SpecError(f"must be a metric name or a list of metric names (e.g. [accuracy]), "
                        f"got {short(names)}", "metrics")
    out: list[str] = []
    custom: dict[str, UserMetric] = {}
    for i, name in enumerate(names):
        path = f"metrics[{i}]"
        if callable(name):
            fn_name = getattr(name, "__name__", "")
            if not fn_name or fn_name == "<lambda>" or fn_name in METRICS:
                raise SpecError("a user metric must be a named function (def my_metric(y_true,"
                                " y_pred) -> float) whose name is not a built-in metric", path)
            custom[fn_name] = name
            out.append(fn_name)
            continue
        if not isinstance(name, str):
            raise SpecError(f"must be a metric name or a function, got {short(name)}", path)
        key = _ALIASES.get(name.lower(), name.lower())
        if key not in METRICS and not _TOP_K.match(key):
            raise UnknownNameError("metric", name, METRICS, path)
        if (key in _CLASSIFICATION or _TOP_K.match(key)) and target_kind(loss) == "regression":
            raise SpecError(f"{key!r} needs a classification loss (a cross-entropy), but the "
                            f"loss is {loss.name!r}; use 'mae', 'mse', 'rmse' or 'r2'", path)
        if key not in out:
            out.append(key)
    return tuple(out), custom


def compute_metrics(names: Sequence[str], loss: Loss, y_true: Array, y_prob: Array,
                    custom: dict[str, UserMetric] | None = None) -> dict[str, float]:
    """Metric values for targets ``y_true`` and (probability) predictions ``y_prob``."""
    kind = target_kind(loss)
    return {name: metric_fn(name, custom)(kind, y_true, y_prob) for name in names}
