"""``GraphNet``: a unidl ``Graph`` (several inputs and outputs, shared layers, merges) as one
torch module.

The graph is compiled once into a flat list of steps ``(function, input slots)``; running it
appends each step's result to a list of tensors, so a forward pass is one Python loop with
no name lookups. Every layer's module comes from its registered builder
(:mod:`unidl_torch.builders`), as in ``SequentialNet``; a merge's module takes its inputs
as ``forward(*xs)``.

Layout: every tensor between two nodes is channels-last, as unidl's data. A node whose
builder's layout is ``"channels_first"`` (a 2-D convolution or pooling, on an image) permutes
its input to (N, C, H, W) and its result back. Both permutes are views: torch's kernels read
the permuted input as its ``channels_last`` memory format and return that format, so the
result permuted back is already a contiguous channels-last tensor (no copy either way).
Layers of layout ``"any"`` are handed the channels-last tensor (BatchNorm normalises it as
(N*H*W, C) rows, the same arithmetic as the channels-first kernel). (``SequentialNet`` keeps
whole stretches of image layers channels-first instead; in a graph a tensor may feed several
layers that want different layouts, so one layout between nodes keeps every node local.)

Activations run as steps of their own. For a graph output, the final activation is left
out of :meth:`GraphNet.pre` (whose results are then the logits a fused cross-entropy needs)
and kept in :attr:`GraphNet.heads`; a node that reads such an output tensor still receives
the activated value.

Shared layers: a layer is one module, registered once under its own name (so
``state_dict()`` and the canonical weight slots see one set of weights), and every call runs
that module. A call on inputs of another shape than the first call's (a shared "same"-padded
convolution on images of two sizes) gets a module of its own built for that shape whose
parameters and persistent buffers *are* the first module's tensors; such variants are not
registered (their tensors already are) but follow ``train()`` / ``eval()``.

Integer inputs reach a layer that takes integers (``Embedding``) as integer indices; every
other layer reads one float32 copy, made once per forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from unidl.spec import Graph, GraphNode, Shape

from ..activations import Fn, activation_fn
from ..builders import BuildContext, TorchLayer, build_module, layer_builder
from .layout import module_name, to_channels_first, to_channels_last, to_float

__all__ = ["GraphNet"]

Call = Callable[..., torch.Tensor]
_Net = TypeVar("_Net", bound="GraphNet")  # typing.Self needs Python 3.11


def _channels_first_call(forward: Fn) -> Fn:
    """``forward`` (a channels-first image op) on channels-last tensors."""
    def image_op(x: torch.Tensor) -> torch.Tensor:
        return to_channels_last(forward(to_channels_first(x)))
    return image_op


def _then(call: Call, act: Fn) -> Call:
    def activated(*xs: torch.Tensor) -> torch.Tensor:
        return act(call(*xs))
    return activated


def _tie(variant: nn.Module, owner: nn.Module) -> None:
    """Make ``variant`` hold ``owner``'s parameters and persistent buffers (the same tensor
    objects: one set of weights, updated by every call)."""
    for name, tensor in owner.state_dict(keep_vars=True).items():
        *path, attr = name.split(".")
        target = variant.get_submodule(".".join(path)) if path else variant
        setattr(target, attr, tensor)


class GraphNet(nn.Module):
    """A unidl ``Graph``: ``forward(*inputs)`` takes channels-last tensors in
    ``spec.input_names`` order and returns a tuple in ``spec.output_names`` order.

    ``pre(*inputs)`` returns the outputs before their final activations; ``heads`` holds
    those activations (``None`` where linear). ``layer_modules`` and ``layer_builders`` map
    each layer name to its module (the first call's) and its builder.
    """

    def __init__(self, spec: Graph, generator: torch.Generator | None,
                 device: torch.device) -> None:
        super().__init__()
        self.spec = spec
        self.layer_modules: dict[str, nn.Module] = {}
        self.layer_builders: dict[str, TorchLayer] = {}
        self._first_shapes: dict[str, tuple[Shape, ...]] = {}
        self._variants: list[nn.Module] = []
        self._steps: list[tuple[Call, tuple[int, ...]]] = []
        self._n_inputs = len(spec.input_names)
        # set before any module, so that none takes these names
        self.heads: tuple[Fn | None, ...] = ()
        self._outputs: tuple[int, ...] = ()
        self._release: tuple[tuple[int, ...], ...] = ()
        slots = {name: i for i, name in enumerate(spec.input_names)}
        floats: dict[str, int] = {}  # integer input -> its float32 copy
        for inp in spec.input_layers:
            name = inp.layer_name
            if inp.dtype.startswith("int") and any(
                    not n.layer.takes_integers for n in spec.consumers(name)):
                floats[name] = self._emit(to_float, (slots[name],))
        outputs = set(spec.output_names)
        positions = {layer.layer_name: i for i, layer in enumerate(spec.layers)}
        logits: dict[str, int] = {}
        heads: dict[str, Fn] = {}
        for node in spec.nodes:
            layer = node.layer
            ins = tuple(slots[t] if layer.takes_integers else floats.get(t, slots[t])
                        for t in node.inputs)
            call = self._call(node, positions[layer.layer_name], generator, device)
            act = activation_fn(layer.final_activation)
            if act is not None and node.output in outputs:  # split off the final activation
                logits[node.output] = ins[0] if call is None else self._emit(call, ins)
                heads[node.output] = act
                if spec.consumers(node.output):
                    slots[node.output] = self._emit(act, (logits[node.output],))
            elif call is None:
                slots[node.output] = ins[0] if act is None else self._emit(act, ins)
            else:
                slots[node.output] = self._emit(call if act is None else _then(call, act), ins)
        self._outputs = tuple(logits[n] if n in logits else slots[n] for n in spec.output_names)
        self.heads = tuple(heads.get(n) for n in spec.output_names)
        self._release = self._last_uses()

    def _last_uses(self) -> tuple[tuple[int, ...], ...]:
        """Per step, the slots no later step reads (and no output is): ``pre`` drops them
        there, so inference holds only the tensors still needed (in training autograd keeps
        what backward needs either way)."""
        last: dict[int, int] = {}
        for step, (_, ins) in enumerate(self._steps):
            for slot in ins:
                last[slot] = step
        release: list[list[int]] = [[] for _ in self._steps]
        for slot, step in last.items():
            if slot not in self._outputs:
                release[step].append(slot)
        return tuple(tuple(r) for r in release)

    def _emit(self, call: Call, ins: tuple[int, ...]) -> int:
        """Append a step; returns the slot its result will occupy."""
        self._steps.append((call, ins))
        return self._n_inputs + len(self._steps) - 1

    def _call(self, node: GraphNode, position: int, generator: torch.Generator | None,
              device: torch.device) -> Call | None:
        """The module call of a node, channels-last in and out, with the layer's activation
        left out; None for a module that is the identity (an ``Activation`` layer)."""
        name, layer = node.layer.layer_name, node.layer
        owner = self.layer_modules.get(name)
        if owner is not None and self._first_shapes[name] == node.input_shapes:
            module, builder = owner, self.layer_builders[name]
        else:
            builder = layer_builder(layer)
            ctx = BuildContext(node.input_shape, node.output_shape, device, node.input_shapes,
                               builder.channels_first(node.input_shape), generator, name)
            module = build_module(builder, layer, ctx)
            if owner is None:
                self.add_module(module_name(name, position, self), module)
                self.layer_modules[name] = module
                self.layer_builders[name] = builder
                self._first_shapes[name] = node.input_shapes
            else:
                _tie(module, owner)
                self._variants.append(module)
        if isinstance(module, nn.Identity):
            return None
        forward: Call = module.forward  # bound: no per-call hook machinery
        if builder.channels_first(node.input_shape):
            return _channels_first_call(forward)
        return forward

    def train(self: _Net, mode: bool = True) -> _Net:
        super().train(mode)
        for variant in self._variants:
            variant.train(mode)
        return self

    def pre(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        env: list[torch.Tensor | None] = list(xs)
        for (call, ins), release in zip(self._steps, self._release, strict=True):
            env.append(call(*[env[i] for i in ins]))
            for i in release:
                env[i] = None
        return tuple(env[i] for i in self._outputs)  # type: ignore[misc]

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(y if head is None else head(y)
                     for y, head in zip(self.pre(*xs), self.heads, strict=True))
