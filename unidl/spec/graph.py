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

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import SpecError
from .layers import Activation, Conv2D, Dense, Input, Layer, ParamInfo, Shape
from .layers_1d import Conv1D
from .layers_shape import Embedding
from .merge import Merge
from .naming import assign_names
from .summary import format_summary

__all__ = ["Graph", "GraphNode", "SymbolicTensor", "call_layer"]

_SEQ = itertools.count()


@dataclass(frozen=True, eq=False)
class SymbolicTensor:
    """The (not yet computed) output of a layer call: its per-sample shape and dtype.

    ``seq`` orders creation: a tensor is always made after its inputs, so sorting by
    ``seq`` is a topological order, and a shared layer's calls keep the order they were
    written in.
    """

    layer: Layer
    inputs: tuple[SymbolicTensor, ...]
    shape: Shape
    dtype: str = "float32"
    seq: int = field(default_factory=lambda: next(_SEQ))

    def __repr__(self) -> str:
        name = getattr(self.layer, "name", None)
        label = f"{self.layer.kind} {name!r}" if name else self.layer.kind
        return f"<SymbolicTensor from {label}, shape {(None, *self.shape)}, {self.dtype}>"


def _input_tensor(layer: Input) -> SymbolicTensor:
    """The one tensor of an Input object (kept on it, so an Input used twice is one graph
    input, and it lives exactly as long as the Input)."""
    tensor: SymbolicTensor | None = layer.__dict__.get("_tensor")
    if tensor is None:
        tensor = SymbolicTensor(layer, (), layer.shape, layer.dtype)
        object.__setattr__(layer, "_tensor", tensor)  # not a field: eq/config ignore it
    return tensor


def _as_tensor(value: object, where: str) -> SymbolicTensor:
    if isinstance(value, SymbolicTensor):
        return value
    if isinstance(value, Input):
        return _input_tensor(value)
    hint = ""
    if isinstance(value, Layer):
        hint = f"; call it on a tensor first, e.g. {value.kind}(...)(x)"
    elif hasattr(value, "shape"):
        hint = "; layers are called on symbolic tensors (unidl.Input or a layer's output), " \
               "not on data"
    raise SpecError(f"expected a symbolic tensor (unidl.Input or a layer's output), got "
                    f"{type(value).__name__}{hint}", where)


def _fmt(shape: Shape) -> str:
    return str((None, *shape))


def call_layer(layer: Layer, inputs: object) -> SymbolicTensor:
    """``layer(inputs)``: validate the call and infer the output's shape."""
    where = f"{layer.kind}({getattr(layer, 'name', None) or ''})"
    if isinstance(layer, Input):
        raise SpecError("an Input is not called; use it directly as a tensor, e.g. "
                        "unidl.Dense(8)(unidl.Input((4,)))", where)
    if isinstance(layer, Merge):
        if not isinstance(inputs, (list, tuple)):
            raise SpecError(f"takes a list of tensors, e.g. unidl.{layer.kind}()([a, b])",
                            where)
        tensors = tuple(_as_tensor(t, f"{where} input {i}") for i, t in enumerate(inputs))
        try:
            shape = layer.merge_shape(tuple(t.shape for t in tensors))
        except SpecError as e:
            raise SpecError(e.message, where) from None
        return SymbolicTensor(layer, tensors, shape)
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != 1:
            raise SpecError(f"takes one tensor, got a list of {len(inputs)}; join several "
                            "with unidl.Concatenate()([...]) first", where)
        inputs = inputs[0]
    tensor = _as_tensor(inputs, where)
    if isinstance(layer, Embedding) and not tensor.dtype.startswith("int"):
        raise SpecError("takes integer indices: feed it unidl.Input(shape, dtype='int64') "
                        f"(got a {tensor.dtype} tensor)", where)
    try:
        shape = layer.output_shape(tensor.shape)
    except SpecError as e:
        raise SpecError(f"{e.message} (called on {_fmt(tensor.shape)})", where) from None
    return SymbolicTensor(layer, (tensor,), shape)


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
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"must be a non-empty string, got {self.name!r}", "Graph.name")
        ins = [_as_tensor(v, f"Graph.inputs[{i}]")
               for i, v in enumerate(_tensor_list(self.inputs, "Graph.inputs"))]
        outs = [_as_tensor(v, f"Graph.outputs[{i}]")
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
        self._resolve(ins, outs, [t for t in tensors if not isinstance(t.layer, Input)])

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
                        f"shared layer {layer.layer_name!r} is called on {_fmt(first[0])} and "
                        f"on {_fmt(node.input_shape)}, which need different weights; a "
                        "shared layer needs inputs of one shape", f"Graph node {ref!r}")
            nodes.append(node)
        object.__setattr__(self, "inputs", tuple(refs[id(t)] for t in ins))
        object.__setattr__(self, "outputs", tuple(refs[id(t)] for t in outs))
        object.__setattr__(self, "layers", named)
        object.__setattr__(self, "nodes", tuple(nodes))

    # -- structure ------------------------------------------------------------------
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
        return tuple(_final_activation(makers[name]) for name in self.output_names)

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

    # -- serialisation (see unidl.spec.serialize) -------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from .serialize import model_to_dict
        return model_to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        from .serialize import to_json
        return to_json(self, indent)

    def to_yaml(self) -> str:
        from .serialize import to_yaml
        return to_yaml(self)


def _label(t: SymbolicTensor) -> str:
    name = getattr(t.layer, "name", None)
    return repr(name) if name else "(unnamed)"


def _final_activation(layer: Layer) -> str:
    if isinstance(layer, (Dense, Conv1D, Conv2D, Activation)):
        return str(layer.activation)
    return "linear"
