"""The six unidl losses in TensorFlow, equal to ``unidl.losses`` (the NumPy definitions).

Each function returns the batch loss: the mean over samples of the per-sample loss. Every
sample has the same number of elements, so that is the mean over all elements of the
per-element (or, for cross-entropies, per-position) loss.

With ``per_sample=True`` (sample weights) they return each sample's loss instead, shape
``(batch,)``, exactly ``unidl.losses.per_sample_loss``: the mean over that sample's
elements (positions).

:class:`Objective` combines the losses of a model's outputs into the training loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from unidl.backend import OutputLoss
from unidl.errors import NotSupportedError
from unidl.losses import PROB_CLIP
from unidl.spec.training import Loss

from ._runtime import tf

__all__ = ["LossFn", "Objective", "make_loss", "per_sample_mean"]

LossFn = Callable[[Any, Any], Any]


def per_sample_mean(e: Any) -> Any:
    """Mean over every axis but the first: per-element losses -> per-sample losses."""
    return tf.reduce_mean(tf.reshape(e, [tf.shape(e)[0], -1]), axis=1)


def _clip(p: Any) -> Any:
    """Probabilities in float64, clipped to [PROB_CLIP, 1 - PROB_CLIP].

    float64 because 1 - 1e-7 is not a float32 (it rounds to 1 - 1.19e-7), and a saturated
    float32 probability must give the same clipped log as ``unidl.losses`` computes from it.
    The tensors are (batch, classes): the cost is negligible.
    """
    return tf.clip_by_value(tf.cast(p, tf.float64), PROB_CLIP, 1.0 - PROB_CLIP)


def _sparse_ce(logits: bool, per_sample: bool) -> LossFn:
    reduce = (lambda e: e) if per_sample else tf.reduce_mean

    def fn(y: Any, p: Any) -> Any:
        idx = tf.reshape(tf.cast(y, tf.int64), [-1])
        if logits:
            return reduce(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=idx, logits=p))
        picked = tf.gather(p, idx, axis=-1, batch_dims=1)
        return tf.cast(-reduce(tf.math.log(_clip(picked))), tf.float32)
    return fn


def _categorical_ce(logits: bool, per_sample: bool) -> LossFn:
    reduce = per_sample_mean if per_sample else tf.reduce_mean

    def fn(y: Any, p: Any) -> Any:
        if logits:
            return -reduce(tf.reduce_sum(y * tf.nn.log_softmax(p, axis=-1), axis=-1))
        # renormalise, then clip, as Keras (and unidl.losses) do
        p64 = tf.cast(p, tf.float64)
        logp = tf.math.log(_clip(p64 / tf.reduce_sum(p64, axis=-1, keepdims=True)))
        return tf.cast(-reduce(tf.reduce_sum(tf.cast(y, tf.float64) * logp, axis=-1)),
                       tf.float32)
    return fn


def _binary_ce(logits: bool, per_sample: bool) -> LossFn:
    reduce = per_sample_mean if per_sample else tf.reduce_mean

    def fn(y: Any, p: Any) -> Any:
        if logits:  # stable form: max(z, 0) - z y + log(1 + exp(-|z|))
            return reduce(tf.nn.relu(p) - p * y + tf.math.log1p(tf.exp(-tf.abs(p))))
        q, t = _clip(p), tf.cast(y, tf.float64)
        return tf.cast(-reduce(t * tf.math.log(q) + (1.0 - t) * tf.math.log(1.0 - q)),
                       tf.float32)
    return fn


def _huber(delta: float, per_sample: bool) -> LossFn:
    reduce = per_sample_mean if per_sample else tf.reduce_mean

    def fn(y: Any, p: Any) -> Any:
        a = tf.abs(y - p)
        return reduce(tf.where(a <= delta, 0.5 * tf.square(a), delta * (a - 0.5 * delta)))
    return fn


def make_loss(loss: Loss, logits: bool, per_sample: bool = False) -> LossFn:
    """The batch-loss function ``(y_true, y_pred) -> scalar`` for ``loss``, or with
    ``per_sample`` the per-sample losses ``(y_true, y_pred) -> (batch,)``.

    ``logits``: ``y_pred`` holds pre-activation values (``loss.from_logits`` or a fused
    final softmax/sigmoid); otherwise probabilities for the cross-entropies.
    """
    reduce = per_sample_mean if per_sample else tf.reduce_mean
    if loss.name == "sparse_categorical_crossentropy":
        return _sparse_ce(logits, per_sample)
    if loss.name == "categorical_crossentropy":
        return _categorical_ce(logits, per_sample)
    if loss.name == "binary_crossentropy":
        return _binary_ce(logits, per_sample)
    if loss.name == "mse":
        return lambda y, p: reduce(tf.square(y - p))
    if loss.name == "mae":
        return lambda y, p: reduce(tf.abs(y - p))
    if loss.name == "huber":
        return _huber(float(loss.delta), per_sample)
    raise NotSupportedError(f"the keras backend has no loss {loss.name!r}")


class Objective:
    """The training loss of a model: ``sum_k weight_k * loss_k`` over its outputs.

    Each ``loss_k`` reads output ``k``'s pre-activation when its ``logits_loss`` is set
    (a fused cross-entropy) and the output itself otherwise. ``y``, ``pres`` and ``outs``
    are tuples with one tensor per output. A single output of weight 1 computes exactly
    the ops of its loss alone, so a ``Sequential`` pays nothing for the generality.
    """

    def __init__(self, outputs: Sequence[OutputLoss]) -> None:
        self._terms: list[tuple[LossFn, LossFn, bool, float]] = []
        for out in outputs:
            logits = out.loss.from_logits or out.logits_loss
            self._terms.append((make_loss(out.loss, logits=logits),
                                make_loss(out.loss, logits=logits, per_sample=True),
                                out.logits_loss, float(out.weight)))

    def batch(self, y: tuple[Any, ...], pres: tuple[Any, ...], outs: tuple[Any, ...]) -> Any:
        """The batch loss (a scalar)."""
        return self._combine(False, y, pres, outs)

    def per_sample(self, y: tuple[Any, ...], pres: tuple[Any, ...],
                   outs: tuple[Any, ...]) -> Any:
        """Each sample's weighted sum of its output losses, shape ``(batch,)``: with sample
        weights ``w``, ``sum_i w_i per_sample_i / batch`` is ``sum_k weight_k`` times
        output ``k``'s sample-weighted loss, the contract's batch loss."""
        return self._combine(True, y, pres, outs)

    def _combine(self, per_sample: bool, y: tuple[Any, ...], pres: tuple[Any, ...],
                 outs: tuple[Any, ...]) -> Any:
        total: Any = None
        for k, (batch_fn, sample_fn, on_pre, weight) in enumerate(self._terms):
            fn = sample_fn if per_sample else batch_fn
            value = fn(y[k], pres[k] if on_pre else outs[k])
            if weight != 1.0:
                value = value * weight
            total = value if total is None else total + value
        return total
