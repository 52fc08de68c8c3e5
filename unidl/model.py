"""``Model``: a spec built on one backend and device, with the same API everywhere."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._calls import check_save_path, data_with_y
from .backend import Backend, BackendModel, OutputLoss, TrainingSetup, Weights, check_weights
from .capabilities import check_training, require_feature
from .data import ArrayData, LazyData, MappedData, StreamData
from .data.processes import use_processes
from .distributed import Job, Rank, check_devices, check_launch, launcher_of, launcher_rank, on_rank
from .errors import NotSupportedError, SpecError, UnidlError, short
from .heads import Head, resolve_heads
from .inputs import (
    as_inputs,
    as_source,
    as_tuple,
)
from .io import write_model_files
from .metrics import UserMetric
from .optimizer_state import state_shapes
from .spec import Loss, Optimizer, optimizer_from
from .spec.bounds import check_batch_memory
from .spec.graph import Graph
from .spec.serialize import ModelSpec
from .training.callbacks import check_callbacks
from .training.loop import (
    TrainingState,
    evaluate_arrays,
    predict_outputs,
    predict_source,
    run_epochs,
)
from .training.progress import ChunkedPredictor, check_verbosity
from .training.schedules import PlateauState, Schedule, schedule_from
from .training.sources import training_sources
from .workers import TIMEOUT_S, fit_on_workers, restore

__all__ = ["Model"]

Array = npt.NDArray[Any]


def _positive_int(value: object, name: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (
        0 if allow_zero else 1
    ):
        bound = ">= 0" if allow_zero else ">= 1"
        raise SpecError(f"must be an integer {bound}, got {short(value)}", name)
    return int(value)


def _check_batch(spec: ModelSpec, batch_size: int, data: object) -> None:
    """Refuse a batch (``batch_size``, or all of ``data`` if fewer) whose largest activation
    alone cannot fit in memory, before the backend allocates anything."""
    first = next(iter(data.values()), None) if isinstance(data, dict) else (
        data[0] if isinstance(data, (tuple, list)) and data else data)
    try:
        n = int(first.shape[0]) if isinstance(first, np.ndarray) else len(data)  # type: ignore[arg-type]
    except (TypeError, AttributeError, IndexError):  # a stream of unknown length
        n = batch_size
    check_batch_memory(spec.largest_activation, max(1, min(batch_size, n)), "batch_size")


def _backend_seed(seed: int) -> int:
    """The backend's own seed (dropout masks), derived so it differs from the others."""
    return int(np.random.default_rng([seed, 2]).integers(2**31 - 1))


class Model:
    """A model built from a spec on one backend: fit, evaluate, predict, save, export.

    Create one with :func:`unidl.fit`, :func:`unidl.build` or :func:`unidl.load`.
    """

    def __init__(self, spec: ModelSpec, backend: Backend, native: BackendModel,
                 seed: int) -> None:
        self.spec = spec
        self.backend = backend
        self._native = native
        self.seed = seed
        self.history: dict[str, list[float]] = {}
        self._state: TrainingState | None = None
        self._optimizer: Optimizer | None = None
        self._configured = False
        self._pending_optimizer_state: dict[str, Array] | None = None
        #: Set by a callback to end ``fit`` after the current epoch.
        self.stop_training = False

    # -- description ------------------------------------------------------------------
    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def device(self) -> str:
        return self._native.device

    @property
    def native(self) -> BackendModel:
        """The backend's own model object (for people leaving unidl)."""
        return self._native

    @property
    def loss(self) -> Loss | dict[str, Loss] | None:
        """The loss; for several outputs a dict ``{output name: loss}``."""
        if self._state is None:
            return None
        heads = self._state.heads
        return heads[0].loss if len(heads) == 1 else {h.name: h.loss for h in heads}

    @property
    def loss_weights(self) -> dict[str, float]:
        """Each output's weight in the training loss."""
        return {} if self._state is None else {h.name: h.weight for h in self._state.heads}

    @property
    def optimizer(self) -> Optimizer | None:
        return self._optimizer

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names as they appear in logs (``<output>_<metric>`` for several
        outputs)."""
        if self._state is None:
            return ()
        heads = self._state.heads
        if len(heads) == 1:
            return heads[0].metrics
        return tuple(f"{h.name}_{m}" for h in heads for m in h.metrics)

    @property
    def epochs_trained(self) -> int:
        return 0 if self._state is None else self._state.epochs_trained

    def summary(self) -> str:
        return self.spec.summary()

    def __repr__(self) -> str:
        return (f"<unidl.Model {self.spec.name!r} on {self.backend_name}:{self.device}, "
                f"{self.spec.count_params():,} params, {self.epochs_trained} epochs trained>")

    # -- training ---------------------------------------------------------------------
    @property
    def lr_schedule(self) -> Schedule | None:
        return None if self._state is None else self._state.schedule

    def compile(self, loss: Any, optimizer: str | Optimizer | dict[str, Any] = "adam",
                metrics: Sequence[str | UserMetric] | dict[str, Any] | None = None,
                lr_schedule: Schedule | dict[str, Any] | None = None,
                loss_weights: Sequence[float] | dict[str, float] | None = None) -> Model:
        """Set the loss, optimizer, metrics and learning-rate schedule (fresh optimizer
        state). Metrics are names (see ``unidl.metrics``) or functions ``fn(y_true,
        y_pred) -> float``.

        For a model with several outputs, ``loss``, ``metrics`` and ``loss_weights`` each
        take one value for every output, a list in ``spec.output_names`` order or a dict
        keyed by output name; the training loss is ``sum(weight * output loss)``.
        """
        heads = resolve_heads(self.spec, loss, metrics, loss_weights)
        opt = optimizer_from(optimizer)
        schedule = None if lr_schedule is None else schedule_from(lr_schedule)
        check_training(self.backend.capabilities, self.spec, [h.loss for h in heads], opt,
                       self.backend_name)
        if schedule is not None:
            require_feature(self.backend.capabilities, "lr_schedule", self.backend_name,
                            "learning-rate schedules")
        epochs = self.epochs_trained
        self._state = TrainingState(heads, self.seed, epochs, schedule)
        self._optimizer = opt
        self._configured = False
        self._pending_optimizer_state = None
        return self

    def _setup(self) -> TrainingSetup:
        assert self._state is not None and self._optimizer is not None
        heads = self._state.heads
        return TrainingSetup(heads[0].loss, self._optimizer, heads[0].logits_loss,
                             _backend_seed(self.seed),
                             tuple(OutputLoss(h.loss, h.weight, h.logits_loss) for h in heads))

    def fit(self, data: object, y: object = None, *, epochs: int = 1,
            batch_size: int | None = None, validation_data: object = None,
            validation_split: float | None = None, shuffle: bool | None = None,
            verbose: int = 1, callbacks: Sequence[Any] = (),
            class_weight: dict[int, float] | None = None, sample_weight: object = None,
            initial_epoch: int | None = None, steps_per_epoch: int | None = None,
            workers: int | None = None, use_multiprocessing: bool | None = None,
            devices: int | None = None) -> Model:
        """Train for ``epochs`` more epochs; ``history`` grows by one entry per epoch.

        With ``initial_epoch`` (Keras semantics) training runs epochs ``initial_epoch`` to
        ``epochs - 1``; use it to resume a saved model where it stopped. The optimizer
        state carries over between calls (as in Keras) until ``compile``.
        ``class_weight`` ({class: weight}) and ``sample_weight`` (one per sample) weight
        each sample's loss; they multiply when both are given. ``fit(x, y)`` (Keras' form)
        is ``fit((x, y))`` when ``x`` is an array or a dict/list of arrays.

        ``data`` may also be a memory map, a map-style ``Dataset`` or a batch iterable (a
        ``DataLoader``, a ``tf.data`` pipeline, a generator); docs/data.md says which
        options apply to which (``batch_size`` defaults to 32 and ``shuffle`` to True for
        indexable data; a stream brings its own batches and order, and
        ``steps_per_epoch`` batches make its epoch). ``workers``: how many read a
        dataset or memory map ahead of training (default: one per CPU, up to 4);
        ``use_multiprocessing``: a dataset's readers are processes (default on Linux with
        more than one CPU: they overlap ``__getitem__``'s Python with training) or threads.

        ``devices=N`` trains data-parallel on N local workers (the backend's engine, e.g.
        torch DDP) and brings the trained model back here; under a launcher such as
        ``torchrun`` this process trains as its rank. ``batch_size`` stays the global
        batch (docs/distributed.md).
        """
        data = data_with_y(data, y, "model.fit({}, ...)")
        world = check_devices(devices)
        launched = launcher_rank()
        check_launch(world, launched)
        launcher = launcher_of(self.backend) if (world or 1) > 1 or launched else None
        options = {"epochs": epochs, "batch_size": batch_size,
                   "validation_data": validation_data, "validation_split": validation_split,
                   "shuffle": shuffle, "verbose": verbose, "callbacks": callbacks,
                   "class_weight": class_weight, "sample_weight": sample_weight,
                   "initial_epoch": initial_epoch, "steps_per_epoch": steps_per_epoch,
                   "workers": workers, "use_multiprocessing": use_multiprocessing}
        if self._state is None or self._optimizer is None:
            raise SpecError("the model has no loss yet; call model.compile(loss=..., "
                            "optimizer=...) or pass loss= to unidl.fit", "loss")
        epochs = _positive_int(epochs, "epochs", allow_zero=True)
        if batch_size is not None:
            batch_size = _positive_int(batch_size, "batch_size")
        if steps_per_epoch is not None:
            steps_per_epoch = _positive_int(steps_per_epoch, "steps_per_epoch")
        if initial_epoch is not None:
            start = _positive_int(initial_epoch, "initial_epoch", allow_zero=True)
            if start > epochs:
                raise SpecError(f"initial_epoch ({start}) is after the final epoch "
                                f"(epochs={epochs})", "initial_epoch")
            epochs -= start
        if verbose not in (0, 1, 2):
            raise SpecError(f"must be 0 (silent), 1 (progress bar) or 2 (one line per "
                            f"epoch), got {short(verbose)}", "verbose")
        if shuffle is not None and not isinstance(shuffle, bool):
            raise SpecError(f"must be True or False, got {short(shuffle)}", "shuffle")
        callbacks = check_callbacks(callbacks)
        use_processes(use_multiprocessing)  # checked whatever the data, as the others
        if class_weight is not None and not isinstance(class_weight, dict):
            raise SpecError(f"must be a dict {{class index: weight}}, got "
                            f"{type(class_weight).__name__}", "class_weight")
        if validation_data is not None and validation_split is not None:
            raise SpecError("give validation_data or validation_split, not both",
                            "validation_split")
        assert self._state is not None
        train, val = training_sources(
            self.spec, self._state.heads, self.backend.capabilities, self.backend_name,
            data, validation_data, validation_split, class_weight, sample_weight,
            batch_size, shuffle, steps_per_epoch, epochs, workers, use_multiprocessing)
        _check_batch(self.spec, 32 if batch_size is None else batch_size, train)
        if launcher is not None and launched is None:
            assert world is not None
            fit_on_workers(self, launcher, world, data, options)
            return self
        if initial_epoch is not None:
            self._state.epochs_trained = start
        if launched is not None:
            callbacks, verbose = self._join(launched, callbacks, verbose)
        if not self._configured:
            setup = self._setup()
            if launched is not None:
                setup = dataclasses.replace(setup, shard=launched.shard)
            self._native.configure(setup)
            self._configured = True
            if self._pending_optimizer_state is not None:
                self._native.set_optimizer_state(self._pending_optimizer_state)
                self._pending_optimizer_state = None
        run_epochs(self, self._native, self._state, self._optimizer.lr, train, val, epochs,
                   32 if batch_size is None else batch_size,
                   True if shuffle is None else shuffle, verbose, callbacks, steps_per_epoch)
        return self

    def _join(self, rank: Rank, callbacks: list[Any], verbose: int
              ) -> tuple[list[Any], int]:
        """Join the data-parallel group as ``rank``: the callbacks and progress this rank
        runs (rank 0: all; the others: those that decide, silently)."""
        if self._configured:
            raise SpecError("this model was already trained in one process; under a launcher "
                            "build it in the launched script before the first fit", "devices")
        launcher_of(self.backend).join(rank, self.device, TIMEOUT_S)
        return on_rank(callbacks, rank.rank), verbose if rank.rank == 0 else 0

    @classmethod
    def _from_job(cls, job: Job) -> Model:
        """The model a ``fit(devices=N)`` worker rebuilds from ``job``."""
        model: Model = restore(cls, job)
        return model

    def _adopt_training(self, training: dict[str, Any]) -> None:
        """Take the epoch count and plateau state of a model trained elsewhere."""
        assert self._state is not None
        self._state.epochs_trained = int(training.get("epochs_trained",
                                                      self._state.epochs_trained))
        if training.get("plateau"):
            self._state.plateau = PlateauState(**training["plateau"])

    # -- inference --------------------------------------------------------------------
    def evaluate(self, data: object, y: object = None, batch_size: int = 256, *,
                 verbose: int = 1) -> dict[str, float]:
        """Loss and metrics on ``data`` (``(x, y)`` or a Dataset), inference mode;
        ``evaluate(x, y)`` (Keras' form) when ``x`` is an array or a dict/list of arrays.
        ``verbose``: 0 silent, 1 a progress bar on a terminal for a long run, 2 one line
        when done (``unidl.training.progress``)."""
        data = data_with_y(data, y, "model.evaluate({})")
        if self._state is None:
            raise SpecError("evaluate needs a loss; call model.compile(loss=...) first",
                            "loss")
        batch_size = _positive_int(batch_size, "batch_size")
        verbose = check_verbosity(verbose)
        source = as_source(data, self.spec, self._state.heads, "data")
        _check_batch(self.spec, batch_size, source)
        if not isinstance(source, ArrayData):  # read block by block, one call each
            return evaluate_arrays(self._native, self._state, source, batch_size)
        native = ChunkedPredictor(self._native, verbose, "evaluate")
        # evaluate_arrays calls only .predict, which ChunkedPredictor forwards
        return evaluate_arrays(native, self._state, source, batch_size)  # type: ignore[arg-type]

    def classification_report(self, data: object, batch_size: int = 256,
                              output: str | None = None) -> Any:
        """Confusion matrix and per-class precision/recall/F1/support on ``data``
        (a :class:`unidl.training.report.ClassificationReport`; ``print()`` it). With several
        outputs, ``output`` names the one to report on."""
        from .training.report import classification_report

        if self._state is None:
            raise SpecError("classification_report needs a loss; call model.compile first",
                            "loss")
        heads = self._state.heads
        names = [h.name for h in heads]
        if output is None and len(heads) > 1:
            raise SpecError(f"the model has outputs {names}; choose one with output=NAME",
                            "output")
        index = 0 if output is None else names.index(output) if output in names else -1
        if index < 0:
            raise SpecError(f"unknown output {short(output)}; the model has {names}", "output")
        source = as_source(data, self.spec, heads, "data")
        y, outputs = predict_source(self._native, source, _positive_int(batch_size,
                                                                        "batch_size"))
        return classification_report(heads[index].loss, as_tuple(y)[index],
                                     as_tuple(outputs)[index])

    def predict(self, x: object, batch_size: int = 256, *, verbose: int = 1) -> Any:
        """Model outputs for ``x`` as a float32 NumPy array, inference mode; for a model
        with several outputs a list of arrays in ``spec.output_names`` order. ``x`` for a
        model with several inputs: a dict keyed by Input name or a list in input order.
        ``verbose`` as for :meth:`evaluate`."""
        batch_size = _positive_int(batch_size, "batch_size")
        verbose = check_verbosity(verbose)
        inputs = as_inputs(x, self.spec, "x")
        _check_batch(self.spec, batch_size, inputs)
        if isinstance(inputs, (LazyData, MappedData, StreamData)):  # read block by block
            out = predict_outputs(self._native, inputs, batch_size)
        else:
            out = ChunkedPredictor(self._native, verbose, "predict").predict(inputs,
                                                                             batch_size)
        if isinstance(self.spec, Graph):
            outs = as_tuple(out)
            return outs[0] if len(outs) == 1 else list(outs)
        return out

    def plot_history(self, keys: Sequence[str] | None = None) -> Any:
        """Training curves of ``history`` with matplotlib: one panel per quantity (loss,
        then each metric; ``keys`` chooses them), the validation curve beside the
        training one. Returns the matplotlib ``Figure`` (``fig.savefig("curves.png")``).
        Needs matplotlib: ``pip install "unidl-core[plot]"``."""
        from .training.plot import plot_history

        return plot_history(self.history, keys)

    # -- weights and files ------------------------------------------------------------
    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]:
        """Canonical weights ``"<layer>/<param>"`` (Keras layout), as NumPy arrays."""
        return self._native.get_weights()

    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights; names and shapes are checked against the spec."""
        expected = {k: p.shape for k, p in self.spec.params.items()}
        self._native.set_weights(check_weights(expected, weights, "set_weights"))

    def optimizer_state(self) -> dict[str, Array]:
        """Canonical optimizer state (``unidl.optimizer_state``), ``{}`` if none yet or if
        the backend does not declare the ``optimizer_state`` feature."""
        if "optimizer_state" not in self.backend.capabilities.features:
            return {}
        if self._pending_optimizer_state is not None:
            return dict(self._pending_optimizer_state)
        return self._native.get_optimizer_state() if self._configured else {}

    def restore_optimizer_state(self, state: Weights, source: str = "state") -> None:
        """Use ``state`` (saved optimizer state) for the next ``fit``, so training resumes
        on the same trajectory. Names and shapes are checked against the compiled
        optimizer; a backend without the ``optimizer_state`` feature warns and starts
        fresh."""
        if self._optimizer is None:
            raise SpecError("compile the model before restoring optimizer state", "optimizer")
        if "optimizer_state" not in self.backend.capabilities.features:
            warnings.warn(f"{source}: backend {self.backend_name!r} cannot restore optimizer "
                          "state; training continues with a fresh optimizer", stacklevel=3)
            return
        checked = check_weights(state_shapes(self.spec, self._optimizer), state,
                                f"{source}: optimizer state")
        self._pending_optimizer_state = dict(checked)
        if self._configured:
            self._native.set_optimizer_state(self._pending_optimizer_state)
            self._pending_optimizer_state = None

    def save(self, path: str | Path) -> Path:
        """Save to the portable format (a directory; atomic). Returns the path.

        A path ending in a framework's file suffix (``.keras``, ``.h5``, ``.pt``,
        ``.safetensors``, ...) is refused: the portable format is a directory, and a
        backend's own file is written by :meth:`export`."""
        check_save_path(path, self.backend.native_formats)
        spec_doc = {"model": self.spec.to_dict(), "training": self._training_config(),
                    "seed": self.seed}
        origin = {"backend": self.backend_name, "backend_version": self.backend.version,
                  "device": self.device}
        return write_model_files(Path(path), spec_doc, self.get_weights(),
                                 self.optimizer_state(), origin, self.history)

    def _training_config(self) -> dict[str, Any] | None:
        """The ``training`` section of a saved ``spec.json``: enough to compile again and
        resume where training stopped (None before ``compile``)."""
        state = self._state
        if state is None or self._optimizer is None:
            return None
        return {
            **_heads_config(state.heads, isinstance(self.spec, Graph)),
            "optimizer": self._optimizer.to_config(),
            "custom_metrics": state.custom_metric_names,
            "lr_schedule": None if state.schedule is None else state.schedule.to_config(),
            "plateau": None if state.plateau is None else dataclasses.asdict(state.plateau),
            "epochs_trained": state.epochs_trained,
        }

    def _resume(self, training: dict[str, Any], optimizer_state: Weights | None,
                source: str) -> None:
        """Compile from a saved ``training`` section and carry on where it stopped: the
        epoch count, the plateau state and (``optimizer_state``) the optimizer."""
        custom = training.get("custom_metrics") or []
        if custom:
            warnings.warn(f"{source}: user metric functions {custom} are not stored in the "
                          "file; call model.compile(...) with them to compute them again",
                          stacklevel=3)
        self.compile(training["loss"], training["optimizer"], training["metrics"],
                     training.get("lr_schedule"), training.get("loss_weights"))
        assert self._state is not None
        self._state.epochs_trained = int(training.get("epochs_trained", 0))
        if training.get("plateau"):
            self._state.plateau = PlateauState(**training["plateau"])
        if optimizer_state is not None:
            self.restore_optimizer_state(optimizer_state, source)

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the backend's native artifact (e.g. a torch ``state_dict``, ``.keras``)."""
        formats = self.backend.native_formats
        fmt = format or (formats[0] if formats else "")
        if fmt not in formats:
            raise NotSupportedError(
                f"backend {self.backend_name!r} cannot export format {short(fmt)}; it supports "
                f"{', '.join(formats) or 'none'}. Use model.save() for the portable format")
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UnidlError(f"cannot create {target.parent}: {e}") from e
        self._native.export(str(target), fmt)
        return target


def _heads_config(heads: tuple[Head, ...], graph: bool) -> dict[str, Any]:
    """Loss, loss weights and metrics as ``compile`` takes them back: plain for a
    ``Sequential``, keyed by output name for a ``Graph``. User metric functions are not
    stored (code never goes into the file)."""
    def builtin(head: Head) -> list[str]:
        return [m for m in head.metrics if m not in head.custom]

    if not graph:
        return {"loss": heads[0].loss.to_config(), "metrics": builtin(heads[0])}
    return {"loss": {h.name: h.loss.to_config() for h in heads},
            "loss_weights": {h.name: h.weight for h in heads},
            "metrics": {h.name: builtin(h) for h in heads}}
