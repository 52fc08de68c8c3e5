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
        """Every layer, activation, loss, optimizer and feature the core defines."""
        return Capabilities(device_kinds=frozenset(("cpu", "cuda", "mps")))

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
