"""The keras builders of the losses: the six built-in ones in TensorFlow, equal to their
NumPy definitions (``unidl.spec.losses``), and the objective a model trains on.

A loss kind's builder is registered with ``unidl.register_builder(kind, "keras", fn)``
(the user form, ``fn(spec, logits) -> per_sample(y_true, y_pred)``, is described in
``unidl_keras.builders``). The built-in ones register a :class:`LossBuilder`, which also
gives the batch loss as one fused mean.

Each built-in function returns the batch loss: the mean over samples of the per-sample
loss. Every sample has the same number of elements, so that is the mean over all elements
of the per-element (or, for cross-entropies, per-position) loss.

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
from unidl.spec import LOSS_KINDS, Loss, builder_for, register_builder

from ._runtime import BACKEND, tf

__all__ = ["LossBuilder", "LossFn", "Objective", "UserLossBuilder", "loss_functions",
           "make_loss", "per_sample_mean"]

#: ``(y_true, y_pred) -> loss``: a scalar (batch loss) or one value per sample.
LossFn = Callable[[Any, Any], Any]
#: The user form of a loss builder: ``fn(spec, logits) -> per_sample(y_true, y_pred)``.
UserLossBuilder = Callable[[Loss, bool], LossFn]


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


class LossBuilder:
    """The richer form the built-in losses register: ``make(spec, logits, per_sample)``
    gives the batch loss directly (one fused mean, what the compiled step runs) as well as
    the per-sample losses. Called as ``builder(spec, logits)`` it is the user form: the
    per-sample losses."""

    def __init__(self, make: Callable[[Loss, bool, bool], LossFn]) -> None:
        self.make = make

    def __call__(self, spec: Loss, logits: bool) -> LossFn:
        return self.make(spec, logits, True)


def _simple(elementwise: Callable[[Any, Any], Any]) -> LossBuilder:
    def make(loss: Loss, logits: bool, per_sample: bool) -> LossFn:
        reduce = per_sample_mean if per_sample else tf.reduce_mean
        return lambda y, p: reduce(elementwise(y, p))
    return LossBuilder(make)


_BUILTINS: dict[str, LossBuilder] = {
    "mse": _simple(lambda y, p: tf.square(y - p)),
    "mae": _simple(lambda y, p: tf.abs(y - p)),
    "huber": LossBuilder(lambda loss, logits, per_sample: _huber(float(loss.delta),
                                                                 per_sample)),
    "binary_crossentropy": LossBuilder(lambda loss, logits, per_sample: _binary_ce(
        logits, per_sample)),
    "categorical_crossentropy": LossBuilder(lambda loss, logits, per_sample: _categorical_ce(
        logits, per_sample)),
    "sparse_categorical_crossentropy": LossBuilder(
        lambda loss, logits, per_sample: _sparse_ce(logits, per_sample)),
}
for _name, _builder in _BUILTINS.items():
    register_builder(LOSS_KINDS[_name], BACKEND, _builder)


def _user_loss(loss: Loss, fn: UserLossBuilder, logits: bool) -> tuple[LossFn, LossFn]:
    """``(batch, per_sample)`` from a user's builder: targets shaped as the contract says,
    each sample's elements averaged, float32."""
    per = fn(loss, logits)
    by_index = loss.kind.target == "class_index"

    def sample(y: Any, p: Any) -> Any:
        if by_index:
            y = tf.reshape(tf.cast(y, tf.int64), [tf.shape(p)[0]])
        else:
            y = tf.reshape(tf.cast(y, p.dtype), tf.shape(p))
        return tf.cast(per_sample_mean(tf.convert_to_tensor(per(y, p))), tf.float32)

    return (lambda y, p: tf.reduce_mean(sample(y, p))), sample


def loss_functions(loss: Loss, logits: bool) -> tuple[LossFn, LossFn]:
    """``(batch, per_sample)`` loss functions ``(y_true, y_pred) -> scalar`` and ``-> (n,)``
    for ``loss``, from its registered keras builder.

    ``logits``: ``y_pred`` holds pre-activation values (``loss.from_logits`` or a fused
    final softmax/sigmoid); otherwise probabilities for the cross-entropies.
    """
    builder = builder_for("loss", loss.name, BACKEND)
    if builder is None:
        raise NotSupportedError(
            f"the {BACKEND!r} backend has no builder for loss {loss.name!r}; register one "
            f"with unidl.register_builder(unidl.spec.LOSS_KINDS[{loss.name!r}], "
            f"{BACKEND!r}, fn), fn(spec, logits) returning per_sample(y_true, y_pred)")
    if isinstance(builder, LossBuilder):
        return builder.make(loss, logits, False), builder.make(loss, logits, True)
    return _user_loss(loss, builder, logits)  # type: ignore[arg-type]


def make_loss(loss: Loss, logits: bool, per_sample: bool = False) -> LossFn:
    """The batch-loss function ``(y_true, y_pred) -> scalar`` for ``loss``, or with
    ``per_sample`` the per-sample losses ``(y_true, y_pred) -> (batch,)``."""
    batch, sample = loss_functions(loss, logits)
    return sample if per_sample else batch


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
            self._terms.append((*loss_functions(out.loss, logits), out.logits_loss,
                                float(out.weight)))

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
