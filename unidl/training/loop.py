"""The fit loop: what an epoch means, defined once for every backend.

The core decides the batch order of every epoch (from the seed and the epoch index) and
the learning rate of every step, asks the backend to run the plan (whole, or in chunks
when batch callbacks or a progress bar need them), then computes training metrics from the
epoch's outputs and validation loss and metrics from the backend's predictions, with the
NumPy definitions in ``unidl.losses`` and ``unidl.metrics``. History keys follow Keras:
``loss``, ``<metric>``, ``val_loss``, ``val_<metric>``, and ``lr`` when a schedule runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import BackendModel
from ..data import ArrayData, Arrays, EpochPlan, SampleSource, epoch_plan, take
from ..heads import Head, head_logs
from ..inputs import as_tuple, labels_of
from ..spec import Loss
from .callbacks import Logs, Trainee
from .progress import Progress
from .schedules import PlateauState, ReduceLROnPlateau, Schedule, step_rates

__all__ = ["TrainingState", "evaluate_arrays", "run_epochs"]

Array = npt.NDArray[Any]


@dataclass
class TrainingState:
    """What a model remembers between fits: each output's loss and metrics (``heads``),
    the schedule and the epochs trained."""

    heads: tuple[Head, ...]
    seed: int
    epochs_trained: int = 0
    schedule: Schedule | None = None
    plateau: PlateauState | None = None

    @property
    def loss(self) -> Loss:
        """The first output's loss (the only one of a single-output model)."""
        return self.heads[0].loss

    @property
    def custom_metric_names(self) -> list[str]:
        return [name for h in self.heads for name in h.custom]

    @property
    def collects_outputs(self) -> bool:
        """Training outputs are needed for metrics and, with several outputs, for each
        output's loss in the logs."""
        return len(self.heads) > 1 or any(h.metrics for h in self.heads)


def predict_source(model: BackendModel, data: SampleSource,
                   batch_size: int) -> tuple[Arrays, Arrays]:
    """(targets, outputs) of a whole source in inference mode."""
    if isinstance(data, ArrayData):
        x, y = data.x, data.y
    else:
        x, y = data.take(np.arange(len(data)))
    assert y is not None
    return y, model.predict(x, batch_size)


def evaluate_arrays(model: BackendModel, state: TrainingState, data: SampleSource,
                    batch_size: int) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data`` in inference mode."""
    y, outputs = predict_source(model, data, batch_size)
    return head_logs(state.heads, as_tuple(y), as_tuple(outputs))


def _call(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            method(*args)


def _chunk_batches(callbacks: Sequence[Any]) -> int | None:
    """Batches per backend call: None (whole epochs) unless a callback wants batch hooks."""
    wanted = [
        max(1, int(getattr(cb, "batch_interval", 1)))
        for cb in callbacks
        if getattr(cb, "wants_batches", hasattr(cb, "on_batch_end")
                   or hasattr(cb, "on_batch_begin"))
    ]
    return min(wanted) if wanted else None


def _run_plan(model: BackendModel, train: SampleSource, plan: EpochPlan, collect: bool,
              chunk: int | None, owner: Trainee, callbacks: Sequence[Any]
              ) -> tuple[float, tuple[Array, ...] | None]:
    """Run one epoch's plan, whole or in chunks of ``chunk`` batches; (loss, outputs)."""
    if chunk is None:
        result = model.train_epoch(train, plan, collect)
        return float(result.loss), None if result.outputs is None else as_tuple(result.outputs)
    bs, total = plan.batch_size, 0.0
    outputs: list[tuple[Array, ...]] = []
    for first in range(0, len(plan), chunk):
        order = plan.order[first * bs:(first + chunk) * bs]
        rates = None if plan.learning_rates is None else \
            plan.learning_rates[first:first + chunk]
        _call(callbacks, "on_batch_begin", owner, first)
        part = model.train_epoch(train, EpochPlan(order, bs, plan.epoch, first, rates), collect)
        total += float(part.loss) * len(order)
        if part.outputs is not None:
            outputs.append(as_tuple(part.outputs))
        last = first + -(-len(order) // bs) - 1
        _call(callbacks, "on_batch_end", owner, last, {"loss": float(part.loss)})
    if not outputs:
        return total / len(plan.order), None
    return total / len(plan.order), tuple(np.concatenate(parts) for parts in zip(*outputs,
                                                                                 strict=True))


def run_epochs(owner: Trainee, native: BackendModel, state: TrainingState, base_lr: float,
               train: SampleSource, val: SampleSource | None, epochs: int, batch_size: int,
               shuffle: bool, verbose: int, callbacks: Sequence[Any]) -> None:
    """Train ``native`` ``epochs`` more epochs from ``state`` at base learning rate
    ``base_lr``, appending to ``owner.history`` as each epoch ends. ``owner`` (the model
    the user holds) is what callbacks receive."""
    n = len(train)
    steps = -(-n // batch_size)
    first = state.epochs_trained
    cbs = list(callbacks)
    if verbose:
        cbs.append(Progress(verbose, first + epochs, steps))
    chunk = _chunk_batches(cbs)
    collect = state.collects_outputs
    y_all = labels_of(train) if collect else None
    weights = train.sample_weight
    if isinstance(state.schedule, ReduceLROnPlateau) and state.plateau is None:
        state.plateau = PlateauState(base_lr)
    owner.stop_training = False
    logs: Logs = {}
    _call(cbs, "on_train_begin", owner, logs)
    for epoch in range(first, first + epochs):
        _call(cbs, "on_epoch_begin", owner, epoch)
        plan = epoch_plan(n, batch_size, state.seed, epoch, shuffle)
        rates = step_rates(state.schedule, base_lr, epoch, steps, state.plateau)
        plan = EpochPlan(plan.order, batch_size, epoch, 0, rates)
        loss, outputs = _run_plan(native, train, plan, collect, chunk, owner, cbs)
        logs = {"loss": loss}
        if outputs is not None and y_all is not None:
            logs.update(head_logs(state.heads, as_tuple(take(y_all, plan.order)), outputs,
                                  None if weights is None else weights[plan.order],
                                  total=False))
        if val is not None:
            val_logs = evaluate_arrays(native, state, val, max(batch_size, 256))
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        if rates is not None:
            logs["lr"] = float(rates[-1])
        for key, value in logs.items():
            owner.history.setdefault(key, []).append(value)
        state.epochs_trained = epoch + 1
        if isinstance(state.schedule, ReduceLROnPlateau) and state.plateau is not None:
            state.plateau.update(state.schedule, logs)
        _call(cbs, "on_epoch_end", owner, epoch, logs)
        if owner.stop_training:
            break
        if not math.isfinite(loss) and verbose:
            print("warning: the training loss is not finite; lower the learning rate or "
                  "check the data (unidl.TerminateOnNaN stops on it)")
    _call(cbs, "on_train_end", owner, logs)
