"""The built-in losses' torch builders, equal to their NumPy definitions
(:mod:`unidl.spec.losses`), and :func:`loss_fns`, which finds any loss's builder.

Every function here takes ``(y_true, y_pred)``, the order of the NumPy references.
``logits=True`` means ``y_pred`` holds pre-activation values: the fused softmax/sigmoid path
of ``TrainingSetup.logits_loss`` or ``Loss.from_logits``. A loss is prepared once, in
``configure``, as :class:`LossFns`, so the training step does no dispatching. Built-ins
register a :class:`TorchLoss`, whose batch mean is torch's fused reduction
(``F.cross_entropy`` and friends); a user's loss builder returns the per-sample function
alone (see :mod:`unidl_torch.builders`) and its batch mean is the mean of that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unidl import NotSupportedError
from unidl.spec import LOSS_KINDS, Loss, builder_for, register_builder
from unidl.spec.losses import PROB_CLIP

__all__ = ["LossFn", "LossFns", "TorchLoss", "WeightedLossFn", "loss_fn", "loss_fns",
           "per_sample_loss_fn", "weighted_loss_fn"]

#: ``(y_true, y_pred) -> tensor``: a batch mean (a scalar) or a loss per sample
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``(y_true, y_pred, sample_weights) -> scalar``
WeightedLossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_BACKEND = "torch"
_LO, _HI = PROB_CLIP, 1.0 - PROB_CLIP


def _per_sample(e: torch.Tensor) -> torch.Tensor:
    """Per-element losses -> the mean of each sample's, shape (n,)."""
    return e if e.dim() == 1 else e.reshape(e.shape[0], -1).mean(dim=1)


@dataclass(frozen=True)
class LossFns:
    """One loss as the training step runs it: ``mean(y_true, y_pred)`` is the batch loss,
    ``per_sample(y_true, y_pred)`` each sample's, shape ``(n,)``."""

    mean: LossFn
    per_sample: LossFn

    def weighted(self, y_true: torch.Tensor, y_pred: torch.Tensor,
                 w: torch.Tensor) -> torch.Tensor:
        """``sum(w_i * loss_i) / batch size`` (Keras' rule)."""
        return (self.per_sample(y_true, y_pred) * w).mean()


@dataclass(frozen=True)
class TorchLoss:
    """A loss builder that also gives torch's fused batch mean: ``fns(spec, logits)``.

    Called like a user's builder, ``TorchLoss(...)(spec, logits)`` is the per-sample
    function."""

    fns: Callable[[Loss, bool], LossFns]

    def __call__(self, spec: Loss, logits: bool) -> LossFn:
        return self.fns(spec, logits).per_sample


def _from_per_sample(each: LossFn) -> LossFns:
    """A user's per-sample (or per-element) loss as :class:`LossFns`. Every sample has as
    many elements, so the mean over all of them is the mean of the samples' means."""
    def mean(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return each(t, p).mean()

    def per_sample(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return _per_sample(each(t, p))
    return LossFns(mean, per_sample)


def loss_fns(loss: Loss, logits: bool) -> LossFns:
    """The torch functions computing ``loss`` as its NumPy definition does (``logits``
    counts only for a loss that takes logits); a NotSupportedError naming the loss when
    torch has no builder for it."""
    builder = builder_for("loss", loss.name, _BACKEND)
    if builder is None:
        raise NotSupportedError(
            f"the torch backend has no builder for loss {loss.name!r}; register one with "
            "unidl.register_builder(kind, 'torch', build) where kind is what "
            "unidl.register_loss returned and build(spec, logits) returns "
            "per_sample(y_true, y_pred)")
    logits = logits and loss.kind.takes_logits
    if isinstance(builder, TorchLoss):
        return builder.fns(loss, logits)
    return _from_per_sample(builder(loss, logits))  # type: ignore[operator]


def loss_fn(loss: Loss, logits: bool) -> LossFn:
    """``(y_true, y_pred) -> batch mean``, as ``unidl.losses.compute_loss`` defines it."""
    return loss_fns(loss, logits).mean


def per_sample_loss_fn(loss: Loss, logits: bool) -> LossFn:
    """``(y_true, y_pred) -> (n,)``, as ``unidl.losses.per_sample_loss`` defines it."""
    return loss_fns(loss, logits).per_sample


def weighted_loss_fn(loss: Loss, logits: bool) -> WeightedLossFn:
    """``(y_true, y_pred, weights) -> sum(w_i * loss_i) / batch size`` (Keras' rule)."""
    return loss_fns(loss, logits).weighted


# -- the built-ins ---------------------------------------------------------------------
# Per-sample means of equal-sized groups average to the mean over all elements, so the
# element-wise losses' batch means are plain means (torch's fused reductions).

def _mse(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(p, t)


def _mse_each(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _per_sample(F.mse_loss(p, t, reduction="none"))


def _mae(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(p, t)


def _mae_each(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _per_sample(F.l1_loss(p, t, reduction="none"))


def _huber(spec: Loss, logits: bool) -> LossFns:
    delta = float(spec.delta)

    def mean(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(p, t, delta=delta)

    def each(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return _per_sample(F.huber_loss(p, t, reduction="none", delta=delta))
    return LossFns(mean, each)


def _bce_logits(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(z, t)


def _bce_logits_each(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return _per_sample(F.binary_cross_entropy_with_logits(z, t, reduction="none"))


def _bce_elements(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    # unidl's clip, not torch's log clamp at -100. 1 - clip(p) = clip(1 - p), and clipping
    # 1 - p directly keeps its floor at 1e-7: 1 - 1e-7 itself rounds to 1 - 1.19e-7 in float32.
    return -(t * p.clamp(_LO, _HI).log() + (1.0 - t) * (1.0 - p).clamp(_LO, _HI).log())


def _bce_probs(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _bce_elements(t, p).mean()


def _bce_probs_each(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _per_sample(_bce_elements(t, p))


def _cce_logits_each(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return -(t * F.log_softmax(z, dim=-1)).sum(dim=-1)


def _cce_logits(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return _cce_logits_each(t, z).mean()


def _cce_probs_each(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    q = (p / p.sum(dim=-1, keepdim=True)).clamp(_LO, _HI)  # renormalise, then clip
    return -(t * q.log()).sum(dim=-1)


def _cce_probs(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _cce_probs_each(t, p).mean()


def _sparse_logits(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(z, t)


def _sparse_logits_each(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(z, t, reduction="none")


def _sparse_probs(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(p.clamp(_LO, _HI).log(), t)


def _sparse_probs_each(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(p.clamp(_LO, _HI).log(), t, reduction="none")


def _fixed(fns: LossFns) -> TorchLoss:
    """A loss with no options and no logits form."""
    return TorchLoss(lambda spec, logits: fns)


def _by_logits(on_logits: LossFns, on_probs: LossFns) -> TorchLoss:
    return TorchLoss(lambda spec, logits: on_logits if logits else on_probs)


_BUILTINS: dict[str, TorchLoss] = {
    "mse": _fixed(LossFns(_mse, _mse_each)),
    "mae": _fixed(LossFns(_mae, _mae_each)),
    "huber": TorchLoss(_huber),
    "binary_crossentropy": _by_logits(LossFns(_bce_logits, _bce_logits_each),
                                      LossFns(_bce_probs, _bce_probs_each)),
    "categorical_crossentropy": _by_logits(LossFns(_cce_logits, _cce_logits_each),
                                           LossFns(_cce_probs, _cce_probs_each)),
    "sparse_categorical_crossentropy": _by_logits(
        LossFns(_sparse_logits, _sparse_logits_each),
        LossFns(_sparse_probs, _sparse_probs_each)),
}
for _name, _builder in _BUILTINS.items():
    register_builder(LOSS_KINDS[_name], _BACKEND, _builder)
