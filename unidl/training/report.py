"""A classification report: confusion matrix and per-class scores (scikit-learn's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import SpecError
from ..metrics import target_kind
from ..spec import Loss

__all__ = ["ClassificationReport", "classification_report"]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class ClassificationReport:
    """``confusion_matrix[i, j]``: samples of true class i predicted as j. Per-class
    ``precision``, ``recall``, ``f1`` (0 where undefined) and ``support`` (true count)."""

    confusion_matrix: npt.NDArray[np.int64]
    precision: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]
    support: npt.NDArray[np.int64]

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion_matrix) / self.confusion_matrix.sum())

    def averages(self) -> dict[str, tuple[float, float, float]]:
        """Macro and support-weighted (precision, recall, f1)."""
        w = self.support / self.support.sum()
        return {
            "macro avg": (float(self.precision.mean()), float(self.recall.mean()),
                          float(self.f1.mean())),
            "weighted avg": (float(self.precision @ w), float(self.recall @ w),
                             float(self.f1 @ w)),
        }

    def __str__(self) -> str:
        rows = [f"{'':>12} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}", ""]
        for c in range(len(self.support)):
            rows.append(f"{c:>12} {self.precision[c]:>9.4f} {self.recall[c]:>9.4f} "
                        f"{self.f1[c]:>9.4f} {self.support[c]:>9d}")
        total = int(self.support.sum())
        rows += ["", f"{'accuracy':>12} {'':>9} {'':>9} {self.accuracy:>9.4f} {total:>9d}"]
        for name, (p, r, f) in self.averages().items():
            rows.append(f"{name:>12} {p:>9.4f} {r:>9.4f} {f:>9.4f} {total:>9d}")
        return "\n".join(rows)


def classification_report(loss: Loss, y_true: Array, outputs: Array) -> ClassificationReport:
    kind = target_kind(loss)
    n = len(outputs)
    if kind == "regression":
        raise SpecError("a classification report needs a classification loss", "loss")
    if kind == "binary":
        if outputs.reshape(n, -1).shape[1] != 1:
            raise SpecError("a classification report needs a single binary output or "
                            "one output per class", "loss")
        threshold = 0.0 if loss.from_logits else 0.5
        t = (np.asarray(y_true).reshape(-1) > 0.5).astype(np.int64)
        p = (outputs.reshape(-1) > threshold).astype(np.int64)
        k = 2
    else:
        k = outputs.shape[-1]
        t = (np.asarray(y_true).reshape(-1) if kind == "sparse"
             else np.asarray(y_true).argmax(-1)).astype(np.int64)
        p = outputs.argmax(-1).astype(np.int64)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(0), cm.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall),
                      0.0)
    return ClassificationReport(cm, precision, recall, f1, support.astype(np.int64))
