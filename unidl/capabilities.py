"""What a backend supports, declared up front so unsupported use fails before training.

A backend's ``capabilities`` lists the layer kinds, activations, losses, optimizers and
device kinds it implements, plus named optional features. The core checks a spec and a
training configuration against it in ``build``/``compile``/``export`` and raises
:class:`~unidl.NotSupportedError` naming the backend, the feature and where it is used.
The conformance suite skips (with that reason) what a backend does not declare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from .errors import NotSupportedError
from .spec.graph import Graph
from .spec.kinds import (
    ACTIVATION_KINDS,
    LAYER_KINDS,
    LOSS_KINDS,
    OPTIMIZER_KINDS,
    Family,
    implemented,
)
from .spec.layers import Layer
from .spec.losses import Loss
from .spec.optimizers import Optimizer
from .spec.serialize import ModelSpec

__all__ = [
    "DEVICE_KINDS",
    "FEATURES",
    "Capabilities",
    "check_spec",
    "check_training",
    "require_feature",
]

DEVICE_KINDS: Final = ("cpu", "cuda", "mps")
#: Optional features a backend may declare.
#: - "dropout": Dropout layers train (with the backend's own random masks);
#: - "batchnorm_training": BatchNorm in training mode (batch statistics, moving updates);
#: - "lr_schedule": per-step learning rates from ``EpochPlan.learning_rates``;
#: - "sample_weight": per-sample loss weights (``sample_weight=`` and ``class_weight=``);
#: - "gradient_clipping": the optimizer spec's ``clipnorm`` / ``clipvalue``;
#: - "optimizer_state": ``get_optimizer_state`` / ``set_optimizer_state`` (resuming);
#: - "graph": functional ``unidl.Graph`` models (several inputs/outputs, shared layers).
FEATURES: Final = ("dropout", "batchnorm_training", "lr_schedule", "sample_weight",
                   "gradient_clipping", "optimizer_state", "graph")


def _frozen(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@dataclass(frozen=True)
class Capabilities:
    """The declared feature set of a backend (defaults: every built-in kind the core
    defines; :meth:`from_builders` derives the kinds from the builders a backend
    registered, custom kinds included)."""

    layers: frozenset[str] = field(default_factory=lambda: _frozen(LAYER_KINDS.builtins()))
    activations: frozenset[str] = field(
        default_factory=lambda: _frozen(ACTIVATION_KINDS.builtins()))
    losses: frozenset[str] = field(default_factory=lambda: _frozen(LOSS_KINDS.builtins()))
    optimizers: frozenset[str] = field(
        default_factory=lambda: _frozen(OPTIMIZER_KINDS.builtins()))
    device_kinds: frozenset[str] = field(default_factory=lambda: _frozen(DEVICE_KINDS))
    features: frozenset[str] = field(default_factory=lambda: _frozen(FEATURES))

    def __post_init__(self) -> None:
        for name in ("layers", "activations", "losses", "optimizers", "device_kinds",
                     "features"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))

    @classmethod
    def from_builders(cls, backend: str, *, features: Iterable[str] = FEATURES,
                      device_kinds: Iterable[str] = DEVICE_KINDS) -> Capabilities:
        """The kinds ``backend`` registered builders for (read when called, so kinds
        registered later count), with the given features and device kinds."""
        def kinds(family: Family) -> frozenset[str]:
            return implemented(family, backend)
        return cls(kinds("layer"), kinds("activation"), kinds("loss"), kinds("optimizer"),
                   _frozen(device_kinds), _frozen(features))

    def missing_for_layer(self, layer: Layer) -> str | None:
        """The first unsupported thing a layer needs, described, or None."""
        if layer.kind not in self.layers:
            return f"layer {layer.kind}"
        if layer.final_activation not in self.activations:
            return f"activation {layer.final_activation!r}"
        return None


def check_spec(caps: Capabilities, spec: ModelSpec, backend: str) -> None:
    """Raise NotSupportedError for the first layer or activation ``backend`` lacks."""
    kind = type(spec).__name__
    if isinstance(spec, Graph):
        require_feature(caps, "graph", backend, "functional unidl.Graph models")
    for i, layer in enumerate(spec.layers):
        missing = caps.missing_for_layer(layer)
        if missing:
            raise NotSupportedError(
                f"backend {backend!r} does not support {missing} (used by "
                f"{kind}.layers[{i}] {layer.layer_name!r}); it supports layers "
                f"{', '.join(sorted(caps.layers))} and activations "
                f"{', '.join(sorted(caps.activations))}. Use another backend or change "
                "the spec")


def check_training(caps: Capabilities, spec: ModelSpec, losses: Iterable[Loss],
                   optimizer: Optimizer, backend: str) -> None:
    """Raise NotSupportedError if ``backend`` cannot train this configuration."""
    for loss in losses:
        if loss.name not in caps.losses:
            raise NotSupportedError(f"backend {backend!r} does not support loss "
                                    f"{loss.name!r}; it supports "
                                    f"{', '.join(sorted(caps.losses))}")
    if optimizer.kind not in caps.optimizers:
        raise NotSupportedError(
            f"backend {backend!r} does not support optimizer {optimizer.kind}; it supports "
            f"{', '.join(sorted(caps.optimizers))}")
    kinds = {layer.kind for layer in spec.layers}
    if "Dropout" in kinds and "dropout" not in caps.features:
        raise NotSupportedError(f"backend {backend!r} cannot train Dropout layers (feature "
                                "'dropout' not declared); remove Dropout to train here")
    if "BatchNorm" in kinds and "batchnorm_training" not in caps.features:
        raise NotSupportedError(f"backend {backend!r} cannot train BatchNorm layers (feature "
                                "'batchnorm_training' not declared)")
    if optimizer.clips:
        require_feature(caps, "gradient_clipping", backend, "clipnorm/clipvalue")


def require_feature(caps: Capabilities, feature: str, backend: str, what: str) -> None:
    """Raise NotSupportedError unless ``backend`` declares ``feature`` (used for ``what``)."""
    if feature not in caps.features:
        raise NotSupportedError(f"backend {backend!r} does not support {what} (feature "
                                f"{feature!r} not declared); use another backend")


def check_device_kind(caps: Capabilities, device: str, backend: str) -> None:
    kind = device.split(":")[0]
    if kind != "auto" and kind not in caps.device_kinds:
        raise NotSupportedError(f"backend {backend!r} does not run on {kind!r} devices; it "
                                f"supports {', '.join(sorted(caps.device_kinds))}")
