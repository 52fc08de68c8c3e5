"""``NumpyBackend``: the object the ``unidl.backends`` entry point ``numpy`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from unidl import DeviceError, NotSupportedError
from unidl.backend import Backend, BackendModel, Weights
from unidl.capabilities import Capabilities
from unidl.spec import ACTIVATIONS, LOSSES, Sequential
from unidl.spec.serialize import ModelSpec

from .model import NumpyModel

__all__ = ["NumpyBackend"]


class NumpyBackend:
    """A small, pure-NumPy CPU backend: Dense/Activation/Flatten/Dropout models and every
    built-in optimizer."""

    # What we implement. The core refuses everything else before it reaches us (with an
    # error naming this backend), and the conformance suite skips it with a reason. We
    # declare neither "batchnorm_training" nor "graph", and no Conv2D, pools or BatchNorm.
    capabilities = Capabilities(
        layers=frozenset({"Input", "Dense", "Activation", "Flatten", "Dropout"}),
        activations=frozenset(ACTIVATIONS),
        losses=frozenset(LOSSES),
        optimizers=frozenset({"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"}),
        device_kinds=frozenset({"cpu"}),
        features=frozenset({"dropout", "lr_schedule", "sample_weight", "gradient_clipping",
                            "optimizer_state"}),
    )

    @property
    def name(self) -> str:
        return "numpy"  # must equal the entry-point name in pyproject.toml

    @property
    def version(self) -> str:
        return str(np.__version__)

    @property
    def native_formats(self) -> tuple[str, ...]:
        return ("npz",)

    def available_devices(self) -> list[str]:
        return ["cpu"]

    def build(self, spec: ModelSpec, weights: Weights, device: str) -> NumpyModel:
        # The core has validated the spec against our capabilities, resolved "auto" to a
        # canonical device string and generated the initial weights from the seed. A Graph
        # never reaches us (we do not declare "graph"); refuse it anyway, by name.
        if not isinstance(spec, Sequential):
            raise NotSupportedError("the numpy backend builds Sequential models only "
                                    "(feature 'graph' is not declared)")
        if device != "cpu":
            raise DeviceError(f"the numpy backend runs on 'cpu' only, not {device!r}")
        return NumpyModel(spec, weights)

    def __repr__(self) -> str:
        return f"NumpyBackend(numpy {np.__version__})"


if TYPE_CHECKING:  # mypy checks that our classes satisfy the contract's Protocols
    def _conforms(backend: NumpyBackend, model: NumpyModel) -> tuple[Backend, BackendModel]:
        return backend, model
