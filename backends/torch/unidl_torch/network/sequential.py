"""``SequentialNet``: a unidl ``Sequential`` as one torch module, and the layout plan that
keeps image layers channels-first.

unidl data is channels-last (N, H, W, C). torch's convolution and pooling kernels want
(N, C, H, W), so the network permutes once when a stretch of such layers starts (a layer
whose builder's layout is ``"channels_first"``, on an image) and permutes back when it ends:
before any layer that needs channels-last, and at the output. Layers of layout ``"any"``
(Dropout, Activation, BatchNorm, global 2-D pools) run inside the stretch in whichever layout
they are handed; a per-sample vector output ((N, C), the same in both) ends it. Flatten and
Reshape therefore see (H, W, C) order and weights stay portable. The permutes are views;
torch's kernels accept the resulting strides (they are torch's "channels_last" memory
format).

Every layer's module comes from its registered builder; the network applies the layer's
activation after the module (over dim 1 inside a channels-first stretch, for softmax).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from unidl.spec import Sequential

from ..activations import Fn, activation_fn
from ..builders import BuildContext, TorchLayer, build_module, layer_builder
from .layout import module_name, to_channels_first, to_channels_last, to_float

__all__ = ["SequentialNet"]


class SequentialNet(nn.Module):
    """A unidl ``Sequential`` as one torch module taking and returning channels-last tensors.

    ``pre(x)`` runs everything up to the final activation (the logits for a fused
    cross-entropy); ``head`` is that activation (``None`` when linear); ``forward`` is both.
    Each spec layer is registered under its own name, so ``state_dict()`` keys read
    ``"<layer>.weight"`` (see :mod:`unidl_torch.export`). ``layer_modules`` and
    ``layer_builders`` map each layer name to its module and its builder.
    """

    def __init__(self, spec: Sequential, generator: torch.Generator | None,
                 device: torch.device) -> None:
        super().__init__()
        self.spec = spec
        self.layer_modules: dict[str, nn.Module] = {}
        self.layer_builders: dict[str, TorchLayer] = {}
        self.head: Fn | None = None  # set before any module, so none takes these names
        self._steps: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = ()
        steps: list[Callable[[torch.Tensor], torch.Tensor]] = []
        channels_first = False
        shapes = spec.layer_shapes
        head: Fn | None = None
        if spec.input.dtype.startswith("int") and not (
                shapes and shapes[0].layer.takes_integers):
            steps.append(to_float)  # integer inputs stay integer only for an Embedding
        for i, ls in enumerate(shapes):
            layer, last = ls.layer, i == len(shapes) - 1
            builder = layer_builder(layer)
            wants_first = builder.channels_first(ls.input_shape)
            # handed channels-first: when it wants that, or takes any layout in a stretch
            runs_first = wants_first or (channels_first and builder.layout == "any")
            if wants_first and not channels_first:
                steps.append(to_channels_first)
            elif channels_first and not runs_first:
                steps.append(to_channels_last)  # Permute, Flatten, Reshape, ... see (H, W, C)
            module = build_module(builder, layer, BuildContext(
                ls.input_shape, ls.output_shape, device, channels_first=runs_first,
                generator=generator, name=ls.name))
            channels_first = runs_first and len(ls.output_shape) > 1  # (N, C): either way
            self.add_module(module_name(ls.name, i + 1, self), module)
            self.layer_modules[ls.name] = module
            self.layer_builders[ls.name] = builder
            if not isinstance(module, nn.Identity):
                steps.append(module.forward)  # bound forward: no per-call hook machinery
            if last:  # the final activation runs apart, on the channels-last output
                head = activation_fn(layer.final_activation)
            else:
                act = activation_fn(layer.final_activation, 1 if channels_first else -1)
                if act is not None:
                    steps.append(act)
        if channels_first:
            steps.append(to_channels_last)
        self.head = head
        self._steps = tuple(steps)

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        for step in self._steps:
            x = step(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pre(x)
        return y if self.head is None else self.head(y)
