"""Helpers for the conformance tests: tiny problems (and the capability skips)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import unidl
from unidl.testing.skips import caps, require, require_spec

__all__ = ["arrays", "caps", "classification", "dense", "native_model", "plan", "regression",
           "require", "require_spec", "targets_for", "training_setup"]

Array = npt.NDArray[Any]


def dense(n_in: int, n_out: int, activation: str | None = None,
          hidden: int | None = 8) -> unidl.Sequential:
    layers: list[unidl.spec.Layer] = [unidl.Input((n_in,))]
    if hidden:
        layers.append(unidl.Dense(hidden, activation="tanh"))
    layers.append(unidl.Dense(n_out, activation=activation))
    return unidl.Sequential(layers)


def regression(n: int = 64, n_in: int = 5, n_out: int = 1, seed: int = 0) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    y = (x @ rng.normal(size=(n_in, n_out)) + 0.1).astype(np.float32)
    return x, y


def classification(n: int = 90, n_in: int = 5, k: int = 3, seed: int = 0) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.normal(scale=2.0, size=(k, n_in))
    x = (centers[y] + rng.normal(size=(n, n_in))).astype(np.float32)
    return x, y


def targets_for(loss: str, y_reg: Array, y_cls: Array, k: int) -> Array:
    """Targets of the right kind for ``loss`` (regression values, indices, one-hot, 0/1)."""
    kind = unidl.spec.LOSS_KINDS.lookup(loss, "loss")
    if kind.target == "class_index":
        return y_cls
    if kind.fuses_with == "softmax":
        return np.eye(k, dtype=np.float32)[y_cls]
    if kind.fuses_with == "sigmoid":
        return (y_cls % 2).astype(np.float32).reshape(-1, 1)
    return y_reg


def native_model(backend: str | Any, spec: unidl.Sequential,
                 weights: dict[str, Array] | None = None, seed: int = 0) -> Any:
    """The backend's own model (``Backend.build``), for the rules stated on the Protocol
    itself: ``configure``, ``train_epoch`` and ``EpochResult`` as the core calls them."""
    from unidl.initializers import initial_weights
    from unidl.registry import get_backend

    w = initial_weights(spec, seed) if weights is None else weights
    return get_backend(backend).build(spec, w, "cpu")


def training_setup(loss: str | unidl.Loss, optimizer: unidl.spec.Optimizer,
                   logits_loss: bool = False, seed: int = 0) -> Any:
    """A ``TrainingSetup`` for one output, as the core would make it."""
    from unidl.backend import OutputLoss, TrainingSetup

    spec_loss = loss if isinstance(loss, unidl.Loss) else unidl.Loss(loss)
    return TrainingSetup(spec_loss, optimizer, logits_loss, seed,
                         (OutputLoss(spec_loss, 1.0, logits_loss),))


def plan(order: Any, batch_size: int, epoch: int = 0, first_batch: int = 0,
         learning_rates: Any = None) -> Any:
    from unidl.data import EpochPlan

    return EpochPlan(np.asarray(order, dtype=np.int64), batch_size, epoch, first_batch,
                     learning_rates)


def arrays(x: Array, y: Array | None, sample_weight: Array | None = None) -> Any:
    from unidl.data import ArrayData

    return ArrayData(x, y, sample_weight)
