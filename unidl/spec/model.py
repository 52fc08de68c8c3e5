"""``Sequential``: an ordered stack of layer specs, validated and shape-checked at build.

Construction resolves everything a backend needs: unique, stable layer names (given, or
generated like Keras: ``dense``, ``dense_1``, ...), every layer's input and output shape and
the canonical parameter list. A backend never re-derives these.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import SpecError, short
from .bounds import MAX_LAYERS, check_model_size, check_name, largest
from .config import custom_kinds, spec_header
from .layers import Input, Layer, Merge, ParamInfo, Shape
from .naming import assign_names
from .summary import format_summary

__all__ = ["LayerShapes", "Sequential"]


@dataclass(frozen=True)
class LayerShapes:
    """A layer with its resolved name and its per-sample input and output shapes."""

    layer: Layer
    name: str
    input_shape: Shape
    output_shape: Shape


@dataclass(frozen=True)
class Sequential:
    """A linear stack of layers; the first must be :class:`~unidl.Input`."""

    layers: Sequence[Layer]
    name: str = "sequential"

    def __post_init__(self) -> None:
        layers: object = self.layers
        if isinstance(layers, Layer) or not isinstance(layers, Iterable):
            raise SpecError("must be a list of layers, e.g. [unidl.Input((8,)), "
                            "unidl.Dense(1)]", "Sequential.layers")
        layers = tuple(layers)
        if not layers:
            raise SpecError("is empty; start with unidl.Input(shape)", "Sequential.layers")
        if len(layers) > MAX_LAYERS:
            raise SpecError(f"has {len(layers):,} layers, more than the {MAX_LAYERS:,} a model "
                            "may have", "Sequential.layers")
        check_name(self.name, "Sequential.name")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                hint = " (did you forget to call it, e.g. unidl.Flatten()?)" if isinstance(
                    layer, type) else ""
                raise SpecError(f"is {short(layer)}, not a unidl layer{hint}",
                                f"Sequential.layers[{i}]")
        if not isinstance(layers[0], Input):
            raise SpecError(
                f"the first layer must be unidl.Input(shape), got {layers[0].kind}; "
                "add unidl.Input((n_features,)) in front",
                "Sequential.layers[0]",
            )
        for i, layer in enumerate(layers[1:], start=1):
            if isinstance(layer, Merge):
                raise SpecError(f"{layer.kind} merges several tensors and cannot be part of "
                                "a Sequential; describe the model with unidl.Graph",
                                f"Sequential.layers[{i}]")
            if isinstance(layer, Input):
                raise SpecError("Input may only be the first layer of a Sequential",
                                f"Sequential.layers[{i}]")
        for i, layer in enumerate(layers):
            if layer.takes_integers and (
                    i != 1 or not layers[0].dtype.startswith("int")):
                raise SpecError(f"{layer.kind} takes integer indices: put it right after "
                                "unidl.Input(shape, dtype='int64')", f"Sequential.layers[{i}]")
        object.__setattr__(self, "layers", assign_names(layers, "Sequential.layers"))
        _ = self.layer_shapes  # infer shapes now so a bad spec fails at construction
        check_model_size(self.count_params(), self.largest_activation, "Sequential")

    # -- structure ------------------------------------------------------------------
    @property
    def input(self) -> Input:
        first = self.layers[0]
        assert isinstance(first, Input)
        return first

    @property
    def input_shape(self) -> Shape:
        return self.input.shape

    @property
    def output_shape(self) -> Shape:
        return self.layer_shapes[-1].output_shape if self.layer_shapes else self.input_shape

    @cached_property
    def layer_shapes(self) -> tuple[LayerShapes, ...]:
        """Every layer after the Input with its name and shapes, in order."""
        out: list[LayerShapes] = []
        shape = self.input_shape
        for i, layer in enumerate(self.layers[1:], start=1):
            try:
                new = layer.output_shape(shape)
            except SpecError as e:
                raise SpecError(f"{e} (input shape {shape})",
                                f"Sequential.layers[{i}] ({layer.layer_name})") from None
            out.append(LayerShapes(layer, layer.layer_name, shape, new))
            shape = new
        return tuple(out)

    @cached_property
    def largest_activation(self) -> int:
        """Values in the largest per-sample tensor (the input or a layer's output)."""
        return largest([self.input_shape, *(ls.output_shape for ls in self.layer_shapes)])

    @cached_property
    def params(self) -> dict[str, ParamInfo]:
        """Canonical parameters ``"<layer>/<param>"`` in a stable order."""
        return {
            f"{ls.name}/{pname}": info
            for ls in self.layer_shapes
            for pname, info in ls.layer.params(ls.input_shape).items()
        }

    def count_params(self, trainable_only: bool = False) -> int:
        return sum(
            math.prod(p.shape) for p in self.params.values() if p.trainable or not trainable_only
        )

    @property
    def final_activation(self) -> str:
        """The activation the model ends with (``"linear"`` if none)."""
        return self.layers[-1].final_activation

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    # -- presentation -----------------------------------------------------------------
    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts (like Keras')."""
        rows = [(f"{self.input.layer_name} (Input)", _fmt(self.input_shape), "0")]
        for ls in self.layer_shapes:
            n = sum(math.prod(p.shape) for p in ls.layer.params(ls.input_shape).values())
            rows.append((f"{ls.name} ({ls.layer.kind})", _fmt(ls.output_shape), f"{n:,}"))
        return format_summary(self.name, ("Layer (type)", "Output shape", "Param #"), rows,
                              self.count_params(), self.count_params(trainable_only=True))

    # -- serialisation (read back with unidl.spec.from_dict / from_json / from_yaml) -----
    def to_dict(self) -> dict[str, Any]:
        return {**spec_header("Sequential", self.name),
                "layers": [layer.to_config() for layer in self.layers],
                **custom_kinds(self.layers)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _fmt(shape: Shape) -> str:
    return str((None, *shape))
