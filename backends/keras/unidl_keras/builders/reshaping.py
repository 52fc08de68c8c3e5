"""Keras builders of the reshaping layers (Flatten, Reshape, Permute).

Flatten flattens in channels-last order (``data_format`` explicit), so weights after it
are portable. Reshape takes the spec's target shape: Keras resolves a ``-1`` statically for
each call (a shared Reshape may be called on inputs of different sizes). Permute uses the
same convention as the spec: per-sample axes counted from 1.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import Flatten, Permute, Reshape, register_builder

from .._runtime import BACKEND, keras
from .base import CHANNELS_LAST, BuildContext

__all__: list[str] = []


def _flatten(layer: Flatten, ctx: BuildContext) -> Any:
    return keras.layers.Flatten(data_format=CHANNELS_LAST, name=ctx.name)


register_builder(Flatten, BACKEND, _flatten)


def _reshape(layer: Reshape, ctx: BuildContext) -> Any:
    return keras.layers.Reshape(tuple(layer.target_shape), name=ctx.name)


register_builder(Reshape, BACKEND, _reshape)


def _permute(layer: Permute, ctx: BuildContext) -> Any:
    return keras.layers.Permute(layer.dims, name=ctx.name)


register_builder(Permute, BACKEND, _permute)
