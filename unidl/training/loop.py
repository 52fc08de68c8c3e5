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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import BackendModel
from ..data import (
    ArrayData,
    Arrays,
    EpochPlan,
    SampleSource,
    StreamData,
    epoch_plan,
    length,
    plan_batches,
    take,
)
from ..data.stream import Batch
from ..errors import DataError
from ..heads import Head, head_logs
from ..inputs import as_tuple, labels_of
from ..spec import Loss
from .callbacks import Logs, Trainee
from .progress import Progress
from .schedules import PlateauState, ReduceLROnPlateau, Schedule, step_rates

__all__ = ["TrainingState", "evaluate_arrays", "predict_outputs", "run_epochs"]

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


#: Rows of an indexable source read per ``predict`` call when it is not in memory.
PREDICT_BLOCK = 1024

Source = SampleSource | StreamData


def _concat(parts: list[tuple[Array, ...]]) -> tuple[Array, ...]:
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _unwrap(arrays: tuple[Array, ...], like: object) -> Arrays:
    return arrays if isinstance(like, tuple) else arrays[0]


def _blocks(data: Source, batch_size: int) -> Any:
    """``(x, y)`` blocks of a source in sample order (a stream: its batches)."""
    if isinstance(data, StreamData):
        for x, y, _ in data.epoch():
            yield x, y
        return
    everything = EpochPlan(np.arange(len(data), dtype=np.int64), max(batch_size, PREDICT_BLOCK))
    for _, x, y in plan_batches(data, everything):
        yield x, y


def predict_source(model: BackendModel, data: Source,
                   batch_size: int) -> tuple[Arrays, Arrays]:
    """(targets, outputs) of a whole source in inference mode; a source not in memory is
    read block by block."""
    if isinstance(data, ArrayData):
        assert data.y is not None
        return data.y, model.predict(data.x, batch_size)
    ys: list[tuple[Array, ...]] = []
    outs: list[tuple[Array, ...]] = []
    out: Any = None
    y: Any = None
    for x, y in _blocks(data, batch_size):
        if y is None:
            raise DataError("the data has no targets (y); evaluation needs (x, y)")
        ys.append(as_tuple(y))
        out = model.predict(x, batch_size)
        outs.append(as_tuple(out))
    return _unwrap(_concat(ys), y), _unwrap(_concat(outs), out)


def predict_outputs(model: BackendModel, data: Arrays | Source, batch_size: int) -> Any:
    """Outputs for in-memory inputs or for every sample of a source, in order."""
    if isinstance(data, (np.ndarray, tuple)):
        return model.predict(data, batch_size)
    if isinstance(data, ArrayData):
        return model.predict(data.x, batch_size)
    outs: list[tuple[Array, ...]] = []
    out: Any = None
    for x, _ in _blocks(data, batch_size):
        out = model.predict(x, batch_size)
        outs.append(as_tuple(out))
    return _unwrap(_concat(outs), out)


def evaluate_arrays(model: BackendModel, state: TrainingState, data: Source,
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


#: Batches handed to the backend in one call when no callback wants batch hooks.
CHUNK = 32


def _join(batches: list[Batch]) -> ArrayData:
    """Consecutive batches joined into in-memory arrays: the backend's fast path then runs
    them (with a plan of ``arange``) as it runs arrays."""
    xs = [as_tuple(b[0]) for b in batches]
    x = _unwrap(_concat(xs), batches[0][0])
    y0 = batches[0][1]
    y = None if y0 is None else _unwrap(_concat([as_tuple(b[1]) for b in batches
                                                 if b[1] is not None]), y0)
    w = None
    if any(b[2] is not None for b in batches):
        w = np.concatenate([np.ones(length(b[0]), np.float32) if b[2] is None else b[2]
                            for b in batches])
    return ArrayData(x, y, w)


def _read_plan(data: SampleSource, plan: EpochPlan) -> Iterator[Batch]:
    """The plan's batches of an indexable source that is not in memory, read ahead by its
    workers a whole chunk ahead of the chunk being trained."""
    weights = data.sample_weight
    depth = CHUNK + 2 * int(getattr(data, "workers", 0))
    for indices, x, y in plan_batches(data, plan, depth):
        yield x, y, None if weights is None else weights[indices]


@dataclass
class _ChunkedEpoch:
    """One epoch read batch by batch (a stream, a memory map, a dataset), trained in
    chunks of consecutive equal-sized batches joined into arrays, so each backend runs
    them on its fast path; targets and weights are kept for the epoch's metrics."""

    model: BackendModel
    epoch: int
    rates: npt.NDArray[np.float64] | None
    collect: bool
    chunk: int | None
    owner: Trainee
    callbacks: Sequence[Any]
    total: float = 0.0
    count: int = 0
    batches: int = 0

    def run(self, batches: Iterator[Batch]
            ) -> tuple[float, tuple[Array, ...] | None, tuple[Array, ...] | None, Array | None]:
        outs: list[tuple[Array, ...]] = []
        ys: list[tuple[Array, ...]] = []
        ws: list[Array] = []
        pending: list[Batch] = []
        limit = self.chunk or CHUNK
        for batch in batches:
            if pending and (length(batch[0]) != length(pending[0][0]) or len(pending) >= limit):
                self._flush(pending, outs, ys, ws)
            pending.append(batch)
        if pending:
            self._flush(pending, outs, ys, ws)
        weights = np.concatenate(ws) if ws and len(ws) == len(ys) else None
        return (self.total / self.count, _concat(outs) if outs else None,
                _concat(ys) if ys else None, weights)

    def _flush(self, pending: list[Batch], outs: list[tuple[Array, ...]],
               ys: list[tuple[Array, ...]], ws: list[Array]) -> None:
        block, steps = _join(pending), len(pending)
        n, first = len(block), self.batches
        rates = None
        if self.rates is not None:
            rates = self.rates[np.minimum(np.arange(first, first + steps), len(self.rates) - 1)]
        plan = EpochPlan(np.arange(n, dtype=np.int64), length(pending[0][0]), self.epoch, first,
                         rates)
        if self.chunk is not None:
            _call(self.callbacks, "on_batch_begin", self.owner, first)
        part = self.model.train_epoch(block, plan, self.collect)
        self.total += float(part.loss) * n
        self.count += n
        self.batches += steps
        if part.outputs is not None and block.y is not None:
            outs.append(as_tuple(part.outputs))
            ys.append(as_tuple(block.y))
            if block.sample_weight is not None:
                ws.append(block.sample_weight)
        if self.chunk is not None:
            _call(self.callbacks, "on_batch_end", self.owner, self.batches - 1,
                  {"loss": float(part.loss)})
        pending.clear()


def stream_steps(train: StreamData, steps_per_epoch: int | None,
                 schedule: Schedule | None) -> int | None:
    """Batches per epoch of a stream when known (``steps_per_epoch`` or its ``len``); a
    schedule that changes the rate every step needs it."""
    steps = steps_per_epoch if steps_per_epoch is not None else train.length()
    if steps is None and schedule is not None and getattr(schedule, "per", "epoch") == "step":
        raise DataError(f"lr_schedule changes the rate every step, but {train.name} does not "
                        "say how many batches an epoch has (no len()); pass steps_per_epoch")
    return steps


def run_epochs(owner: Trainee, native: BackendModel, state: TrainingState, base_lr: float,
               train: Source, val: Source | None, epochs: int, batch_size: int,
               shuffle: bool, verbose: int, callbacks: Sequence[Any],
               steps_per_epoch: int | None = None) -> None:
    """Train ``native`` ``epochs`` more epochs from ``state`` at base learning rate
    ``base_lr``, appending to ``owner.history`` as each epoch ends. ``owner`` (the model
    the user holds) is what callbacks receive. An indexable ``train`` follows the seeded
    plan; a stream is consumed in its own order (``steps_per_epoch`` batches an epoch, or
    one pass)."""
    stream = train if isinstance(train, StreamData) else None
    if stream is not None:
        known = stream_steps(stream, steps_per_epoch, state.schedule)
        steps = known or 0
        n = 0
    else:
        assert not isinstance(train, StreamData)
        n = len(train)
        steps = -(-n // batch_size)
    first = state.epochs_trained
    cbs = list(callbacks)
    if verbose:
        cbs.append(Progress(verbose, first + epochs, steps))
    chunk = _chunk_batches(cbs)
    collect = state.collects_outputs
    y_all = labels_of(train) if collect and isinstance(train, ArrayData) else None
    weights = train.sample_weight
    if isinstance(state.schedule, ReduceLROnPlateau) and state.plateau is None:
        state.plateau = PlateauState(base_lr)
    owner.stop_training = False
    logs: Logs = {}
    _call(cbs, "on_train_begin", owner, logs)
    for epoch in range(first, first + epochs):
        _call(cbs, "on_epoch_begin", owner, epoch)
        if stream is not None or not isinstance(train, ArrayData):
            if stream is not None:
                rates = step_rates(state.schedule, base_lr, epoch, max(steps, 1),
                                   state.plateau)
                batches = stream.epoch(steps_per_epoch)
            else:
                assert not isinstance(train, StreamData)
                rates = step_rates(state.schedule, base_lr, epoch, steps, state.plateau)
                batches = _read_plan(train, epoch_plan(n, batch_size, state.seed, epoch,
                                                       shuffle))
            run = _ChunkedEpoch(native, epoch, rates, collect, chunk, owner, cbs)
            loss, outputs, y_seen, w_seen = run.run(batches)
            logs = {"loss": loss}
            if outputs is not None and y_seen is not None:
                logs.update(head_logs(state.heads, y_seen, outputs, w_seen, total=False))
        else:
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
