"""The loss definitions in NumPy: what every backend's training loss must equal.

``evaluate`` computes its loss here from the backend's predictions, so evaluation is
identical on every backend by construction; the conformance suite checks each backend's
training loss against these functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .spec.losses import PROB_CLIP, Loss

__all__ = ["PROB_CLIP", "compute_loss", "per_sample_loss"]

Array = npt.NDArray[Any]


def per_sample_loss(loss: Loss, y_true: Array, y_pred: Array, logits: bool = False) -> Array:
    """Loss of each sample (shape ``(n,)``), float64, by the loss kind's NumPy definition.

    ``logits`` says ``y_pred`` holds pre-activation values (from ``loss.from_logits`` or a
    fused final softmax/sigmoid); otherwise ``y_pred`` holds probabilities for the
    cross-entropies.
    """
    kind = loss.kind
    p = np.asarray(y_pred, dtype=np.float64)
    n = p.shape[0]
    t: Array
    if kind.target == "class_index":
        t = np.asarray(y_true).reshape(n).astype(np.int64)
    else:
        t = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
    fn = kind.logits_reference if logits and kind.logits_reference is not None \
        else kind.reference
    e = np.asarray(fn(t, p, loss), dtype=np.float64)
    return np.asarray(e.reshape(n, -1).mean(axis=1))


def compute_loss(loss: Loss, y_true: Array, y_pred: Array, logits: bool = False) -> float:
    """Mean loss over samples (see :func:`per_sample_loss`)."""
    return float(per_sample_loss(loss, y_true, y_pred, logits).mean())
