"""Callbacks: hooks into the core's fit loop, the same on every backend.

A callback is any object with some of these methods (missing ones are skipped); subclass
:class:`Callback` for no-op defaults. ``model.stop_training = True`` ends training after
the current epoch. Epoch ``logs`` hold ``loss``, metrics, ``val_*`` and ``lr``; callbacks
run in order and see the same dict.

Batch hooks cost speed: backends run whole epochs in compiled loops, so when a callback
defines ``on_batch_begin``/``on_batch_end`` the core hands the epoch over in chunks of
``batch_interval`` batches (default 1) and calls the hooks between chunks with the index of
the chunk's last batch and ``{"loss": mean loss over the chunk}``.
"""

from __future__ import annotations

import csv
import math
import re
import string
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..backend import Weights
from ..errors import SpecError, UnidlError, UnknownNameError, short
from ..metrics import METRICS
from ..spec import Optimizer

__all__ = ["HOOKS", "CSVLogger", "Callback", "CallbackLike", "EarlyStopping", "ModelCheckpoint",
           "TensorBoard", "TerminateOnNaN", "Trainee", "better", "check_callbacks"]

Logs = dict[str, float]

#: The hooks a callback may define; an object with none of them is not a callback.
HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_batch_begin", "on_batch_end")


class Trainee(Protocol):
    """What the fit loop and the built-in callbacks use of the model being trained: a
    :class:`unidl.Model` is one. The loop sits below the model layer, so it names the
    model by what it does rather than importing it."""

    stop_training: bool
    history: dict[str, list[float]]

    @property
    def optimizer(self) -> Optimizer | None: ...

    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]: ...

    def set_weights(self, weights: Weights) -> None: ...

    def save(self, path: str | Path) -> Path: ...


class CallbackLike(Protocol):
    """Structural type of a callback (every method optional at run time)."""

    def on_epoch_end(self, model: Any, epoch: int, logs: Logs) -> None: ...


class Callback:
    """Base class with no-op hooks; override the ones you need.

    ``model`` is the :class:`unidl.Model` being trained. The hooks declare it ``Any`` so
    that a subclass may annotate it as ``unidl.Model`` and use all of it; the built-in
    callbacks need only a :class:`Trainee`.
    """

    #: With batch hooks: call them every this many batches.
    batch_interval: int = 1

    def on_train_begin(self, model: Any, logs: Logs) -> None:
        """Before the first epoch of a ``fit``."""

    def on_train_end(self, model: Any, logs: Logs) -> None:
        """After the last epoch of a ``fit`` (also when stopped early)."""

    def on_epoch_begin(self, model: Any, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based, counting every epoch the model trained)."""

    def on_epoch_end(self, model: Any, epoch: int, logs: Logs) -> None:
        """After epoch ``epoch`` with its logs (training and validation)."""


def better(monitor: str, mode: str, current: float, best: float, min_delta: float) -> bool:
    """Whether ``current`` improves on ``best`` by more than ``min_delta``."""
    if mode == "auto":
        mode = "max" if re.search(r"acc|auc|precision|recall|f1|r2", monitor) else "min"
    if mode == "min":
        return current < best - abs(min_delta)
    return current > best + abs(min_delta)


def _monitor(monitor: object, where: str) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise SpecError(f"must be a log name such as 'val_loss', got {monitor!r}",
                        f"{where}.monitor")
    return monitor


def _path(path: object, where: str) -> str:
    if not isinstance(path, (str, Path)) or not str(path):
        raise SpecError(f"must be a file system path, got {path!r}", f"{where}.path")
    return str(path)


def _mode(mode: str, where: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise UnknownNameError("mode", mode, ("auto", "min", "max"), f"{where}.mode")
    return mode


def _monitored(logs: Logs, monitor: str, where: str) -> float:
    if monitor not in logs:
        raise SpecError(f"monitors {monitor!r}, which is not in the epoch logs "
                        f"({', '.join(logs)}); pass validation data or monitor 'loss'",
                        f"{where}.monitor")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs. With ``restore_best_weights`` the weights of the best epoch are put back when
    training ends (whether it stopped early or ran out of epochs)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise SpecError(f"must be an integer >= 0, got {patience!r}",
                            "EarlyStopping.patience")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)):
            raise SpecError(f"must be a number, got {min_delta!r}", "EarlyStopping.min_delta")
        self.monitor = _monitor(monitor, "EarlyStopping")
        self.patience, self.min_delta = patience, float(min_delta)
        self.mode = _mode(mode, "EarlyStopping")
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._wait = 0
        self._best_weights: dict[str, npt.NDArray[np.float32]] | None = None

    def on_train_begin(self, model: Trainee, logs: Logs) -> None:
        self.best, self.best_epoch, self.stopped_epoch = None, None, None
        self._wait, self._best_weights = 0, None

    def on_epoch_end(self, model: Trainee, epoch: int, logs: Logs) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self.best is None or better(self.monitor, self.mode, value, self.best,
                                       self.min_delta):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = model.get_weights()
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            model.stop_training = True

    def on_train_end(self, model: Trainee, logs: Logs) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            model.set_weights(self._best_weights)


def _checkpoint_template(path: str) -> str:
    """``path`` if every ``{placeholder}`` in it is ``epoch`` or a log name and every
    format spec suits its value (an integer for ``epoch``, a float for a log), else a
    SpecError naming the placeholder and the known names."""
    where = "ModelCheckpoint.path"
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(path)
                  if name is not None]
    except ValueError as e:
        raise SpecError(f"{short(path)} is not a valid path template: {e} (write a literal "
                        "brace as '{{' or '}}')", where) from None
    bases = sorted({"loss", "lr", *METRICS})
    known = (f"epoch, {', '.join(bases)}, top_K_accuracy; each metric and loss also as "
             "val_<name>, <output>_<name> and val_<output>_<name>")
    samples: dict[str, object] = {}
    for name, spec in fields:
        if not name.isidentifier():
            raise SpecError(f"placeholder {{{short(name, 40)}}} in {short(path)} must be a "
                            f"plain name, one of: {known}", where)
        base = name[4:] if name.startswith("val_") else name
        if name != "epoch" and not any(base == b or base.endswith(f"_{b}") for b in bases) \
                and not re.fullmatch(r"(?:\w+_)?top_\d+_accuracy", base):
            raise SpecError(f"unknown placeholder {{{name[:40]}}} in {short(path)}; "
                            f"known: {known}", where)
        samples[name] = 1 if name == "epoch" else 0.5
        if spec and "{" in spec:
            raise SpecError(f"placeholder {{{name}}} in {short(path)} has a nested format "
                            "spec; write the spec out, e.g. {epoch:03d}", where)
    try:
        path.format(**samples)
    except (ValueError, TypeError) as e:
        raise SpecError(f"a format spec in {short(path)} does not suit its value (epoch is "
                        f"an integer, log values are floats, e.g. {{epoch:03d}}, "
                        f"{{val_loss:.4f}}): {e}", where) from None
    return path


class ModelCheckpoint(Callback):
    """Save the model (portable format, atomic, with optimizer state) after each epoch.

    ``path`` may contain ``{epoch}`` and log names, e.g. ``"ckpt/e{epoch:03d}"`` or
    ``"ckpt/{val_loss:.3f}"``; placeholders and format specs are checked when the
    callback is made (a user metric's name is not known then, so it cannot be one). With
    ``save_best_only`` only epochs improving ``monitor`` are saved.

    A save that fails (a full disk, a log missing from the epoch's logs) does not stop
    training: it warns, naming the epoch and the error, and is recorded in ``failed``;
    the model stays in memory for ``fit`` to return.
    """

    #: writes files: in a data-parallel run, rank 0 alone runs it
    rank_zero_only = True

    def __init__(self, path: str | Path, monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto") -> None:
        self.path = _checkpoint_template(_path(path, "ModelCheckpoint"))
        self.monitor = _monitor(monitor, "ModelCheckpoint")
        self.save_best_only = bool(save_best_only)
        self.mode = _mode(mode, "ModelCheckpoint")
        self.best: float | None = None
        self.saved: list[Path] = []
        #: ``(epoch, error message)`` of every save that failed
        self.failed: list[tuple[int, str]] = []

    def on_epoch_end(self, model: Trainee, epoch: int, logs: Logs) -> None:
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if self.best is not None and not better(self.monitor, self.mode, value,
                                                    self.best, 0.0):
                return
            self.best = value
        try:
            target = Path(self.path.format(epoch=epoch + 1, **logs))
        except (KeyError, ValueError, TypeError) as e:
            needed = e.args[0] if isinstance(e, KeyError) and e.args else e
            self._failed(epoch + 1, f"the path template {short(self.path)} needs "
                                    f"{short(needed)}, "
                                    f"which is not in the epoch logs ({', '.join(logs)})")
            return
        try:
            self.saved.append(model.save(target))
        except (UnidlError, OSError) as e:
            self._failed(epoch + 1, f"saving to {target} failed: {e}")

    def _failed(self, epoch: int, message: str) -> None:
        self.failed.append((epoch, message))
        warnings.warn(f"ModelCheckpoint: epoch {epoch} was not saved: {message}. Training "
                      "goes on and the model stays in memory (save it with model.save)",
                      RuntimeWarning, stacklevel=2)


class TerminateOnNaN(Callback):
    """Stop training at the end of an epoch whose loss is NaN or infinite."""

    def on_epoch_end(self, model: Trainee, epoch: int, logs: Logs) -> None:
        if not math.isfinite(logs.get("loss", 0.0)):
            model.stop_training = True


class CSVLogger(Callback):
    """Append one row per epoch (``epoch`` and every log value) to a CSV file."""

    #: writes files: in a data-parallel run, rank 0 alone runs it
    rank_zero_only = True

    def __init__(self, path: str | Path, separator: str = ",", append: bool = False) -> None:
        if not isinstance(separator, str) or len(separator) != 1:
            raise SpecError(f"must be one character, got {separator!r}", "CSVLogger.separator")
        self.path, self.separator, self.append = Path(_path(path, "CSVLogger")), separator, append
        self._keys: list[str] | None = None

    def on_train_begin(self, model: Trainee, logs: Logs) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.append or not self.path.exists():
            self.path.write_text("")
        self._keys = None

    def on_epoch_end(self, model: Trainee, epoch: int, logs: Logs) -> None:
        new = self.path.stat().st_size == 0
        if self._keys is None:
            self._keys = list(logs)
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if new:
                writer.writerow(["epoch", *self._keys])
            writer.writerow([epoch, *(logs.get(k, "") for k in self._keys)])


class TensorBoard(Callback):
    """Write every epoch log value and the learning rate as TensorBoard scalars (tags
    ``epoch_<name>``, step = epoch), with TensorBoard's own event-file writer (needs the
    ``tensorboard`` package)."""

    #: writes files: in a data-parallel run, rank 0 alone runs it
    rank_zero_only = True

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(_path(log_dir, "TensorBoard"))
        self._writer: Any = None

    def on_train_begin(self, model: Trainee, logs: Logs) -> None:
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as e:
            raise SpecError("the TensorBoard callback needs the tensorboard package: "
                            "pip install tensorboard", "callbacks") from e
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(self.log_dir))

    def on_epoch_end(self, model: Trainee, epoch: int, logs: Logs) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        scalars = dict(logs)
        if "lr" not in scalars and model.optimizer is not None:  # constant rate: log it too
            scalars["lr"] = model.optimizer.lr
        values = [Summary.Value(tag=f"epoch_{k}", simple_value=float(v))
                  for k, v in scalars.items()]
        self._writer.add_event(Event(step=epoch, summary=Summary(value=values)))
        self._writer.flush()

    def on_train_end(self, model: Trainee, logs: Logs) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def check_callbacks(callbacks: object) -> list[Any]:
    """A list of callbacks; each must define at least one hook of ``unidl.training.callbacks``."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (list, tuple)):
        raise SpecError("must be a list of callbacks, e.g. [unidl.EarlyStopping()], got "
                        f"{type(callbacks).__name__}", "callbacks")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise SpecError(f"is the class {cb.__name__}, not a callback object; call it, "
                            f"e.g. {cb.__name__}()", f"callbacks[{i}]")
        if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
            raise SpecError(f"{short(cb)} has none of the callback hooks ({', '.join(HOOKS)})",
                            f"callbacks[{i}]")
    return list(callbacks)
