"""``TorchBackend``: the object the ``unidl.backends`` entry point ``torch`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unidl import DeviceError
from unidl.backend import Backend, BackendModel, Weights
from unidl.capabilities import Capabilities
from unidl.spec import Graph, ModelSpec

from .devices import available_devices
from .export import FORMATS
from .model_graph import GraphModel
from .model_seq import SequentialModel

__all__ = ["TorchBackend"]

#: The layer kinds ``Net`` and ``GraphNet`` build; declared explicitly so that a kind the
#: core's catalogue gains is refused up front until this backend implements it.
_LAYERS = ("Input", "Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Dropout",
           "BatchNorm", "Activation",
           # unidl_torch.layers_seq
           "Conv1D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool1D", "GlobalMaxPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "Embedding", "Reshape", "Permute",
           "LayerNorm", "SimpleRNN", "LSTM", "GRU",
           # unidl_torch.graph (merges exist only in a Graph)
           "Concatenate", "Add", "Subtract", "Multiply", "Average")
_FEATURES = ("dropout", "batchnorm_training", "lr_schedule", "sample_weight",
             "gradient_clipping", "optimizer_state", "graph")


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
        """What :class:`~unidl_torch.layers.Net` and :class:`~unidl_torch.graph.GraphNet`
        build and the training loops implement: the layer kinds in ``_LAYERS``, every
        activation, loss and optimizer the core defines, and every optional feature
        (dropout, BatchNorm training, per-step learning rates, sample weights, gradient
        clipping, canonical optimizer state, functional graphs)."""
        return Capabilities(layers=frozenset(_LAYERS),
                            device_kinds=frozenset(("cpu", "cuda", "mps")),
                            features=frozenset(_FEATURES))

    @property
    def native_formats(self) -> tuple[str, ...]:
        return FORMATS

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
