"""Stable layer names: the user's where given, Keras-style generated ones elsewhere."""

from __future__ import annotations

import dataclasses

from ..errors import SpecError
from .layers import Layer

__all__ = ["assign_names"]


def assign_names(layers: tuple[Layer, ...], where: str) -> tuple[Layer, ...]:
    """Copies of ``layers`` with every name set: ``dense``, ``dense_1``, ... for unnamed
    ones, skipping names the user already took. ``where`` prefixes error paths."""
    taken: dict[str, int] = {}
    for i, layer in enumerate(layers):
        name = getattr(layer, "name", None)
        if name is not None:
            if name in taken:
                raise SpecError(f"duplicate layer name {name!r} (also used by "
                                f"{where}[{taken[name]}]); layer names must be unique",
                                f"{where}[{i}].name")
            taken[name] = i
    counts: dict[str, int] = {}
    named: list[Layer] = []
    for layer in layers:
        if getattr(layer, "name", None) is None:
            prefix = layer.name_prefix
            while True:
                n = counts.get(prefix, 0)
                counts[prefix] = n + 1
                candidate = prefix if n == 0 else f"{prefix}_{n}"
                if candidate not in taken:
                    break
            taken[candidate] = -1
            layer = dataclasses.replace(layer, name=candidate)  # type: ignore[call-arg]
        named.append(layer)
    return tuple(named)
