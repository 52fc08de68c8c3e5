"""The loss definitions in NumPy: what every backend's training loss must equal.

``evaluate`` computes its loss here from the backend's predictions, so evaluation is
identical on every backend by construction; the conformance suite checks each backend's
training loss against these functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .spec.training import Loss

__all__ = ["PROB_CLIP", "compute_loss", "per_sample_loss"]

Array = npt.NDArray[Any]

#: Probabilities are clipped to [PROB_CLIP, 1 - PROB_CLIP] when a cross-entropy is given
#: probabilities that did not come from a fused softmax/sigmoid (Keras' epsilon, 1e-7).
PROB_CLIP = 1e-7


def _log_softmax(z: Array) -> Array:
    z = z - z.max(axis=-1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))


def per_sample_loss(loss: Loss, y_true: Array, y_pred: Array, logits: bool = False) -> Array:
    """Loss of each sample (shape ``(n,)``), float64.

    ``logits`` says ``y_pred`` holds pre-activation values (from ``loss.from_logits`` or a
    fused final softmax/sigmoid); otherwise ``y_pred`` holds probabilities for the
    cross-entropies.
    """
    p = np.asarray(y_pred, dtype=np.float64)
    n = p.shape[0]
    if loss.name == "sparse_categorical_crossentropy":
        idx = np.asarray(y_true).reshape(n).astype(np.int64)
        logp = _log_softmax(p) if logits else np.log(np.clip(p, PROB_CLIP, 1 - PROB_CLIP))
        return np.asarray(-logp[np.arange(n), idx])
    t = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
    if loss.name == "categorical_crossentropy":
        if logits:
            logp = _log_softmax(p)
        else:  # Keras renormalises probabilities before clipping
            p = p / p.sum(axis=-1, keepdims=True)
            logp = np.log(np.clip(p, PROB_CLIP, 1 - PROB_CLIP))
        return np.asarray(-(t * logp).sum(axis=-1).reshape(n, -1).mean(axis=1))
    if loss.name == "binary_crossentropy":
        if logits:  # stable: max(z, 0) - z t + log(1 + exp(-|z|))
            e = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
        else:
            q = np.clip(p, PROB_CLIP, 1 - PROB_CLIP)
            e = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    elif loss.name == "mse":
        e = (t - p) ** 2
    elif loss.name == "mae":
        e = np.abs(t - p)
    elif loss.name == "huber":
        a = np.abs(t - p)
        d = loss.delta
        e = np.where(a <= d, 0.5 * a**2, d * (a - 0.5 * d))
    else:  # pragma: no cover - Loss validates names
        raise AssertionError(loss.name)
    return np.asarray(e.reshape(n, -1).mean(axis=1))


def compute_loss(loss: Loss, y_true: Array, y_pred: Array, logits: bool = False) -> float:
    """Mean loss over samples (see :func:`per_sample_loss`)."""
    return float(per_sample_loss(loss, y_true, y_pred, logits).mean())
