"""Concatenate, Add, Subtract, Multiply and Average on torch (graph layers only).

A merge's module is called with its input tensors, ``forward(*xs)``, channels-last. None
has weights.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from unidl.spec import Add, Average, Concatenate, Multiply, Subtract

from .base import BuildContext, builds

__all__ = ["AddModule", "AverageModule", "ConcatenateModule", "MultiplyModule",
           "SubtractModule"]


class ConcatenateModule(nn.Module):
    """Joins the inputs along one per-sample axis."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, self.dim)


@builds(Concatenate)
def _concatenate(layer: Concatenate, ctx: BuildContext) -> nn.Module:
    return ConcatenateModule(1 + layer.feature_axis(len(ctx.input_shape)))


class AddModule(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return functools.reduce(torch.add, xs)


@builds(Add)
def _add(layer: Add, ctx: BuildContext) -> nn.Module:
    return AddModule()


class SubtractModule(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b


@builds(Subtract)
def _subtract(layer: Subtract, ctx: BuildContext) -> nn.Module:
    return SubtractModule()


class MultiplyModule(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return functools.reduce(torch.mul, xs)


@builds(Multiply)
def _multiply(layer: Multiply, ctx: BuildContext) -> nn.Module:
    return MultiplyModule()


class AverageModule(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return functools.reduce(torch.add, xs) / len(xs)


@builds(Average)
def _average(layer: Average, ctx: BuildContext) -> nn.Module:
    return AverageModule()
