"""Training losses: the value comes from ``unidl.losses``, the gradient is written here.

Taking the value from the core's NumPy definition makes our training loss equal to the one
``evaluate`` reports by construction. The gradient must be the derivative of exactly that
definition, including its details: cross-entropies on probabilities clip to
[PROB_CLIP, 1 - PROB_CLIP] in float64 (in float32, 1 - 1e-7 rounds to 1 - 1.19e-7) and a
clipped value has gradient 0; categorical cross-entropy renormalises the probabilities
first. ``logits=True`` means the output holds pre-activation values (``Loss.from_logits``,
or the fused softmax/sigmoid head); the gradient is then the familiar ``p - y``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from unidl import NotSupportedError
from unidl.losses import PROB_CLIP, per_sample_loss
from unidl.spec import Loss
from unidl.testing.reference import activation

__all__ = ["loss_and_grad"]

Array = npt.NDArray[Any]
F64 = npt.NDArray[np.float64]


def _clipped(p: F64) -> tuple[F64, F64]:
    """``clip(p)`` and the clip's derivative (1 inside the range, 0 where clipped)."""
    inside = (p >= PROB_CLIP) & (p <= 1 - PROB_CLIP)
    return np.clip(p, PROB_CLIP, 1 - PROB_CLIP), inside.astype(np.float64)


def _grad(loss: Loss, y: Array, p: F64, logits: bool) -> Array:
    """d(batch loss)/d(output); the batch loss is the mean over samples of per-sample loss."""
    n = len(p)
    if loss.name == "sparse_categorical_crossentropy":  # y holds class indices
        onehot = np.zeros_like(p)
        onehot[np.arange(n), np.asarray(y).reshape(n).astype(np.int64)] = 1.0
        if logits:
            return (activation("softmax", p) - onehot) / n
        q, inside = _clipped(p)
        return -onehot * inside / q / n
    t = np.asarray(y, dtype=np.float64).reshape(p.shape)
    if loss.name == "categorical_crossentropy":
        rows = p.size // int(p.shape[-1])  # per-sample loss averages over any middle axes
        if logits:  # -sum t log_softmax(z): gradient softmax(z) * sum(t) - t
            mass: F64 = t.sum(axis=-1, keepdims=True)  # 1 for one-hot targets
            return (activation("softmax", p) * mass - t) / rows
        total: F64 = p.sum(axis=-1, keepdims=True)
        r = p / total
        q, inside = _clipped(r)
        g_r = -t * inside / q / rows  # the gradient w.r.t. r = p / total ...
        dot: F64 = (g_r * r).sum(axis=-1, keepdims=True)
        return (g_r - dot) / total  # ... taken back through the renormalisation to p
    # The rest are element-wise: the batch loss is the mean over every output element.
    size = p.size
    if loss.name == "binary_crossentropy":
        if logits:
            return (activation("sigmoid", p) - t) / size
        q, inside = _clipped(p)
        return -(t / q - (1 - t) / (1 - q)) * inside / size
    if loss.name == "mse":
        return 2 * (p - t) / size
    if loss.name == "mae":
        return np.sign(p - t) / size
    if loss.name == "huber":  # e if |e| <= delta, else delta * sign(e)
        return np.clip(p - t, -loss.delta, loss.delta) / size
    raise NotSupportedError(f"the numpy backend has no loss {loss.name!r}")


def loss_and_grad(loss: Loss, y: Array, out: Array, logits: bool,
                  weights: Array | None = None) -> tuple[float, Array]:
    """The batch loss (float) and its gradient w.r.t. ``out``, in ``out``'s dtype.

    ``weights`` (one per sample) give Keras' rule: ``sum(w_i * loss_i) / batch size``, so
    each sample's gradient is simply scaled by its weight.
    """
    per_sample = per_sample_loss(loss, y, out, logits=logits)
    p = np.asarray(out, dtype=np.float64)  # float64, for the clipping (see above)
    g = _grad(loss, y, p, logits)
    if weights is None:
        return float(per_sample.mean()), np.asarray(g, dtype=out.dtype)
    w = np.asarray(weights, dtype=np.float64)
    value = float((w * per_sample).sum() / len(per_sample))
    return value, np.asarray(g * w.reshape(-1, *([1] * (g.ndim - 1))), dtype=out.dtype)
