"""Helpers for the torch backend tests: building and configuring models.

Forward-pass references come from :mod:`unidl.testing.reference`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy.typing as npt
from unidl_torch import TorchBackend, TorchModel

from unidl.backend import TrainingSetup
from unidl.initializers import initial_weights
from unidl.spec import Loss, Optimizer, Sequential

Array = npt.NDArray[Any]

#: Run the whole suite on another device, e.g. ``UNIDL_TORCH_TEST_DEVICE=cuda:0``.
DEVICE = os.environ.get("UNIDL_TORCH_TEST_DEVICE", "cpu")


def build(spec: Sequential, seed: int = 0, weights: dict[str, Array] | None = None,
          device: str = DEVICE) -> TorchModel:
    w = initial_weights(spec, seed) if weights is None else weights
    return TorchBackend().build(spec, w, device)


def configure(model: TorchModel, loss: str | Loss = "mse", optimizer: Optimizer | None = None,
              logits_loss: bool = False, seed: int = 0) -> None:
    from unidl import SGD

    model.configure(TrainingSetup(loss if isinstance(loss, Loss) else Loss(loss),
                                  optimizer or SGD(lr=0.01), logits_loss, seed))
