"""The fit loop: what an epoch means, defined once for every backend.

The core decides the batch order of every epoch (from the seed and the epoch index), asks
the backend to run the epoch, then computes training metrics from the epoch's outputs and
validation loss and metrics from the backend's predictions, with the NumPy definitions in
``unidl.losses`` and ``unidl.metrics``. History keys follow Keras: ``loss``, ``<metric>``,
``val_loss``, ``val_<metric>``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import BackendModel
from .data import ArrayData, SampleSource, epoch_plan
from .inputs import labels_of
from .losses import compute_loss
from .metrics import compute_metrics
from .spec.training import Loss

__all__ = ["TrainingState", "evaluate_arrays", "logits_to_probs", "run_epochs"]

Array = npt.NDArray[Any]


@dataclass
class TrainingState:
    """What a model remembers between fits: the loss, metrics and epochs trained."""

    loss: Loss
    metrics: tuple[str, ...]
    seed: int
    epochs_trained: int = 0


def logits_to_probs(loss: Loss, outputs: Array) -> Array:
    """Probabilities for metrics, when the model outputs logits (``from_logits=True``)."""
    if not loss.from_logits:
        return outputs
    z = np.asarray(outputs, dtype=np.float64)
    if loss.name == "binary_crossentropy":
        return np.asarray(1.0 / (1.0 + np.exp(-z)))
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def evaluate_arrays(model: BackendModel, state: TrainingState, data: SampleSource,
                    batch_size: int) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data`` in inference mode."""
    if isinstance(data, ArrayData):
        x, y = data.x, data.y
    else:
        idx = np.arange(len(data))
        x, y = data.take(idx)
    assert y is not None
    outputs = model.predict(x, batch_size)
    logs = {"loss": compute_loss(state.loss, y, outputs, logits=state.loss.from_logits)}
    logs.update(compute_metrics(state.metrics, state.loss, y,
                                logits_to_probs(state.loss, outputs)))
    return logs


def _format(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())


def run_epochs(model: BackendModel, state: TrainingState, train: SampleSource,
               val: SampleSource | None, epochs: int, batch_size: int, shuffle: bool,
               verbose: int, history: dict[str, list[float]]) -> None:
    """Train ``epochs`` more epochs, appending to ``history`` as each epoch ends."""
    n = len(train)
    y_all = labels_of(train) if state.metrics else None
    first = state.epochs_trained
    for epoch in range(first, first + epochs):
        started = time.perf_counter()
        plan = epoch_plan(n, batch_size, state.seed, epoch, shuffle)
        result = model.train_epoch(train, plan, collect_outputs=bool(state.metrics))
        logs: dict[str, float] = {"loss": float(result.loss)}
        if state.metrics and result.outputs is not None and y_all is not None:
            logs.update(compute_metrics(state.metrics, state.loss, y_all[plan.order],
                                        logits_to_probs(state.loss, result.outputs)))
        if val is not None:
            val_logs = evaluate_arrays(model, state, val, max(batch_size, 256))
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        state.epochs_trained = epoch + 1
        if verbose:
            took = time.perf_counter() - started
            print(f"Epoch {epoch + 1}/{first + epochs} - {took:.2f}s - {_format(logs)}",
                  file=sys.stdout, flush=True)
        if not math.isfinite(logs["loss"]) and verbose:
            print("warning: the training loss is not finite; lower the learning rate or "
                  "check the data", file=sys.stderr)

