"""A spec's layers as Keras layers: the :class:`Network` a ``KerasModel`` runs.

Every spec layer is built by the keras builder registered for its kind (see
``unidl_keras.builders``); a layer with an ``activation`` (``final_activation`` not
``"linear"``) is built linear and followed by its own activation layer, which makes every
activation constant explicit and exposes the pre-activation of the last layer, which a
fused cross-entropy needs (``TrainingSetup.logits_loss``).

:func:`build_network` builds a ``Sequential``; ``graph.build_graph`` builds a ``Graph``
from the same builders. Both give a :class:`Network`, all ``KerasModel`` uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from unidl.errors import NotSupportedError
from unidl.spec import Sequential
from unidl.spec.layers import Layer
from unidl.spec.serialize import ModelSpec

from ._runtime import keras, tf
from .activations import activation_layer
from .builders import BuildContext, applies_activation, build_layer

__all__ = ["BuiltNetwork", "ForwardResult", "Network", "build_network", "dropout_layers",
           "map_params", "separate_activation", "unique_name"]

#: ``(pre-activations, outputs)``, one tensor each per model output.
ForwardResult = tuple[tuple[Any, ...], tuple[Any, ...]]


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
        same tensor where the final layer has no activation)."""
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
    """The activation the backend applies as its own layer after ``layer``'s (any kind
    with a non-linear ``final_activation`` whose builder does not apply it), or None."""
    act = layer.final_activation
    if act == "linear" or applies_activation(layer):
        return None
    return act


def dropout_layers(layers: Iterable[Any]) -> list[Any]:
    """The Dropout layers among ``layers`` (each one's seed stream restarts per epoch)."""
    return [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]


def build_network(spec: Sequential) -> BuiltNetwork:
    """Create (and build) the Keras layers for ``spec``; weights are set by the caller."""
    taken = {spec.input.layer_name} | {ls.name for ls in spec.layer_shapes}
    layers: list[Any] = []
    owners: list[tuple[str, Any]] = []  # (spec layer name, keras layer holding its params)
    shape = spec.input_shape
    for ls in spec.layer_shapes:
        main = build_layer(ls.layer, BuildContext(ls.name, shape, ls.output_shape))
        shape = ls.output_shape
        layers.append(main)
        owners.append((ls.name, main))
        act = separate_activation(ls.layer)
        if act is not None:
            layers.append(activation_layer(act, unique_name(f"{ls.name}_{act}", taken)))
    inputs = build_layer(spec.input, BuildContext(spec.input.layer_name, spec.input_shape,
                                                  spec.input_shape))
    model = keras.Sequential([inputs, *layers], name=spec.name)

    last = spec.layer_shapes[-1].layer if spec.layer_shapes else None
    has_head = last is not None and last.final_activation != "linear"
    body, head = (layers[:-1], layers[-1]) if has_head else (layers, None)
    return BuiltNetwork(model, body, head, map_params(spec, owners), dropout_layers(layers),
                        (str(inputs.dtype),))


def map_params(spec: ModelSpec, owners: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Canonical names -> the Keras variables of the layers that own them, in
    ``spec.params`` order; ``owners`` pairs each spec layer name with its Keras layer."""
    by_layer = {name: {v.name: v for v in layer.weights} for name, layer in owners}
    params: dict[str, Any] = {}
    for key in spec.params:
        layer_name, _, pname = key.rpartition("/")  # parameter names hold no "/"
        params[key] = by_layer.get(layer_name, {}).get(pname)
    missing = [k for k, v in params.items() if v is None]
    if missing:
        layer_name = missing[0].rpartition("/")[0]
        found = sorted(by_layer.get(layer_name, {}))
        raise NotSupportedError(
            f"the keras layer built for {layer_name!r} has no variable named "
            f"{missing[0].rpartition('/')[2]!r} (it has {found or 'none'}); a layer builder "
            "must create each canonical parameter with add_weight(name=<canonical name>, "
            "shape=<canonical shape>)")
    return params
