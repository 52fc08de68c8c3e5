"""A :class:`~unidl.Graph` from its dict form: the layer calls replayed in dependency order.

The file lists layers (each with its name), nodes ``{"layer": name, "inputs": [tensor,
...]}`` and the input and output tensor names. A tensor is named after the call that
makes it (``"dense"``, then ``"dense@1"`` for the layer's second call, in the order the
nodes list the calls). Nodes may be listed in any order; a reference to a tensor nothing
makes, and a cycle, are errors naming the node.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError, UnknownNameError
from .graph import Graph, SymbolicTensor
from .layers import Input, Layer, Merge

__all__ = ["graph_from_dict"]


def _names(value: object, path: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise SpecError("must be a tensor name or a non-empty list of them", path)
    return list(items)


def _node(config: object, i: int, layers: Mapping[str, Layer]) -> tuple[str, list[str]]:
    path = f"spec.nodes[{i}]"
    if not isinstance(config, dict) or set(config) - {"layer", "inputs"}:
        raise SpecError("must be a mapping {layer: NAME, inputs: [TENSOR, ...]}", path)
    name = config.get("layer")
    if not isinstance(name, str) or name not in layers:
        raise UnknownNameError("layer", name, layers, f"{path}.layer")
    if isinstance(layers[name], Input):
        raise SpecError(f"'{name}' is an Input; list it under spec.inputs, not as a node",
                        f"{path}.layer")
    return name, _names(config.get("inputs"), f"{path}.inputs")


def graph_from_dict(data: Mapping[str, Any], layers: list[Layer]) -> Graph:
    """Replay ``data["nodes"]`` on ``layers`` (already built from ``data["layers"]``)."""
    by_name: dict[str, Layer] = {}
    for i, layer in enumerate(layers):
        name = getattr(layer, "name", None)
        if name is None:
            raise SpecError("every layer of a Graph file needs a name (nodes refer to "
                            "layers by name)", f"spec.layers[{i}].name")
        if name in by_name:
            raise SpecError(f"duplicate layer name '{name}'", f"spec.layers[{i}].name")
        by_name[name] = layer
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise SpecError("must be a non-empty list of layer calls", "spec.nodes")
    nodes = [_node(c, i, by_name) for i, c in enumerate(raw_nodes)]

    # The tensor each node makes: the layer name, then "<layer>@k" for further calls.
    made: dict[str, int] = {}
    calls: dict[str, int] = {}
    for i, (name, _) in enumerate(nodes):
        k = calls.get(name, 0)
        calls[name] = k + 1
        made[name if k == 0 else f"{name}@{k}"] = i
    inputs = _names(data.get("inputs"), "spec.inputs")
    for j, name in enumerate(inputs):
        if not isinstance(by_name.get(name), Input):
            raise UnknownNameError("Input", name, [n for n, v in by_name.items()
                                                   if isinstance(v, Input)],
                                   f"spec.inputs[{j}]")
    known = set(made) | {n for n, v in by_name.items() if isinstance(v, Input)}
    for i, (_, refs) in enumerate(nodes):
        for j, ref in enumerate(refs):
            if ref not in known:
                raise UnknownNameError("tensor", ref, known, f"spec.nodes[{i}].inputs[{j}]")
    outputs = _names(data.get("outputs"), "spec.outputs")
    for j, ref in enumerate(outputs):
        if ref not in made:
            raise UnknownNameError("output tensor", ref, made, f"spec.outputs[{j}]")

    # Replay in dependency order (Kahn), keeping the file's order among ready nodes so a
    # shared layer's calls get the same tensor names back.
    tensors: dict[str, SymbolicTensor | Layer] = {
        n: v for n, v in by_name.items() if isinstance(v, Input)}
    produced = {i: ref for ref, i in made.items()}
    replayed: dict[str, int] = {}
    # each node waits for the distinct tensors it reads; the smallest ready index runs next
    waiting = [len({r for r in refs if r not in tensors}) for _, refs in nodes]
    readers: dict[str, list[int]] = {}
    for i, (_, refs) in enumerate(nodes):
        for r in set(refs) - set(tensors):
            readers.setdefault(r, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    done = 0
    while done < len(nodes):
        if not ready:
            pending = [i for i, w in enumerate(waiting) if w > 0]
            cycle = _cycle(pending, nodes, made)
            raise SpecError(f"the layer calls {' -> '.join(repr(produced[i]) for i in cycle)} "
                            "form a cycle; a graph must be acyclic", f"spec.nodes[{cycle[0]}]")
        i = heapq.heappop(ready)
        name, refs = nodes[i]
        k = replayed.get(name, 0)
        replayed[name] = k + 1
        if produced[i] != (name if k == 0 else f"{name}@{k}"):
            raise SpecError(f"the calls of shared layer '{name}' are not listed in the order "
                            "they run; list each call after the tensors it reads",
                            f"spec.nodes[{i}]")
        layer = by_name[name]
        args: list[Any] = [tensors[r] for r in refs]
        try:
            tensors[produced[i]] = layer(args if isinstance(layer, Merge) or len(args) > 1
                                         else args[0])
        except SpecError as e:
            raise SpecError(e.message, f"spec.nodes[{i}] ({name})") from None
        done += 1
        for j in readers.get(produced[i], ()):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    try:
        return Graph(inputs=[tensors[n] for n in inputs],
                     outputs=[tensors[r] for r in outputs], name=data.get("name", "graph"))
    except SpecError as e:
        if e.path == "Graph.name":
            raise SpecError(e.message, "spec.name") from None
        raise



def _cycle(pending: list[int], nodes: list[tuple[str, list[str]]],
           made: Mapping[str, int]) -> list[int]:
    """One cycle among the nodes that can never run, as node indices (first repeated)."""
    path = [pending[0]]
    while True:
        # every stuck node reads at least one tensor made by another stuck node
        nxt = next(made[r] for r in nodes[path[-1]][1] if made.get(r) in pending)
        if nxt in path:
            cycle = path[path.index(nxt):]
            return [*cycle, nxt]
        path.append(nxt)
