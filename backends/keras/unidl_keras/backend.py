"""``KerasBackend``: the entry point ``unidl.backends: keras`` resolves to."""

from __future__ import annotations

from unidl.backend import Weights
from unidl.capabilities import Capabilities
from unidl.spec.serialize import ModelSpec

from ._runtime import keras, tf
from .devices import available_devices
from .export import FORMATS
from .layers import LAYER_KINDS
from .model import KerasModel

__all__ = ["KerasBackend"]

#: Listed, not taken from unidl.capabilities.FEATURES, so a feature the core adds later is
#: not claimed before this backend implements it.
_FEATURES = frozenset(("dropout", "batchnorm_training", "lr_schedule", "sample_weight",
                       "gradient_clipping", "optimizer_state", "graph"))


class KerasBackend:
    """Satisfies ``unidl.backend.Backend``: Keras 3 running on TensorFlow."""

    @property
    def name(self) -> str:
        return "keras"

    @property
    def version(self) -> str:
        return f"keras {keras.__version__}, tensorflow {tf.__version__}"

    @property
    def capabilities(self) -> Capabilities:
        """The layers the backend implements; every activation, loss, optimizer and
        feature the core defines: dropout, BatchNorm training, per-step learning rates
        (and chunked plans), sample weights, gradient clipping, canonical optimizer state,
        functional graphs (several inputs/outputs, shared layers)."""
        return Capabilities(layers=LAYER_KINDS, device_kinds=frozenset(("cpu", "cuda")),
                            features=_FEATURES)

    @property
    def native_formats(self) -> tuple[str, ...]:
        return FORMATS

    def available_devices(self) -> list[str]:
        return available_devices()

    def build(self, spec: ModelSpec, weights: Weights, device: str) -> KerasModel:
        return KerasModel(spec, weights, device)
