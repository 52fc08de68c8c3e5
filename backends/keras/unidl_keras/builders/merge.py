"""Keras builders of the merge layers (Concatenate, Add, Subtract, Multiply, Average).

They map one to one onto Keras' merge layers: ``Concatenate.axis`` follows Keras'
convention (counted on the batched tensor), so it is passed as it is, and the
element-wise ones get inputs of one shape (the spec refuses a mismatch), so Keras'
broadcasting never comes into play. They have no weights. A merge layer is called on the
list of its inputs.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import Add, Average, Concatenate, Multiply, Subtract, register_builder

from .._runtime import BACKEND, keras
from .base import BuildContext

__all__: list[str] = []


def _concatenate(layer: Concatenate, ctx: BuildContext) -> Any:
    return keras.layers.Concatenate(axis=layer.axis, name=ctx.name)


register_builder(Concatenate, BACKEND, _concatenate)


def _add(layer: Add, ctx: BuildContext) -> Any:
    return keras.layers.Add(name=ctx.name)


register_builder(Add, BACKEND, _add)


def _subtract(layer: Subtract, ctx: BuildContext) -> Any:
    return keras.layers.Subtract(name=ctx.name)


register_builder(Subtract, BACKEND, _subtract)


def _multiply(layer: Multiply, ctx: BuildContext) -> Any:
    return keras.layers.Multiply(name=ctx.name)


register_builder(Multiply, BACKEND, _multiply)


def _average(layer: Average, ctx: BuildContext) -> Any:
    return keras.layers.Average(name=ctx.name)


register_builder(Average, BACKEND, _average)
