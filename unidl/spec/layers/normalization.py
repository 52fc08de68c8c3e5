"""Normalisation layers: BatchNorm (Keras semantics) and LayerNorm."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError, short
from .base import Array, Layer, ParamInfo, Shape, register_layer, set_field

__all__ = ["BatchNorm", "LayerNorm"]

@register_layer
@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation over the last (channel) axis, Keras semantics.

    ``moving = momentum * moving + (1 - momentum) * batch_stat`` (torch's momentum is
    ``1 - momentum``); the moving variance is updated with the biased batch variance;
    ``epsilon`` is added to the variance. Defaults are Keras': 0.99 and 1e-3.
    """

    momentum: float = 0.99
    epsilon: float = 1e-3
    name: str | None = None
    kind: ClassVar[str] = "BatchNorm"
    name_prefix: ClassVar[str] = "batch_normalization"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.momentum < 1.0:  # a finite number: checked by Layer
            raise SpecError(f"must be in [0, 1), got {short(self.momentum)}",
                            "BatchNorm.momentum")
        if not self.epsilon > 0:
            raise SpecError(f"must be > 0, got {short(self.epsilon)}", "BatchNorm.epsilon")
        set_field(self, "momentum", float(self.momentum))
        set_field(self, "epsilon", float(self.epsilon))

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        c = (input_shape[-1],)
        return {
            "gamma": ParamInfo(c, "ones"),
            "beta": ParamInfo(c, "zeros"),
            "moving_mean": ParamInfo(c, "zeros", trainable=False),
            "moving_variance": ParamInfo(c, "ones", trainable=False),
        }

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        mean, var = weights["moving_mean"], weights["moving_variance"]
        return np.asarray((x - mean) / np.sqrt(var + self.epsilon) * weights["gamma"]
                          + weights["beta"])


@register_layer
@dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalises each sample over its last axis: ``gamma * (x - mean) / sqrt(var +
    epsilon) + beta`` with the biased variance. epsilon default 1e-3 (Keras; torch
    1e-5)."""

    epsilon: float = 1e-3
    name: str | None = None
    kind: ClassVar[str] = "LayerNorm"
    name_prefix: ClassVar[str] = "layer_normalization"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.epsilon > 0:  # a finite number: checked by Layer
            raise SpecError(f"must be > 0, got {short(self.epsilon)}", "LayerNorm.epsilon")
        set_field(self, "epsilon", float(self.epsilon))

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        c = (input_shape[-1],)
        return {"gamma": ParamInfo(c, "ones"), "beta": ParamInfo(c, "zeros")}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return np.asarray((x - mean) / np.sqrt(var + self.epsilon) * weights["gamma"]
                          + weights["beta"])

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        return ((cls(epsilon=1e-2), (2, 5)),)
