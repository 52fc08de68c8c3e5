"""Test helpers for the keras backend: building models and running one training batch.

Forward-pass references come from :mod:`unidl.testing.reference`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from unidl_keras import KerasBackend, KerasModel

import unidl
from unidl.backend import TrainingSetup
from unidl.data import ArrayData, EpochPlan
from unidl.initializers import initial_weights
from unidl.spec import ModelSpec

Array = Any  # numpy arrays


def build(spec: ModelSpec, seed: int = 0,
          weights: dict[str, Array] | None = None) -> KerasModel:
    w = initial_weights(spec, seed) if weights is None else weights
    return KerasBackend().build(spec, w, "cpu")


def one_batch_epoch(model: KerasModel, x: Array, y: Array, collect: bool = False) -> Any:
    plan = EpochPlan(np.arange(len(x), dtype=np.int64), len(x))
    return model.train_epoch(ArrayData(x, y), plan, collect)


def setup(loss: str | unidl.Loss = "mse", opt: Any = None, logits_loss: bool = False,
          seed: int = 0) -> TrainingSetup:
    loss_spec = loss if isinstance(loss, unidl.Loss) else unidl.Loss(loss)
    return TrainingSetup(loss_spec, opt or unidl.SGD(lr=0.01), logits_loss, seed)
