"""``TorchBackend``: the object the ``unidl.backends`` entry point ``torch`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unidl import DeviceError
from unidl.backend import Backend, BackendModel, Weights
from unidl.capabilities import Capabilities
from unidl.spec import Sequential

from .devices import available_devices
from .export import FORMATS
from .model import TorchModel

__all__ = ["TorchBackend"]

#: The layer kinds ``Net`` builds; declared explicitly so that a kind the core's catalogue
#: gains is refused up front until this backend implements it.
_LAYERS = ("Input", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Dropout",
           "BatchNorm", "Activation",
           # unidl_torch.layers_seq
           "Conv1D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool1D", "GlobalMaxPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "Embedding", "Reshape", "LayerNorm",
           "SimpleRNN", "LSTM", "GRU")
_FEATURES = ("dropout", "batchnorm_training", "lr_schedule", "sample_weight",
             "gradient_clipping", "optimizer_state")


class TorchBackend:
    """Runs unidl models on PyTorch (CPU, CUDA, Apple MPS)."""

    @property
    def name(self) -> str:
        return "torch"

    @property
    def version(self) -> str:
        return str(torch.__version__)

    @property
    def capabilities(self) -> Capabilities:
        """What :class:`~unidl_torch.layers.Net` builds and the training loop implements:
        the layer kinds in ``_LAYERS``, every activation, loss and optimizer the core
        defines, and every optional feature (dropout, BatchNorm training, per-step learning
        rates, sample weights, gradient clipping, canonical optimizer state)."""
        return Capabilities(layers=frozenset(_LAYERS),
                            device_kinds=frozenset(("cpu", "cuda", "mps")),
                            features=frozenset(_FEATURES))

    @property
    def native_formats(self) -> tuple[str, ...]:
        return FORMATS

    def available_devices(self) -> list[str]:
        return available_devices()

    def build(self, spec: Sequential, weights: Weights, device: str) -> TorchModel:
        if device not in self.available_devices():
            raise DeviceError(f"device {device!r} is not available to torch "
                              f"{torch.__version__}; available: "
                              f"{', '.join(self.available_devices())}")
        return TorchModel(spec, weights, device)

    def __repr__(self) -> str:
        return f"TorchBackend(torch {torch.__version__})"


if TYPE_CHECKING:  # mypy proves the classes satisfy the contract's Protocols
    def _conforms(backend: TorchBackend, model: TorchModel) -> tuple[Backend, BackendModel]:
        return backend, model
