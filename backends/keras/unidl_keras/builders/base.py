"""What every layer builder gets (:class:`BuildContext`) and how a kind's builder is found.

The registry itself is the core's (:func:`unidl.spec.register_builder`); this module only
reads it for the ``"keras"`` backend and turns a missing builder into a
:class:`~unidl.NotSupportedError` that names the kind and the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from unidl.errors import NotSupportedError
from unidl.spec import builder_for
from unidl.spec.layers import Layer, Shape

from .._runtime import BACKEND

__all__ = ["CHANNELS_LAST", "BuildContext", "KerasLayerBuilder",
           "LayerBuilderFn", "applies_activation", "build_layer", "layer_builder",
           "prefers_xla"]

#: Passed explicitly to every Keras layer that takes it: a user's keras.json may say
#: channels_first, unidl's data layout is always channels-last.
CHANNELS_LAST: Final = "channels_last"


@dataclass(frozen=True)
class BuildContext:
    """What a layer builder is told besides the spec layer.

    ``name`` is the name the Keras layer must take (the spec layer's name, or a unique
    variant of it); ``input_shape`` and ``output_shape`` are per sample (no batch axis),
    channels-last, as the spec infers them; ``input_shapes`` has one entry per input (a
    merge layer's several; ``(input_shape,)`` otherwise). A layer shared by several calls
    of a ``Graph`` is built once, for the shapes of its first call.
    """

    name: str
    input_shape: Shape
    output_shape: Shape
    input_shapes: tuple[Shape, ...] = ()

    def __post_init__(self) -> None:
        if not self.input_shapes:
            object.__setattr__(self, "input_shapes", (self.input_shape,))


#: The user form of a layer builder: ``fn(layer, ctx) -> keras.layers.Layer``.
LayerBuilderFn = Callable[[Any, BuildContext], Any]


@dataclass(frozen=True)
class KerasLayerBuilder:
    """The richer form the built-in layer builders register (a plain function is the user
    form; both are called as ``builder(layer, ctx)``).

    ``applies_activation``: the Keras layer applies ``layer.final_activation`` itself (the
    ``Activation`` kind), so the backend adds no separate activation layer and takes the
    layer's input as the pre-activation. ``xla``: False where XLA compiles the layer into
    slower code than TensorFlow's graph executor (the recurrent layers, the
    convolutions); a model holding one trains without XLA.
    """

    build: LayerBuilderFn
    applies_activation: bool = False
    xla: bool = True

    def __call__(self, layer: Any, ctx: BuildContext) -> Any:
        return self.build(layer, ctx)


def layer_builder(layer: Layer) -> LayerBuilderFn:
    """The keras builder registered for ``layer``'s kind, or a NotSupportedError."""
    builder = builder_for("layer", layer.kind, BACKEND)
    if builder is None:
        raise NotSupportedError(
            f"the {BACKEND!r} backend has no builder for layer kind {layer.kind!r} (layer "
            f"{getattr(layer, 'name', None)!r}); register one with unidl.register_builder("
            f"{type(layer).__name__}, {BACKEND!r}, fn), fn(layer, ctx) returning a "
            "keras.layers.Layer (see unidl_keras.builders)")
    return builder  # type: ignore[return-value]


def build_layer(layer: Layer, ctx: BuildContext) -> Any:
    """The Keras layer (or, for an ``Input``, the Keras input tensor) for ``layer``."""
    built = layer_builder(layer)(layer, ctx)
    if built is None:
        raise NotSupportedError(f"the {BACKEND!r} builder of layer kind {layer.kind!r} "
                                "returned None; it must return a keras.layers.Layer")
    return built


def applies_activation(layer: Layer) -> bool:
    """The Keras layer built for ``layer`` applies its final activation itself."""
    return bool(getattr(layer_builder(layer), "applies_activation", False))


def prefers_xla(layer: Layer) -> bool:
    """Whether training a model holding ``layer`` should be compiled with XLA."""
    return bool(getattr(layer_builder(layer), "xla", True))
