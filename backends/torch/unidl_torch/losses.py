"""unidl's losses in torch, equal to ``unidl.losses`` (the NumPy definitions).

Each loss is one prebuilt function ``(output, target) -> scalar`` chosen once in
``configure``, so the training step does no dispatching. ``logits=True`` means the output
holds pre-activation values: the fused softmax/sigmoid path of ``TrainingSetup.logits_loss``
or ``Loss.from_logits``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from unidl.losses import PROB_CLIP
from unidl.spec import Loss

__all__ = ["LossFn", "WeightedLossFn", "loss_fn", "per_sample_loss_fn", "weighted_loss_fn"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
WeightedLossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_LO, _HI = PROB_CLIP, 1.0 - PROB_CLIP


def _mse(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(p, t)


def _mae(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(p, t)


def _huber(delta: float) -> LossFn:
    def huber(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(p, t, delta=delta)
    return huber


# Per-sample means of equal-sized groups average to the mean over all elements, so the
# element-wise losses reduce with a plain mean.

def _bce_logits(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(z, t)


def _bce_probs(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # unidl's clip, not torch's log clamp at -100. 1 - clip(p) = clip(1 - p), and clipping
    # 1 - p directly keeps its floor at 1e-7: 1 - 1e-7 itself rounds to 1 - 1.19e-7 in float32.
    return -(t * p.clamp(_LO, _HI).log() + (1.0 - t) * (1.0 - p).clamp(_LO, _HI).log()).mean()


def _cce_logits(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return -(t * F.log_softmax(z, dim=-1)).sum(dim=-1).mean()


def _cce_probs(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    q = (p / p.sum(dim=-1, keepdim=True)).clamp(_LO, _HI)  # renormalise, then clip
    return -(t * q.log()).sum(dim=-1).mean()


def _sparse_logits(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(z, t)


def _sparse_probs(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(p.clamp(_LO, _HI).log(), t)


# -- per-sample losses (sample weights) ------------------------------------------------
# Each returns shape (n,): the loss of every sample, as ``unidl.losses.per_sample_loss``
# (element-wise losses average over each sample's elements). A weighted batch loss is then
# ``mean(w * per_sample)``, i.e. sum(w_i * loss_i) / batch size (Keras' rule).

def _per_sample(e: torch.Tensor) -> torch.Tensor:
    return e.reshape(e.shape[0], -1).mean(dim=1)


def _mse_each(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return _per_sample(F.mse_loss(p, t, reduction="none"))


def _mae_each(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return _per_sample(F.l1_loss(p, t, reduction="none"))


def _huber_each(delta: float) -> LossFn:
    def huber(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _per_sample(F.huber_loss(p, t, reduction="none", delta=delta))
    return huber


def _bce_logits_each(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return _per_sample(F.binary_cross_entropy_with_logits(z, t, reduction="none"))


def _bce_probs_each(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return _per_sample(-(t * p.clamp(_LO, _HI).log()
                         + (1.0 - t) * (1.0 - p).clamp(_LO, _HI).log()))


def _cce_logits_each(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return _per_sample(-(t * F.log_softmax(z, dim=-1)).sum(dim=-1))


def _cce_probs_each(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    q = (p / p.sum(dim=-1, keepdim=True)).clamp(_LO, _HI)
    return _per_sample(-(t * q.log()).sum(dim=-1))


def _sparse_logits_each(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(z, t, reduction="none")


def _sparse_probs_each(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(p.clamp(_LO, _HI).log(), t, reduction="none")


# (batch mean, per sample) for each loss and whether its input is logits. The batch-mean
# functions are torch's fused reductions: the unweighted training step stays on them.
_TABLE: dict[tuple[str, bool], tuple[LossFn, LossFn]] = {
    ("mse", False): (_mse, _mse_each),
    ("mae", False): (_mae, _mae_each),
    ("binary_crossentropy", True): (_bce_logits, _bce_logits_each),
    ("binary_crossentropy", False): (_bce_probs, _bce_probs_each),
    ("categorical_crossentropy", True): (_cce_logits, _cce_logits_each),
    ("categorical_crossentropy", False): (_cce_probs, _cce_probs_each),
    ("sparse_categorical_crossentropy", True): (_sparse_logits, _sparse_logits_each),
    ("sparse_categorical_crossentropy", False): (_sparse_probs, _sparse_probs_each),
}


def _pick(loss: Loss, logits: bool) -> tuple[LossFn, LossFn]:
    if loss.name == "huber":
        delta = float(loss.delta)
        return _huber(delta), _huber_each(delta)
    pair = _TABLE.get((loss.name, logits and loss.is_cross_entropy))
    if pair is None:
        from unidl import NotSupportedError

        raise NotSupportedError(f"the torch backend has no loss {loss.name!r}")
    return pair


def loss_fn(loss: Loss, logits: bool) -> LossFn:
    """The torch function computing ``loss`` as ``unidl.losses.compute_loss`` defines it."""
    return _pick(loss, logits)[0]


def per_sample_loss_fn(loss: Loss, logits: bool) -> LossFn:
    """The torch function computing ``unidl.losses.per_sample_loss`` (shape ``(n,)``)."""
    return _pick(loss, logits)[1]


def weighted_loss_fn(loss: Loss, logits: bool) -> WeightedLossFn:
    """``(output, target, weights) -> sum(w_i * loss_i) / batch size`` (Keras' rule)."""
    each = per_sample_loss_fn(loss, logits)

    def weighted(out: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (each(out, t) * w).mean()
    return weighted
