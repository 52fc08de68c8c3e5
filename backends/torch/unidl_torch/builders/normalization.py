"""BatchNorm and LayerNorm on torch.

=============  ====================================================================
unidl layer    torch tensors (layout)
=============  ====================================================================
BatchNorm      ``weight``, ``bias``, ``running_mean``, ``running_var`` (C,)
               -> ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``
LayerNorm      ``weight`` (C,), ``bias`` (C,)            -> ``nn.LayerNorm(C, eps)``
=============  ====================================================================

BatchNorm takes whichever layout it is handed (layout ``"any"``): inside a run of
channels-first image layers it normalises (N, C, H, W) with torch's 4-D kernel, elsewhere
a channels-last tensor as (N*H*W, C) rows, the same arithmetic. In a data-parallel run
(``group`` set) it takes the mean and variance of the global batch: every rank's
statistics are gathered with ``torch.distributed.nn``'s autograd-aware all-gather, so the
backward pass also flows through the other ranks' samples (SyncBatchNorm's meaning, whose
fused kernels run on GPUs only).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.distributed.nn.functional as dist_nn
import torch.nn.functional as F
from torch import nn

from unidl.spec import BatchNorm, LayerNorm

from .base import BuildContext, Weight, builds

__all__ = ["BatchNormModule", "LayerNormModule"]


def _all_gather(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``t`` of every rank of the group, differentiable (the backward pass sends each
    rank the gradients of its own ``t``). torch marks ``torch.distributed.nn`` deprecated
    in favour of functional collectives, whose autograd support is still in progress."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        result: tuple[torch.Tensor, ...] = dist_nn.all_gather(t)  # type: ignore[no-untyped-call]
        return result


class BatchNormModule(nn.Module):
    """Keras batch normalisation over the channel axis.

    Training normalises with the batch mean and biased variance and updates
    ``moving = momentum * moving + (1 - momentum) * batch`` with the *biased* variance.
    torch's fused kernel updates the running variance with the *unbiased* one; rather than a
    second pass over the batch for its statistics, the (channels-sized) buffer is corrected:
    with ``kept = (1 - u) * old``, torch gives ``kept + u * var * n / (n - 1)``, so
    ``kept + (torch's - kept) * (n - 1) / n`` is Keras' update.
    """

    def __init__(self, spec: BatchNorm, channels: int, channels_first: bool,
                 device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, device=device))
        self.bias = nn.Parameter(torch.empty(channels, device=device))
        self.register_buffer("running_mean", torch.empty(channels, device=device))
        self.register_buffer("running_var", torch.empty(channels, device=device))
        self.running_mean: torch.Tensor
        self.running_var: torch.Tensor
        self.channels = channels
        self.channels_first = channels_first
        self.update = 1.0 - spec.momentum
        self.eps = spec.epsilon
        #: the data-parallel group (``unidl_torch.distributed.Group``), or None
        self.group: Any = None

    def _synced(self, flat: torch.Tensor) -> torch.Tensor:
        """Training with the statistics of the global batch (every rank's part): each rank's
        count, mean and sum of squared deviations are gathered in one collective and
        combined (Chan et al.'s parallel variance, as ``SyncBatchNorm`` does), giving the
        mean and biased variance one process computes over the whole batch."""
        c = self.channels
        dims = (0, 2, 3) if flat.dim() == 4 else (0,)
        shape = (1, -1, 1, 1) if flat.dim() == 4 else (1, -1)
        count = flat.numel() // c
        if count:
            var, mean = torch.var_mean(flat, dims, correction=0)
            local = torch.cat([flat.new_full((1,), float(count)), mean, var * count])
        else:  # an empty part still joins (and stays in the graph for the backward pass)
            local = torch.cat([flat.new_zeros((1,)), flat.sum(dims), flat.sum(dims)])
        every = torch.stack(_all_gather(local))
        counts, means, m2s = every[:, :1], every[:, 1:1 + c], every[:, 1 + c:]
        n = counts.sum()
        mean = (counts * means).sum(0) / n
        var = (m2s + counts * (means - mean).square()).sum(0) / n
        with torch.no_grad():
            self.running_mean.lerp_(mean.detach(), self.update)
            self.running_var.lerp_(var.detach(), self.update)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return (flat - mean.reshape(shape)) * scale.reshape(shape) + self.bias.reshape(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x if (self.channels_first or x.dim() == 2) else x.reshape(-1, self.channels)
        cudnn = torch.backends.cudnn.enabled
        if self.training and self.group is not None:
            y = self._synced(flat)
        elif not self.training:
            y = torch.batch_norm(flat, self.weight, self.bias, self.running_mean,
                                 self.running_var, False, 0.0, self.eps, cudnn)
        elif (n := flat.numel() // self.channels) > 1:
            # torch's kernel writes the unbiased update into a copy (autograd keeps that
            # copy, so it must not change again); the buffer gets the biased one.
            unbiased = self.running_var.clone()
            y = torch.batch_norm(flat, self.weight, self.bias, self.running_mean, unbiased,
                                 True, self.update, self.eps, cudnn)
            with torch.no_grad():
                kept = self.running_var.mul_(1.0 - self.update)
                kept.add_(unbiased - kept, alpha=(n - 1) / n)
        else:
            # One sample (Keras allows it: variance 0). torch.batch_norm, not F.batch_norm,
            # which refuses a batch of one in training mode; torch's unbiased variance
            # would divide by zero, so the buffers are updated here.
            with torch.no_grad():
                dims = (0, 2, 3) if self.channels_first else (0,)
                var, mean = torch.var_mean(flat, dims, correction=0)
                self.running_mean.lerp_(mean, self.update)
                self.running_var.lerp_(var, self.update)
            y = torch.batch_norm(flat, self.weight, self.bias, None, None, True, 0.0,
                                 self.eps, cudnn)
        return y if y.shape == shape else y.reshape(shape)


@builds(BatchNorm, layout="any",
        weights={"gamma": Weight("weight"), "beta": Weight("bias"),
                 "moving_mean": Weight("running_mean"),
                 "moving_variance": Weight("running_var")})
def _batch_norm(layer: BatchNorm, ctx: BuildContext) -> nn.Module:
    return BatchNormModule(layer, ctx.input_shape[-1], ctx.channels_first, ctx.device)


class LayerNormModule(nn.Module):
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` over the last axis (biased var)."""

    def __init__(self, spec: LayerNorm, channels: int, device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, device=device))
        self.bias = nn.Parameter(torch.empty(channels, device=device))
        self.shape = (channels,)
        self.eps = spec.epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


@builds(LayerNorm, weights={"gamma": Weight("weight"), "beta": Weight("bias")})
def _layer_norm(layer: LayerNorm, ctx: BuildContext) -> nn.Module:
    return LayerNormModule(layer, ctx.input_shape[-1], ctx.device)
