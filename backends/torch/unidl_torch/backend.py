"""``TorchBackend``: the object the ``unidl.backends`` entry point ``torch`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unidl import DeviceError
from unidl.backend import Backend, BackendModel, Weights
from unidl.capabilities import Capabilities
from unidl.spec import Graph, ModelSpec

from . import activations, builders, losses, optimizers
from .devices import available_devices
from .distributed import TorchLauncher
from .export import FORMATS
from .graph_model import GraphModel
from .sequential_model import SequentialModel

__all__ = ["TorchBackend"]

#: Every built-in kind's builder is registered by importing these modules.
_BUILDER_MODULES = (activations, builders, losses, optimizers)
_FEATURES = ("dropout", "batchnorm_training", "lr_schedule", "sample_weight",
             "gradient_clipping", "optimizer_state", "graph")
_DEVICE_KINDS = ("cpu", "cuda", "mps")


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
        """Every kind (layer, activation, loss, optimizer) with a torch builder registered
        (:mod:`unidl_torch.builders`; read now, so kinds registered later count), on CPU,
        CUDA and MPS, with every optional feature (dropout, BatchNorm training, per-step
        learning rates, sample weights, gradient clipping, canonical optimizer state,
        functional graphs)."""
        return Capabilities.from_builders("torch", features=_FEATURES,
                                          device_kinds=_DEVICE_KINDS)

    @property
    def native_formats(self) -> tuple[str, ...]:
        return FORMATS

    @property
    def distributed(self) -> TorchLauncher:
        """Data-parallel training on torch.distributed (``fit(devices=N)``, ``torchrun``)."""
        return TorchLauncher()

    def available_devices(self) -> list[str]:
        return available_devices()

    def build(self, spec: ModelSpec, weights: Weights, device: str
              ) -> SequentialModel | GraphModel:
        if device not in self.available_devices():
            raise DeviceError(f"device {device!r} is not available to torch "
                              f"{torch.__version__}; available: "
                              f"{', '.join(self.available_devices())}")
        if isinstance(spec, Graph):
            return GraphModel(spec, weights, device)
        return SequentialModel(spec, weights, device)

    def __repr__(self) -> str:
        return f"TorchBackend(torch {torch.__version__})"


if TYPE_CHECKING:  # mypy proves the classes satisfy the contract's Protocols
    def _conforms(backend: TorchBackend, seq: SequentialModel, graph: GraphModel
                  ) -> tuple[Backend, BackendModel, BackendModel]:
        return backend, seq, graph
