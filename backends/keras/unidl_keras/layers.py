"""Spec layers -> Keras layers, with the hyper-parameters unidl fixes passed explicitly.

Dense/Conv2D are built linear and followed by their own activation layer. Besides making
every activation constant explicit, this exposes the pre-activation of the last layer,
which a fused cross-entropy needs (``TrainingSetup.logits_loss``). The graph is the same op
sequence Keras would run for ``Dense(activation=...)``, so it costs nothing.

:func:`build_network` builds a ``Sequential``; ``graph.build_graph`` builds a ``Graph``
from the same layer constructors. Both give a :class:`Network`, all ``KerasModel`` uses.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

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
from unidl.spec.layers import Layer, Shape
from unidl.spec.serialize import ModelSpec

from ._runtime import keras, tf
from .dropout import SeededDropout
from .layers_merge import MERGE_LAYER_KINDS
from .layers_seq import (
    LINEAR_WITH_ACTIVATION,
    SEQUENCE_LAYER_KINDS,
    input_dtype,
    sequence_layer,
)

__all__ = ["LAYER_KINDS", "BuiltNetwork", "ForwardResult", "Network", "activation_layer",
           "build_network", "layer_for", "map_params", "separate_activation", "unique_name"]

#: The spec layer kinds the backend implements (what it declares).
LAYER_KINDS = frozenset(("Input", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten",
                         "Dropout", "BatchNorm", "Activation")) | SEQUENCE_LAYER_KINDS \
    | MERGE_LAYER_KINDS

#: ``(pre-activations, outputs)``, one tensor each per model output.
ForwardResult = tuple[tuple[Any, ...], tuple[Any, ...]]

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


class Network(Protocol):
    """A spec built as Keras layers, as the model and its training use it.

    ``model`` is the native Keras model (what ``export`` saves); ``params`` maps canonical
    names to Keras variables in ``spec.params`` order; ``dropouts`` lists every Dropout
    layer once, in a stable order (each gets its own seeded stream); ``input_dtypes``
    is what each input is computed in (float32, or an integer Input's dtype).
    """

    @property
    def model(self) -> Any: ...

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def dropouts(self) -> list[Any]: ...

    @property
    def input_dtypes(self) -> tuple[str, ...]: ...

    def forward(self, xs: tuple[Any, ...], training: bool) -> ForwardResult:
        """The pre-activation of each output's final layer and the outputs themselves (the
        same tensor where the final layer has no separate activation)."""
        ...


@dataclass
class BuiltNetwork:
    """A ``Sequential`` as a ``keras.Sequential``; satisfies :class:`Network`.

    ``body`` ends with the pre-activation of the model's output; ``head`` (or None) is the
    final activation layer, so ``outputs = head(body(x))``.
    """

    model: Any
    body: list[Any]
    head: Any | None
    params: dict[str, Any]
    dropouts: list[Any]
    input_dtypes: tuple[str, ...]

    def forward(self, xs: tuple[Any, ...], training: bool) -> ForwardResult:
        z = tf.cast(xs[0], self.input_dtypes[0])  # float32, or an integer Input's dtype
        for layer in self.body:
            z = layer(z, training=training)
        out = z if self.head is None else self.head(z, training=training)
        return (z,), (out,)


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``... whichever is not in ``taken`` (then taken)."""
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def separate_activation(layer: Layer) -> str | None:
    """The activation built as its own layer after ``layer`` (Dense, Conv1D, Conv2D with a
    non-linear activation), or None."""
    act = str(getattr(layer, "activation", "linear"))
    if isinstance(layer, (Dense, Conv2D, *LINEAR_WITH_ACTIVATION)) and act != "linear":
        return act
    return None


def layer_for(layer: Layer, name: str, output_shape: Shape) -> Any:
    """The Keras layer for a (non-merge) spec layer, its activation left out (see
    :func:`separate_activation`); ``output_shape`` is its per-sample output shape."""
    main = sequence_layer(layer, name, output_shape)
    return _main_layer(layer, name) if main is None else main


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
        return SeededDropout(layer.rate, seed=0, name=name)
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
        main = layer_for(ls.layer, ls.name, ls.output_shape)
        layers.append(main)
        owners.append((ls.name, main))
        act = separate_activation(ls.layer)
        if act is not None:
            layers.append(activation_layer(act, unique_name(f"{ls.name}_{act}", taken)))
    # Input is float32 for any float dtype: the model computes in float32 and the backend
    # casts inputs on the way in. Integer Inputs (Embedding indices) stay integer.
    in_dtype = input_dtype(spec.input)
    inputs = keras.Input(shape=spec.input_shape, dtype=in_dtype, name=spec.input.layer_name)
    model = keras.Sequential([inputs, *layers], name=spec.name)

    last = spec.layer_shapes[-1].layer if spec.layer_shapes else None
    has_head = (isinstance(last, (Dense, Conv2D, Activation, *LINEAR_WITH_ACTIVATION))
                and getattr(last, "activation", "linear") != "linear")
    body, head = (layers[:-1], layers[-1]) if has_head else (layers, None)

    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    return BuiltNetwork(model, body, head, map_params(spec, owners), dropouts, (in_dtype,))


def map_params(spec: ModelSpec, owners: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Canonical names -> the Keras variables of the layers that own them, in
    ``spec.params`` order; ``owners`` pairs each spec layer name with its Keras layer."""
    by_layer = {name: {v.name: v for v in layer.weights} for name, layer in owners}
    params: dict[str, Any] = {}
    for key in spec.params:
        layer_name, _, pname = key.rpartition("/")  # parameter names hold no "/"
        params[key] = by_layer.get(layer_name, {}).get(pname)
    missing = [k for k, v in params.items() if v is None]
    if missing:  # pragma: no cover - a Keras naming change would land here
        raise NotSupportedError(f"keras layers expose no variables for {missing}")
    return params
