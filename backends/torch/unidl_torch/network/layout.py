"""The small steps a network inserts between layers: layout permutes and the float cast,
and the name each layer's module is registered under."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["module_name", "to_channels_first", "to_channels_last", "to_float"]


def to_channels_first(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) -> (N, C, H, W), a view."""
    return x.permute(0, 3, 1, 2)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H, W, C), a view."""
    return x.permute(0, 2, 3, 1)


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float()


def module_name(name: str, index: int, owner: nn.Module) -> str:
    """The spec layer name when torch accepts it as a module name of ``owner`` (an
    identifier that is none of ``owner``'s attributes: methods such as ``pre``, fields,
    modules already added), else ``layer<index>`` (with ``_`` appended until free)."""
    if name.isidentifier() and not hasattr(owner, name):
        return name
    fallback = f"layer{index}"
    while hasattr(owner, fallback):
        fallback += "_"
    return fallback
