"""Input, Dense, Activation, Dropout and Embedding on torch.

=============  ====================================================================
unidl layer    torch tensors (layout)
=============  ====================================================================
Dense          ``weight`` (out, in), ``bias`` (out,)     -> ``nn.Linear``
Embedding      ``weight`` (input_dim, output_dim)        -> ``nn.Embedding``
=============  ====================================================================

An ``Activation`` layer's module is the identity: the network applies every layer's
activation after its module, so the Activation layer is that step alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unidl.spec import Activation, Dense, Dropout, Embedding, Input

from .base import BuildContext, Weight, builds, transpose

__all__ = ["DenseModule", "DropoutModule", "EmbeddingModule"]


@builds(Input)
def _input(layer: Input, ctx: BuildContext) -> nn.Module:
    return nn.Identity()  # never called: a network feeds its inputs in directly


class DenseModule(nn.Module):
    """``x @ W.T + b`` on the last axis, any rank (torch ``Linear`` layout)."""

    def __init__(self, units: int, in_features: int, use_bias: bool,
                 device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(units, in_features, device=device))
        self.bias = nn.Parameter(torch.empty(units, device=device)) if use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@builds(Dense, weights={"kernel": Weight("weight", transpose, transpose),
                        "bias": Weight("bias")})
def _dense(layer: Dense, ctx: BuildContext) -> nn.Module:
    return DenseModule(layer.units, ctx.input_shape[-1], layer.use_bias, ctx.device)


@builds(Activation, layout="any")
def _activation(layer: Activation, ctx: BuildContext) -> nn.Module:
    return nn.Identity()  # the network applies layer.activation after it


class DropoutModule(nn.Module):
    """Inverted dropout drawing its masks from the model's seeded generator."""

    def __init__(self, rate: float, generator: torch.Generator | None) -> None:
        super().__init__()
        self.rate = rate
        self.keep = 1.0 - rate
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        mask = torch.empty_like(x).bernoulli_(self.keep, generator=self.generator)
        return x * mask.div_(self.keep)


@builds(Dropout, layout="any")
def _dropout(layer: Dropout, ctx: BuildContext) -> nn.Module:
    return DropoutModule(layer.rate, ctx.generator)


class EmbeddingModule(nn.Module):
    """Row lookup of ``weight (input_dim, output_dim)`` for integer indices."""

    def __init__(self, input_dim: int, output_dim: int, device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(input_dim, output_dim, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():  # a caller outside unidl handing float indices
            x = x.long()
        return F.embedding(x, self.weight)


@builds(Embedding, weights={"embeddings": Weight("weight")})
def _embedding(layer: Embedding, ctx: BuildContext) -> nn.Module:
    return EmbeddingModule(layer.input_dim, layer.output_dim, ctx.device)
