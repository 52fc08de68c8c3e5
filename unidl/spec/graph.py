"""Functional models: layers called on symbolic tensors, and :class:`Graph`.

Calling a layer spec on a symbolic tensor (or on an :class:`~unidl.Input`) records the
call and returns a new symbolic tensor with its shape already inferred, so a shape error
surfaces at the line that makes it::

    city = unidl.Input((1,), dtype="int64", name="city")
    num = unidl.Input((4,), name="num")
    e = unidl.Flatten()(unidl.Embedding(10, 3)(city))
    h = unidl.Dense(16, activation="relu")(unidl.Concatenate()([e, num]))
    spec = unidl.Graph(inputs=[city, num], outputs=unidl.Dense(3)(h))

A :class:`Graph` is then plain data, like :class:`~unidl.Sequential`: named layers, nodes
(one per layer call; a layer called twice shares its weights) and the input and output
names. Every tensor is referred to by the name of the layer call that made it: the layer
name for its first call, ``"<layer>@<k>"`` for its k-th further call.

Integer inputs keep their dtype only for an ``Embedding``; any other layer receives them
as float32.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import SpecError
from .bounds import MAX_LAYERS, check_model_size, check_name, largest
from .config import custom_kinds, spec_header
from .layers import Input, Layer, Merge, ParamInfo, Shape, SymbolicTensor
from .layers.base import as_tensor
from .naming import assign_names
from .summary import format_summary

__all__ = ["Graph", "GraphNode", "SymbolicTensor"]


def _fmt(shape: Shape) -> str:
    return str((None, *shape))


@dataclass(frozen=True)
class GraphNode:
    """One layer call: the (named) layer, the tensors it reads and the one it makes."""

    layer: Layer
    inputs: tuple[str, ...]
    output: str
    input_shapes: tuple[Shape, ...]
    output_shape: Shape

    @property
    def input_shape(self) -> Shape:
        """The input shape of a single-input layer (what ``Layer.params`` takes)."""
        return self.input_shapes[0]


def _tensor_list(value: object, what: str) -> list[object]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise SpecError("is empty; give at least one tensor", what)
        return list(value)
    return [value]


def _reachable(outputs: list[SymbolicTensor]) -> list[SymbolicTensor]:
    """Every tensor the outputs depend on, in creation (= topological) order."""
    seen: dict[int, SymbolicTensor] = {}
    stack = list(outputs)
    while stack:
        t = stack.pop()
        if id(t) not in seen:
            seen[id(t)] = t
            stack.extend(t.inputs)
    return sorted(seen.values(), key=lambda t: t.seq)


@dataclass(frozen=True)
class Graph:
    """A model as a graph of layer calls, with named inputs and outputs.

    Build it from symbolic tensors, ``Graph(inputs=[a, b], outputs=y)`` (``outputs`` a
    tensor or a list of them), or from its dict/JSON/YAML form. Afterwards ``inputs`` holds
    the input names and ``outputs`` the output tensor names; ``layers`` (each once, named)
    and ``nodes`` (each call, in execution order) describe the rest. Feed data as a dict
    keyed by input name, a list in input order, or (one input) an array.
    """

    inputs: Any
    outputs: Any
    name: str = "graph"
    layers: tuple[Layer, ...] = field(init=False, repr=False)
    nodes: tuple[GraphNode, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, "Graph.name")
        ins = [as_tensor(v, f"Graph.inputs[{i}]")
               for i, v in enumerate(_tensor_list(self.inputs, "Graph.inputs"))]
        outs = [as_tensor(v, f"Graph.outputs[{i}]")
                for i, v in enumerate(_tensor_list(self.outputs, "Graph.outputs"))]
        for i, t in enumerate(ins):
            if not isinstance(t.layer, Input):
                raise SpecError(f"is the output of {t.layer.kind}, not an Input; graph inputs "
                                "are unidl.Input(...) tensors", f"Graph.inputs[{i}]")
            if any(t is u for u in ins[:i]):
                raise SpecError("lists the same Input twice", f"Graph.inputs[{i}]")
        for i, t in enumerate(outs):
            if isinstance(t.layer, Input):
                raise SpecError("is an Input; outputs must be computed by a layer",
                                f"Graph.outputs[{i}]")
        tensors = _reachable(outs)
        used_inputs = [t for t in tensors if isinstance(t.layer, Input)]
        for t in used_inputs:
            if not any(t is u for u in ins):
                raise SpecError(f"the outputs depend on Input {_label(t)} of shape "
                                f"{_fmt(t.shape)}, which is not in Graph.inputs; add it",
                                "Graph.inputs")
        for i, t in enumerate(ins):
            if not any(t is u for u in used_inputs):
                raise SpecError(f"Input {_label(t)} is not connected to any output; remove "
                                "it or use it", f"Graph.inputs[{i}]")
        calls = [t for t in tensors if not isinstance(t.layer, Input)]
        if len(calls) > MAX_LAYERS:
            raise SpecError(f"has {len(calls):,} layer calls, more than the {MAX_LAYERS:,} a "
                            "model may have", "Graph")
        self._resolve(ins, outs, calls)
        check_model_size(self.count_params(), self.largest_activation, "Graph")

    def _resolve(self, ins: list[SymbolicTensor], outs: list[SymbolicTensor],
                 calls: list[SymbolicTensor]) -> None:
        """Name the layers and tensors and record the nodes (fields set once, here)."""
        distinct: dict[int, Layer] = {}
        for t in [*ins, *calls]:
            distinct.setdefault(id(t.layer), t.layer)
        named = assign_names(tuple(distinct.values()), "Graph.layers")
        renamed = dict(zip(distinct, named, strict=True))
        refs: dict[int, str] = {id(t): renamed[id(t.layer)].layer_name for t in ins}
        counts: dict[int, int] = {}
        first_params: dict[int, tuple[Shape, dict[str, ParamInfo]]] = {}
        nodes: list[GraphNode] = []
        for t in calls:
            layer = renamed[id(t.layer)]
            k = counts.get(id(t.layer), 0)
            counts[id(t.layer)] = k + 1
            ref = layer.layer_name if k == 0 else f"{layer.layer_name}@{k}"
            refs[id(t)] = ref
            in_shapes = tuple(u.shape for u in t.inputs)
            node = GraphNode(layer, tuple(refs[id(u)] for u in t.inputs), ref, in_shapes,
                             t.shape)
            if not isinstance(layer, Merge):
                params = layer.params(node.input_shape)
                first = first_params.setdefault(id(t.layer), (node.input_shape, params))
                if {k: p.shape for k, p in params.items()} != \
                        {k: p.shape for k, p in first[1].items()}:
                    raise SpecError(
                        f"shared layer '{layer.layer_name}' is called on {_fmt(first[0])} and "
                        f"on {_fmt(node.input_shape)}, which need different weights; a "
                        "shared layer needs inputs of one shape", f"Graph node '{ref}'")
            nodes.append(node)
        object.__setattr__(self, "inputs", tuple(refs[id(t)] for t in ins))
        object.__setattr__(self, "outputs", tuple(refs[id(t)] for t in outs))
        object.__setattr__(self, "layers", named)
        object.__setattr__(self, "nodes", tuple(nodes))

    # -- structure ------------------------------------------------------------------
    @cached_property
    def largest_activation(self) -> int:
        """Values in the largest per-sample tensor (an input or a layer call's output)."""
        return largest([*self.input_shapes, *(n.output_shape for n in self.nodes)])

    @property
    def input_names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = self.inputs
        return names

    @property
    def output_names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = self.outputs
        return names

    @cached_property
    def input_layers(self) -> tuple[Input, ...]:
        by_name = {layer.layer_name: layer for layer in self.layers}
        found = tuple(by_name[n] for n in self.input_names)
        assert all(isinstance(layer, Input) for layer in found)
        return found  # type: ignore[return-value]

    @property
    def input_shapes(self) -> tuple[Shape, ...]:
        return tuple(layer.shape for layer in self.input_layers)

    @cached_property
    def output_shapes(self) -> tuple[Shape, ...]:
        shapes = {n.output: n.output_shape for n in self.nodes}
        return tuple(shapes[name] for name in self.output_names)

    @cached_property
    def output_activations(self) -> tuple[str, ...]:
        """The activation each output ends with (``"linear"`` if none)."""
        makers = {n.output: n.layer for n in self.nodes}
        return tuple(makers[name].final_activation for name in self.output_names)

    @cached_property
    def params(self) -> dict[str, ParamInfo]:
        """Canonical parameters ``"<layer>/<param>"``, once per layer (shared layers
        included once), in execution order."""
        out: dict[str, ParamInfo] = {}
        for node in self.nodes:
            if isinstance(node.layer, Merge) or "@" in node.output:
                continue
            for pname, info in node.layer.params(node.input_shape).items():
                out[f"{node.layer.layer_name}/{pname}"] = info
        return out

    def count_params(self, trainable_only: bool = False) -> int:
        return sum(math.prod(p.shape) for p in self.params.values()
                   if p.trainable or not trainable_only)

    def consumers(self, tensor: str) -> tuple[GraphNode, ...]:
        """The nodes that read ``tensor``."""
        return tuple(n for n in self.nodes if tensor in n.inputs)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    # -- presentation -----------------------------------------------------------------
    def summary(self) -> str:
        """A table of layer calls, output shapes, parameter counts and inputs."""
        rows = [(f"{layer.layer_name} (Input)", _fmt(layer.shape), "0", "")
                for layer in self.input_layers]
        for node in self.nodes:
            n = 0 if isinstance(node.layer, Merge) or "@" in node.output else sum(
                math.prod(p.shape) for p in node.layer.params(node.input_shape).values())
            rows.append((f"{node.output} ({node.layer.kind})", _fmt(node.output_shape),
                         f"{n:,}", ", ".join(node.inputs)))
        return format_summary(self.name, ("Layer (type)", "Output shape", "Param #",
                                          "Connected to"), rows, self.count_params(),
                              self.count_params(trainable_only=True),
                              f"Outputs: {', '.join(self.output_names)}")

    # -- serialisation (read back with unidl.spec.from_dict / from_json / from_yaml) -----
    def to_dict(self) -> dict[str, Any]:
        return {**spec_header("Graph", self.name),
                "layers": [layer.to_config() for layer in self.layers],
                "nodes": [{"layer": n.layer.layer_name, "inputs": list(n.inputs)}
                          for n in self.nodes],
                "inputs": list(self.input_names),
                "outputs": list(self.output_names),
                **custom_kinds(self.layers)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _label(t: SymbolicTensor) -> str:
    name = getattr(t.layer, "name", None)
    return repr(name) if name else "(unnamed)"


