"""Canonical (Keras layout) weights <-> the live tensors of a built network.

Each layer's builder says where its canonical parameters live
(:class:`~unidl_torch.builders.TorchLayer` ``weights``: the module attribute and the
converters both ways; by default the attribute of the canonical name, canonical layout).
The slots are checked once, at build: a builder whose module lacks a parameter, holds it in
another shape, or holds a trainable one as a buffer (or the reverse) is a NotSupportedError
naming the layer, not a wrong model later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from unidl import NotSupportedError
from unidl.spec import Graph, Sequential
from unidl.spec.layers import Layer, Shape

from ..builders import TorchLayer

__all__ = ["Slot", "graph_slots", "layer_slots", "slots"]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Slot:
    """One canonical weight and the live torch tensor holding it."""

    name: str
    tensor: torch.Tensor
    to_torch: Callable[[Array], Array]
    to_canonical: Callable[[Array], Array]

    @property
    def shape(self) -> tuple[int, ...]:
        """The canonical shape."""
        view = np.broadcast_to(np.float32(0), tuple(self.tensor.shape))  # no allocation
        return tuple(self.to_canonical(view).shape)

    def get(self) -> npt.NDArray[np.float32]:
        value = self.tensor.detach().to("cpu", copy=True).numpy()
        return np.ascontiguousarray(self.to_canonical(value), dtype=np.float32)

    def set(self, value: Array) -> None:
        src = torch.from_numpy(np.ascontiguousarray(self.to_torch(np.asarray(value)),
                                                    dtype=np.float32))
        with torch.no_grad():  # in place: the optimizer keeps pointing at the same tensors
            self.tensor.copy_(src)


def layer_slots(name: str, layer: Layer, in_shape: Shape, module: nn.Module,
                builder: TorchLayer) -> list[Slot]:
    """The slots of ``layer``'s canonical parameters in ``module``, checked."""
    out: list[Slot] = []
    for pname, info in layer.params(in_shape).items():
        weight = builder.weight(pname)
        where = f"layer {name!r} ({layer.kind}): its torch module"
        tensor = getattr(module, weight.attr, None)
        if not isinstance(tensor, torch.Tensor):
            held = [n for n, _ in module.named_parameters()] + [
                n for n, _ in module.named_buffers()]
            raise NotSupportedError(
                f"{where} has no tensor attribute {weight.attr!r} for the canonical "
                f"parameter {pname!r} (it holds {', '.join(held) or 'no tensors'}); a torch "
                "builder keeps each canonical parameter under its canonical name")
        if info.trainable != isinstance(tensor, nn.Parameter):
            want = "an nn.Parameter" if info.trainable else "a buffer (it is not trainable)"
            raise NotSupportedError(f"{where} must hold {pname!r} as {want}")
        slot = Slot(f"{name}/{pname}", tensor, weight.to_torch, weight.to_canonical)
        if slot.shape != tuple(info.shape):
            raise NotSupportedError(
                f"{where} holds {pname!r} in shape {slot.shape} (canonical layout) but the "
                f"layer's params() give {tuple(info.shape)}")
        out.append(slot)
    return out


def _slots_of(entries: list[tuple[str, Layer, Shape]], modules: Mapping[str, nn.Module],
              builders: Mapping[str, TorchLayer]) -> list[Slot]:
    return [slot for name, layer, shape in entries if name in modules
            for slot in layer_slots(name, layer, shape, modules[name], builders[name])]


class _Built(Protocol):
    """What :func:`slots` reads from a built network."""

    layer_modules: dict[str, nn.Module]
    layer_builders: dict[str, TorchLayer]


def slots(spec: Sequential, net: _Built) -> list[Slot]:
    """The slots of every canonical parameter of ``spec``, in ``spec.params`` order."""
    return _slots_of([(ls.name, ls.layer, ls.input_shape) for ls in spec.layer_shapes],
                     net.layer_modules, net.layer_builders)


def graph_slots(spec: Graph, net: _Built) -> list[Slot]:
    """The slots of every canonical parameter of ``spec``, in ``spec.params`` order: one
    set per layer, at its first call (later calls of a shared layer, ``"<layer>@k"``, use
    the same tensors)."""
    return _slots_of([(n.output, n.layer, n.input_shape) for n in spec.nodes
                      if n.output == n.layer.layer_name], net.layer_modules,
                     net.layer_builders)
