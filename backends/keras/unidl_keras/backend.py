"""``KerasBackend``: the entry point ``unidl.backends: keras`` resolves to.

Importing this module registers every built-in keras builder (layers, activations, losses,
optimizers); see ``unidl_keras.builders`` for the contract your own kinds' builders follow.
"""

from __future__ import annotations

from unidl.backend import Weights
from unidl.capabilities import Capabilities
from unidl.spec.serialize import ModelSpec

from . import activations, builders, losses, optimizers
from ._runtime import BACKEND, keras, tf
from .devices import available_devices
from .distributed import KerasLauncher
from .export import FORMATS
from .model import KerasModel

__all__ = ["KerasBackend"]

_REGISTERING = (activations, builders, losses, optimizers)  # imported for their builders

#: Listed, not taken from unidl.capabilities.FEATURES, so a feature the core adds later is
#: not claimed before this backend implements it.
_FEATURES = frozenset(("dropout", "batchnorm_training", "lr_schedule", "sample_weight",
                       "gradient_clipping", "optimizer_state", "graph"))


class KerasBackend:
    """Satisfies ``unidl.backend.Backend``: Keras 3 running on TensorFlow."""

    @property
    def name(self) -> str:
        return BACKEND

    @property
    def version(self) -> str:
        return f"keras {keras.__version__}, tensorflow {tf.__version__}"

    @property
    def capabilities(self) -> Capabilities:
        """The layer kinds, activations, losses and optimizers with a keras builder (read
        now, so kinds registered since count), CPU and CUDA devices, and the features:
        dropout, BatchNorm training, per-step learning rates (and chunked plans), sample
        weights, gradient clipping, canonical optimizer state, functional graphs (several
        inputs/outputs, shared layers)."""
        return Capabilities.from_builders(BACKEND, features=_FEATURES,
                                          device_kinds=("cpu", "cuda"))

    @property
    def native_formats(self) -> tuple[str, ...]:
        return FORMATS

    def available_devices(self) -> list[str]:
        return available_devices()

    @property
    def distributed(self) -> KerasLauncher:
        """Data-parallel training on tf.distribute's MirroredStrategy (``fit(devices=N)``)."""
        return KerasLauncher()

    def build(self, spec: ModelSpec, weights: Weights, device: str) -> KerasModel:
        return KerasModel(spec, weights, device)
