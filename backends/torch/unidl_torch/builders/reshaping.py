"""Flatten, Reshape and Permute on torch: each sample, channels-last, row-major.

A network hands these layers channels-last tensors (it permutes back at the end of a run of
channels-first image layers), so Flatten after a convolution flattens (H, W, C) as Keras
does and the Dense kernel that follows is portable. None has weights.
"""

from __future__ import annotations

import torch
from torch import nn

from unidl.spec import Flatten, Permute, Reshape

from .base import BuildContext, builds

__all__ = ["FlattenModule", "PermuteModule", "ReshapeModule"]


class FlattenModule(nn.Module):
    """Each sample as one vector (row-major)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


@builds(Flatten)
def _flatten(layer: Flatten, ctx: BuildContext) -> nn.Module:
    return FlattenModule()


class ReshapeModule(nn.Module):
    """Row-major reshape of each (channels-last) sample."""

    def __init__(self, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.out_shape = out_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.out_shape)


@builds(Reshape)
def _reshape(layer: Reshape, ctx: BuildContext) -> nn.Module:
    return ReshapeModule(ctx.output_shape)


class PermuteModule(nn.Module):
    """Permutes the per-sample axes of a channels-last tensor (a view; Keras' 1-based
    ``dims``, so the batch axis stays first)."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = (0, *dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


@builds(Permute)
def _permute(layer: Permute, ctx: BuildContext) -> nn.Module:
    return PermuteModule(tuple(layer.dims))
