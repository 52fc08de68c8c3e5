"""A unidl ``Graph`` as a Keras functional model.

Each spec layer becomes one Keras layer object, made by its kind's keras builder (plus its
separate activation layer, see ``network``), called once per graph node, so a shared layer
shares its variables exactly as the spec says. Two functional models are made from the same layers:

- ``model``: inputs -> outputs, what ``export`` saves and what a user continues with;
- ``forward_model``: inputs -> every output's pre-activation, then every output. Fused
  cross-entropies (``OutputLoss.logits_loss``) need the final layer's pre-activation,
  while a node reading an output tensor gets the activated value, as the spec means.

Integer Inputs feed an ``Embedding`` as integers; every other consumer reads one float32
cast of them, made by a ``keras.layers.Rescaling(1.0)`` (``cast(x) * 1 + 0``, exact). A
``keras.ops.cast`` node would do the same, but its name is drawn from a process-wide
counter ("cast", "cast_1", ...) that can collide with a spec layer's name, which a
functional model refuses; a layer takes the unique name given to it, and a ``.keras``
file holding it loads in plain Keras.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from unidl.spec import Graph, Merge
from unidl.spec.graph import GraphNode

from ._runtime import keras, tf
from .activations import activation_layer
from .builders import BuildContext, applies_activation, build_layer
from .network import (
    ForwardResult,
    dropout_layers,
    map_params,
    separate_activation,
    unique_name,
)

__all__ = ["BuiltGraph", "build_graph"]


@dataclass
class BuiltGraph:
    """A ``Graph`` as Keras functional models; satisfies ``network.Network``."""

    model: Any
    forward_model: Any
    params: dict[str, Any]
    dropouts: list[Any]
    input_dtypes: tuple[str, ...]

    def forward(self, xs: tuple[Any, ...], training: bool) -> ForwardResult:
        xs = tuple(tf.cast(x, d) for x, d in zip(xs, self.input_dtypes, strict=True))
        res = self.forward_model(list(xs), training=training)
        k = len(res) // 2
        return tuple(res[:k]), tuple(res[k:])


@dataclass
class _Built:
    """The Keras layers of one spec layer: the main one and its separate activation."""

    main: Any
    activation: Any | None


def _context(name: str, nodes: list[GraphNode], shapes: dict[str, Any]) -> BuildContext:
    """What a layer is built for: the shapes of its first call."""
    first = nodes[0]
    ins = tuple(shapes[ref] for ref in first.inputs)
    return BuildContext(name, ins[0], first.output_shape, ins)


def _make_layers(spec: Graph, taken: set[str]) -> dict[str, _Built]:
    """One set of Keras layers per spec layer, in ``spec.layers`` order; the names of
    separate activation layers are drawn outside ``taken`` (and added to it)."""
    calls: dict[str, list[GraphNode]] = defaultdict(list)
    shapes: dict[str, Any] = dict(zip(spec.input_names, spec.input_shapes, strict=True))
    for node in spec.nodes:
        calls[node.layer.layer_name].append(node)
        shapes[node.output] = node.output_shape
    built: dict[str, _Built] = {}
    for layer in spec.layers:
        name = layer.layer_name
        if name not in calls:  # an Input
            continue
        act = separate_activation(layer)
        built[name] = _Built(
            build_layer(layer, _context(name, calls[name], shapes)),
            None if act is None else activation_layer(act, unique_name(f"{name}_{act}",
                                                                       taken)))
    return built


def build_graph(spec: Graph) -> BuiltGraph:
    """Create (and build) the Keras layers and models for ``spec``; weights are set by the
    caller."""
    inputs = [build_layer(layer, BuildContext(layer.layer_name, shape, shape))
              for layer, shape in zip(spec.input_layers, spec.input_shapes, strict=True)]
    dtypes = tuple(str(x.dtype) for x in inputs)
    taken = {layer.layer_name for layer in spec.layers}
    built = _make_layers(spec, taken)
    tensors: dict[str, Any] = dict(zip(spec.input_names, inputs, strict=True))
    integer = {name for name, dtype in zip(spec.input_names, dtypes, strict=True)
               if dtype != "float32"}
    floats: dict[str, Any] = {}  # float32 casts of integer inputs, made once when needed

    def as_float(ref: str) -> Any:
        if ref in integer and ref not in floats:
            floats[ref] = keras.layers.Rescaling(
                1.0, 0.0, dtype="float32", name=unique_name(f"{ref}_float32", taken)
            )(tensors[ref])
        return floats.get(ref, tensors[ref])

    pre: dict[str, Any] = {}  # tensor -> the pre-activation of the layer that made it
    for node in spec.nodes:
        args = [tensors[ref] if node.layer.takes_integers else as_float(ref)
                for ref in node.inputs]
        b = built[node.layer.layer_name]
        z = b.main(args if isinstance(node.layer, Merge) else args[0])
        if b.activation is not None:
            pre[node.output] = z
            z = b.activation(z)
        elif node.layer.final_activation != "linear" and applies_activation(node.layer):
            pre[node.output] = args[0]  # an Activation layer: its input is the logits
        tensors[node.output] = z
    outputs = [tensors[name] for name in spec.output_names]
    pres = [pre.get(name, tensors[name]) for name in spec.output_names]
    model = keras.Model(inputs=inputs if len(inputs) > 1 else inputs[0],
                        outputs=outputs if len(outputs) > 1 else outputs[0], name=spec.name)
    forward_model = keras.Model(inputs=inputs, outputs=[*pres, *outputs],
                                name=f"{spec.name}_forward")
    params = map_params(spec, ((name, b.main) for name, b in built.items()))
    return BuiltGraph(model, forward_model, params,
                      dropout_layers(b.main for b in built.values()), dtypes)
