"""Spec layers -> Keras layers, with the hyper-parameters unidl fixes passed explicitly.

Dense/Conv2D are built linear and followed by their own activation layer. Besides making
every activation constant explicit, this exposes the pre-activation of the last layer,
which a fused cross-entropy needs (``TrainingSetup.logits_loss``). The graph is the same op
sequence Keras would run for ``Dense(activation=...)``, so it costs nothing.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from unidl.errors import NotSupportedError
from unidl.spec import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Sequential,
)
from unidl.spec.activations import LEAKY_RELU_SLOPE

from ._runtime import keras
from .layers_seq import (
    LINEAR_WITH_ACTIVATION,
    SEQUENCE_LAYER_KINDS,
    input_dtype,
    sequence_layer,
)

__all__ = ["LAYER_KINDS", "BuiltNetwork", "activation_layer", "build_network"]

#: The spec layer kinds ``build_network`` implements (what the backend declares).
LAYER_KINDS = frozenset(("Input", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten",
                         "Dropout", "BatchNorm", "Activation")) | SEQUENCE_LAYER_KINDS

_CHANNELS_LAST = "channels_last"  # explicit: a user's keras.json may say channels_first


def gelu_exact(x: Any) -> Any:
    """Exact (erf) GELU; registered so a ``.keras`` export using it loads back."""
    return keras.activations.gelu(x, approximate=False)


keras.saving.register_keras_serializable(package="unidl")(gelu_exact)


# Keras 3 activations.gelu defaults to the exact form; only fall back to the registered
# function (which needs ``import unidl_keras`` to load) if a version ever changes that.
_GELU: Any = (
    "gelu"
    if inspect.signature(keras.activations.gelu).parameters["approximate"].default is False
    else gelu_exact
)

# Activations whose Keras string means exactly the unidl definition (see unidl.spec).
_SAME_NAME = {"relu", "sigmoid", "tanh", "softmax", "selu", "softplus"}


def activation_layer(activation: str, name: str) -> Any:
    """A Keras layer applying the unidl activation ``activation``."""
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=name)
    if activation == "elu":
        return keras.layers.ELU(alpha=1.0, name=name)
    if activation == "gelu":
        return keras.layers.Activation(_GELU, name=name)
    if activation == "swish":
        return keras.layers.Activation("silu", name=name)  # x * sigmoid(x)
    if activation == "linear":
        return keras.layers.Activation("linear", name=name)
    if activation in _SAME_NAME:
        return keras.layers.Activation(activation, name=name)
    raise NotSupportedError(f"the keras backend has no activation {activation!r}")


@dataclass
class BuiltNetwork:
    """The Keras model for a spec and the handles training needs.

    ``body`` ends with the pre-activation of the model's output; ``head`` (or None) is the
    final activation layer, so ``outputs = head(body(x))``. ``params`` maps canonical names
    to Keras variables in ``spec.params`` order.
    """

    model: Any
    body: list[Any]
    head: Any | None
    params: dict[str, Any]
    dropouts: list[Any]
    #: what the model takes: float32, or the integer dtype of an integer Input
    input_dtype: str = "float32"


def _unique(base: str, taken: set[str]) -> str:
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _main_layer(layer: object, name: str) -> Any:
    if isinstance(layer, Dense):
        return keras.layers.Dense(layer.units, activation=None, use_bias=layer.use_bias,
                                  name=name)
    if isinstance(layer, Conv2D):
        return keras.layers.Conv2D(layer.filters, layer.kernel, strides=layer.stride,
                                   padding=layer.padding, activation=None,
                                   use_bias=layer.use_bias, data_format=_CHANNELS_LAST,
                                   name=name)
    if isinstance(layer, MaxPool2D):
        return keras.layers.MaxPooling2D(layer.window, strides=layer.stride,
                                         padding=layer.padding,
                                         data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, AvgPool2D):  # TF's "same" average already excludes the padding
        return keras.layers.AveragePooling2D(layer.window, strides=layer.stride,
                                             padding=layer.padding,
                                             data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, Flatten):
        return keras.layers.Flatten(data_format=_CHANNELS_LAST, name=name)
    if isinstance(layer, Dropout):
        # The seed is replaced by configure(); a fixed one keeps builds reproducible.
        return keras.layers.Dropout(layer.rate, seed=0, name=name)
    if isinstance(layer, BatchNorm):
        return keras.layers.BatchNormalization(axis=-1, momentum=layer.momentum,
                                               epsilon=layer.epsilon, name=name)
    if isinstance(layer, Activation):
        return activation_layer(str(layer.activation), name)
    raise NotSupportedError(
        f"the keras backend does not support layer type {type(layer).__name__!r}"
    )


def build_network(spec: Sequential) -> BuiltNetwork:
    """Create (and build) the Keras layers for ``spec``; weights are set by the caller."""
    taken = {spec.input.layer_name} | {ls.name for ls in spec.layer_shapes}
    layers: list[Any] = []
    owners: list[tuple[str, Any]] = []  # (spec layer name, keras layer holding its params)
    for ls in spec.layer_shapes:
        main = sequence_layer(ls.layer, ls.name, ls.output_shape)
        if main is None:
            main = _main_layer(ls.layer, ls.name)
        layers.append(main)
        owners.append((ls.name, main))
        act = getattr(ls.layer, "activation", "linear")
        if isinstance(ls.layer, (Dense, Conv2D, *LINEAR_WITH_ACTIVATION)) and act != "linear":
            layers.append(activation_layer(str(act), _unique(f"{ls.name}_{act}", taken)))
    # Input is float32 for any float dtype: the model computes in float32 and the backend
    # casts inputs on the way in. Integer Inputs (Embedding indices) stay integer.
    in_dtype = input_dtype(spec)
    inputs = keras.Input(shape=spec.input_shape, dtype=in_dtype, name=spec.input.layer_name)
    model = keras.Sequential([inputs, *layers], name=spec.name)

    last = spec.layer_shapes[-1].layer if spec.layer_shapes else None
    has_head = (isinstance(last, (Dense, Conv2D, Activation, *LINEAR_WITH_ACTIVATION))
                and getattr(last, "activation", "linear") != "linear")
    body, head = (layers[:-1], layers[-1]) if has_head else (layers, None)

    params: dict[str, Any] = {}
    for spec_name, layer in owners:
        by_name = {v.name: v for v in layer.weights}
        for pname in _param_names(spec, spec_name):
            params[f"{spec_name}/{pname}"] = by_name[pname]
    missing = [k for k in spec.params if k not in params]
    if missing:  # pragma: no cover - a Keras naming change would land here
        raise NotSupportedError(f"keras layers expose no variables for {missing}")
    params = {k: params[k] for k in spec.params}
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    return BuiltNetwork(model, body, head, params, dropouts, in_dtype)


def _param_names(spec: Sequential, layer_name: str) -> list[str]:
    prefix = layer_name + "/"
    return [k[len(prefix):] for k in spec.params if k.startswith(prefix)]
