"""Merge layers (``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``).

They map one to one onto Keras' merge layers: ``Concatenate.axis`` follows Keras'
convention (counted on the batched tensor), so it is passed as it is, and the
element-wise ones get inputs of one shape (the spec refuses a mismatch), so Keras'
broadcasting never comes into play. They have no weights.
"""

from __future__ import annotations

from typing import Any

from unidl.errors import NotSupportedError
from unidl.spec import Add, Average, Concatenate, Merge, Multiply, Subtract

from ._runtime import keras

__all__ = ["MERGE_LAYER_KINDS", "merge_layer"]

#: The spec layer kinds :func:`merge_layer` implements.
MERGE_LAYER_KINDS: frozenset[str] = frozenset(
    cls.kind for cls in (Concatenate, Add, Subtract, Multiply, Average))

_ELEMENTWISE: dict[type[Merge], Any] = {
    Add: keras.layers.Add, Subtract: keras.layers.Subtract,
    Multiply: keras.layers.Multiply, Average: keras.layers.Average,
}


def merge_layer(layer: Merge, name: str) -> Any:
    """The Keras layer for the merge spec ``layer``."""
    if isinstance(layer, Concatenate):
        return keras.layers.Concatenate(axis=layer.axis, name=name)
    cls = _ELEMENTWISE.get(type(layer))
    if cls is None:
        raise NotSupportedError(f"the keras backend does not support merge layer "
                                f"{layer.kind!r}")
    return cls(name=name)
