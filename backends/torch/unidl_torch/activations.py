"""The built-in activations' torch builders, with unidl's constants (not torch defaults),
and :func:`activation_fn`, which finds any activation's builder.

Each built-in is registered with :func:`unidl.register_builder` for its
:class:`~unidl.spec.ActivationKind`, as a user's own activation is (see
:mod:`unidl_torch.builders`). A :class:`TorchActivation` is the richer form built-ins use:
the function over the last axis, plus, for one that mixes the channels (softmax), the same
function over any given axis, so a channels-first stretch of image layers needs no permute.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unidl import NotSupportedError
from unidl.spec import ACTIVATION_KINDS, builder_for, register_builder
from unidl.spec.activations import LEAKY_RELU_SLOPE

__all__ = ["Fn", "TorchActivation", "activation_fn"]

Fn = Callable[[torch.Tensor], torch.Tensor]
_BACKEND = "torch"


@dataclass(frozen=True)
class TorchActivation:
    """An activation builder: ``fn`` over channels-last tensors (the last axis), and
    ``on_axis(dim)``, the function over channel axis ``dim``, for one that is not
    elementwise (None: the backend moves the channels last around ``fn``)."""

    fn: Fn
    on_axis: Callable[[int], Fn] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _softmax_on(dim: int) -> Fn:
    return functools.partial(torch.softmax, dim=dim)


_BUILTINS: dict[str, TorchActivation] = {
    "linear": TorchActivation(_identity),
    "relu": TorchActivation(torch.relu),
    "sigmoid": TorchActivation(torch.sigmoid),
    "tanh": TorchActivation(torch.tanh),
    "softmax": TorchActivation(_softmax_on(-1), _softmax_on),
    "gelu": TorchActivation(F.gelu),  # approximate="none": the exact erf form
    "leaky_relu": TorchActivation(functools.partial(F.leaky_relu,
                                                    negative_slope=LEAKY_RELU_SLOPE)),
    "elu": TorchActivation(F.elu),  # alpha 1.0
    "selu": TorchActivation(torch.selu),
    # beta 1; torch returns x above 20, within float32 of log1p(e^x)
    "softplus": TorchActivation(F.softplus),
    "swish": TorchActivation(F.silu),
}
for _name, _builder in _BUILTINS.items():
    register_builder(ACTIVATION_KINDS[_name], _BACKEND, _builder)


def _over_axis(fn: Fn, dim: int) -> Fn:
    """``fn`` (over the last axis) applied over axis ``dim``: a view moves it last."""
    def moved(x: torch.Tensor) -> torch.Tensor:
        return fn(x.movedim(dim, -1)).movedim(-1, dim)
    return moved


def activation_fn(name: str, channel_dim: int = -1) -> Fn | None:
    """The torch function of the activation ``name`` (or an alias); ``None`` for the
    identity (``linear``), a NotSupportedError naming it when torch has no builder for it.

    ``channel_dim`` is where the channels are in the tensor the function sees (an activation
    that is not elementwise runs over them: the last axis in unidl's channels-last layout,
    dim 1 inside a channels-first stretch of image layers).
    """
    kind = ACTIVATION_KINDS.lookup(name, "activation")
    builder = builder_for("activation", kind.name, _BACKEND)
    if builder is None:
        raise NotSupportedError(
            f"the torch backend has no builder for activation {kind.name!r}; register one "
            f"with unidl.register_builder(kind, 'torch', fn) where kind is what "
            f"unidl.register_activation returned and fn(x: Tensor) -> Tensor")
    fn: Fn = builder.fn if isinstance(builder, TorchActivation) else builder  # type: ignore[assignment]
    if fn is _identity:
        return None
    if kind.elementwise or channel_dim == -1:
        return fn
    if isinstance(builder, TorchActivation) and builder.on_axis is not None:
        return builder.on_axis(channel_dim)
    return _over_axis(fn, channel_dim)
