"""Spec activation names -> torch functions, with unidl's constants (not torch defaults)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from unidl.spec.activations import LEAKY_RELU_SLOPE

__all__ = ["Fn", "activation_fn"]

Fn = Callable[[torch.Tensor], torch.Tensor]

_ELEMENTWISE: dict[str, Fn] = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": F.gelu,  # approximate="none": the exact erf form
    "leaky_relu": functools.partial(F.leaky_relu, negative_slope=LEAKY_RELU_SLOPE),
    "elu": F.elu,  # alpha 1.0
    "selu": torch.selu,
    "softplus": F.softplus,  # beta 1; torch returns x above 20, within float32 of log1p(e^x)
    "swish": F.silu,
}


def activation_fn(name: str, channel_dim: int = -1) -> Fn | None:
    """The torch function for a canonical activation name; ``None`` for ``linear``.

    ``channel_dim`` is where the channels are in the tensor the function sees (softmax runs
    over the channels: the last axis in unidl's channels-last layout, dim 1 inside a
    channels-first stretch of convolutions).
    """
    if name == "linear":
        return None
    if name == "softmax":
        return functools.partial(torch.softmax, dim=channel_dim)
    try:
        return _ELEMENTWISE[name]
    except KeyError:  # the spec validates names; a new one needs a mapping here
        from unidl import NotSupportedError

        raise NotSupportedError(f"the torch backend has no activation {name!r}") from None
