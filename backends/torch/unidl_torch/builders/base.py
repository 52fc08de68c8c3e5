"""The types of the torch builder contract and the lookup of a kind's builder.

See :mod:`unidl_torch.builders` for the contract itself. This module holds what every
builder module shares: :class:`BuildContext` (what a layer builder is told),
:class:`TorchLayer` (a layer kind's module, weight mapping and layout, registered as one
object), :class:`Weight` (one canonical parameter's torch attribute and converters), the
:func:`builds` decorator the built-in layer builders use, and :func:`layer_builder`, which
finds the builder of a layer and raises :class:`~unidl.NotSupportedError` when there is
none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy.typing as npt
import torch
from torch import nn

from unidl import BackendError, NotSupportedError
from unidl.spec import builder_for, register_builder
from unidl.spec.layers import Layer, Shape

__all__ = [
    "BACKEND",
    "BuildContext",
    "Convert",
    "Fn",
    "Layout",
    "TorchLayer",
    "Weight",
    "build_module",
    "builds",
    "layer_builder",
    "same",
    "transpose",
]

#: The backend name builders are registered under.
BACKEND = "torch"

Array = npt.NDArray[Any]
Convert = Callable[[Array], Array]
Fn = Callable[[torch.Tensor], torch.Tensor]
#: Where a layer runs inside a network (see :attr:`TorchLayer.layout`).
Layout = Literal["channels_last", "channels_first", "any"]
B = TypeVar("B", bound=Callable[..., nn.Module])


def same(a: Array) -> Array:
    """The identity converter: the torch tensor has the canonical layout."""
    return a


def transpose(a: Array) -> Array:
    """A 2-D canonical kernel (in, out) <-> torch's (out, in); its own inverse."""
    return a.T


@dataclass(frozen=True)
class BuildContext:
    """What a layer builder is told besides the layer spec.

    ``input_shape`` / ``output_shape``: the layer's per-sample shapes (channels-last, no
    batch dimension); ``input_shapes``: every input's shape (several for a merge; the first
    is ``input_shape``); ``device``: where the module's tensors must live.
    ``channels_first``: the module will receive (and must return) a channels-first
    (N, C, H, W) tensor; only ever True for a :class:`TorchLayer` whose ``layout`` is not
    ``"channels_last"``. ``generator``: the model's seeded random generator, for layers that
    draw random numbers in training (dropout masks); reseeded by the core's seed each epoch.
    ``name``: the spec layer's name (the module is registered under it where torch allows).
    """

    input_shape: Shape
    output_shape: Shape
    device: torch.device
    input_shapes: tuple[Shape, ...] = ()
    channels_first: bool = False
    generator: torch.Generator | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.input_shapes:
            object.__setattr__(self, "input_shapes", (self.input_shape,))


@dataclass(frozen=True)
class Weight:
    """Where one canonical parameter lives in a built module: the tensor attribute
    ``attr``, and the converters from the canonical (Keras) layout to the tensor's and
    back."""

    attr: str
    to_torch: Convert = same
    to_canonical: Convert = same


@dataclass(frozen=True)
class TorchLayer:
    """A layer kind on torch, in one place: how to build its module, where its weights
    live, and which layout it runs in.

    ``build(layer, ctx)`` returns the ``nn.Module``. ``weights`` maps a canonical parameter
    name to its :class:`Weight`; a parameter it leaves out is the module attribute of the
    same name, in the canonical layout. ``layout``:

    - ``"channels_last"`` (the default): the module takes and returns channels-last tensors;
    - ``"channels_first"``: on a 2-D image (per-sample rank 3) the module takes and returns
      (N, C, H, W) — convolutions and pools, which torch's kernels want that way; a network
      keeps a run of such layers channels-first and permutes once at each end (on any
      other input rank the module sees channels-last tensors);
    - ``"any"``: the module works in whichever layout it is handed (``ctx.channels_first``
      says which) and keeps it, or returns a per-sample vector, the same in both (dropout,
      batch normalisation, global pools).

    A ``TorchLayer`` is called like the plain function a user registers, so both are
    builders to :func:`unidl.register_builder`.
    """

    build: Callable[[Any, BuildContext], nn.Module]
    weights: Mapping[str, Weight] = field(default_factory=dict)
    layout: Layout = "channels_last"

    def __call__(self, layer: Any, ctx: BuildContext) -> nn.Module:
        return self.build(layer, ctx)

    def weight(self, param: str) -> Weight:
        """The :class:`Weight` of the canonical parameter ``param``."""
        found = self.weights.get(param)
        return Weight(param) if found is None else found

    def channels_first(self, input_shape: Shape) -> bool:
        """Whether the module wants (N, C, H, W) tensors for this input shape."""
        return self.layout == "channels_first" and len(input_shape) == 3


def builds(kind: type[Layer], *, weights: Mapping[str, Weight] | None = None,
           layout: Layout = "channels_last") -> Callable[[B], B]:
    """Decorator: register the decorated ``build(layer, ctx)`` for ``kind`` as a
    :class:`TorchLayer` with these ``weights`` and ``layout`` (through
    :func:`unidl.register_builder`, the call a user's own kinds use)."""
    def add(build: B) -> B:
        register_builder(kind, BACKEND, TorchLayer(build, dict(weights or {}), layout))
        return build
    return add


def layer_builder(layer: Layer) -> TorchLayer:
    """The :class:`TorchLayer` registered for ``layer``'s kind (a plain function is wrapped:
    canonical names and layout, channels-last), or a NotSupportedError naming the kind."""
    builder = builder_for("layer", layer.kind, BACKEND)
    if builder is None:
        name = getattr(layer, "name", None)
        raise NotSupportedError(
            f"the torch backend has no builder for layer kind {layer.kind!r} (layer "
            f"{name!r}); register one with unidl.register_builder({type(layer).__name__}, "
            "'torch', build) where build(layer, ctx) returns a torch.nn.Module (see "
            "unidl_torch.builders)")
    if isinstance(builder, TorchLayer):
        return builder
    return TorchLayer(_on_device(builder))  # type: ignore[arg-type]


def _on_device(build: Callable[[Any, BuildContext], nn.Module]
               ) -> Callable[[Any, BuildContext], nn.Module]:
    """A user's builder whose module is moved to ``ctx.device`` (a no-op when it already
    lives there)."""
    def on_device(layer: Any, ctx: BuildContext) -> nn.Module:
        module = build(layer, ctx)
        return module.to(ctx.device) if isinstance(module, nn.Module) else module
    return on_device


def build_module(builder: TorchLayer, layer: Layer, ctx: BuildContext) -> nn.Module:
    """The module ``builder`` builds for ``layer`` in ``ctx``, checked to be one."""
    module = builder(layer, ctx)
    if not isinstance(module, nn.Module):
        raise BackendError(f"the torch builder of layer kind {layer.kind!r} returned "
                           f"{type(module).__name__}, not a torch.nn.Module")
    return module
