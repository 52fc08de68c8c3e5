"""Progress output for ``fit``, ``evaluate`` and ``predict``: a tqdm bar on a terminal,
plain lines elsewhere.

``fit``: ``verbose=0``: silent. ``verbose=1``: on a terminal, a bar per epoch updated about
50 times with the running loss, then the epoch summary; when not on a terminal (CI, logs,
notebooks' captured output), one line per epoch. ``verbose=2``: one line per epoch always.

``evaluate`` / ``predict``: ``verbose=0``: silent. ``verbose=1``: on a terminal, a bar that
appears once the call has run for half a second (a quick call prints nothing); elsewhere
nothing. ``verbose=2``: one line when done. The work is handed to the backend in about 50
chunks of whole batches, so every batch is the one an undivided call would run.

A terminal that reports no width (or fewer than 40 columns, where a bar would be cut to
nothing) gets the plain lines instead of a bar.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

import numpy as np

from ..errors import SpecError, short
from .callbacks import Callback, Logs, Trainee

__all__ = ["ChunkedPredictor", "Progress", "bar_wanted", "check_verbosity"]

#: Narrower than this, a bar with its numbers does not fit: plain lines instead.
MIN_BAR_COLUMNS = 40
#: evaluate/predict: seconds before a bar appears.
INFERENCE_BAR_DELAY = 0.5


def _format(logs: Logs) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())


def terminal_columns() -> int:
    """The terminal's width in columns, 0 when unknown (not a terminal, or a pseudo-terminal
    with no size set, as some CI runners and editors give)."""
    try:
        return shutil.get_terminal_size(fallback=(0, 0)).columns
    except (OSError, ValueError):
        return 0


def bar_wanted(verbose: int) -> bool:
    """A tqdm bar: ``verbose == 1`` on a terminal at least ``MIN_BAR_COLUMNS`` wide."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        tty = False
    return verbose == 1 and tty and terminal_columns() >= MIN_BAR_COLUMNS


class Progress(Callback):
    def __init__(self, verbose: int, epochs_total: int, steps: int) -> None:
        self.total, self.steps = epochs_total, steps
        self.bar_mode = bar_wanted(verbose)
        self.batch_interval = max(1, steps // 50)
        self._bar: Any = None
        self._done = 0

    @property
    def wants_batches(self) -> bool:
        return self.bar_mode

    def on_epoch_begin(self, model: Trainee, epoch: int) -> None:
        if self.bar_mode:
            from tqdm import tqdm

            self._bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.total}",
                             unit="batch", leave=True, dynamic_ncols=True)
            self._done = 0

    def on_batch_end(self, model: Trainee, batch: int, logs: Logs) -> None:
        if self._bar is not None:
            self._bar.update(batch + 1 - self._done)
            self._done = batch + 1
            self._bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)

    def on_epoch_end(self, model: Trainee, epoch: int, logs: Logs) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(_format(logs), refresh=True)
            self._bar.close()
            self._bar = None
        else:
            print(f"Epoch {epoch + 1}/{self.total} - {_format(logs)}", flush=True)


def _rows(x: Any) -> int:
    return len(x[0]) if isinstance(x, tuple) else len(x)


def _part(x: Any, start: int, stop: int) -> Any:
    return tuple(a[start:stop] for a in x) if isinstance(x, tuple) else x[start:stop]


def _joined(parts: list[Any]) -> Any:
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
    return np.concatenate(parts)


class ChunkedPredictor:
    """Stands in for a backend model's ``predict`` (what ``evaluate`` and ``predict`` call)
    and shows progress by the rules above; without a bar it is one call, unchanged."""

    def __init__(self, model: Any, verbose: int, what: str) -> None:
        self._model, self._verbose, self._what = model, verbose, what

    def predict(self, x: Any, batch_size: int) -> Any:
        n = _rows(x)
        steps = -(-n // batch_size)
        if not bar_wanted(self._verbose) or steps < 2:
            out = self._model.predict(x, batch_size)
        else:
            from tqdm import tqdm

            chunk = max(1, steps // 50) * batch_size
            parts: list[Any] = []
            with tqdm(total=steps, desc=self._what, unit="batch", leave=True,
                      dynamic_ncols=True, delay=INFERENCE_BAR_DELAY) as bar:
                for start in range(0, n, chunk):
                    parts.append(self._model.predict(_part(x, start, start + chunk),
                                                     batch_size))
                    bar.update(-(-min(chunk, n - start) // batch_size))
            out = _joined(parts)
        if self._verbose == 2:
            print(f"{self._what}: {n} samples in {steps} batch{'es' if steps != 1 else ''}",
                  flush=True)
        return out


def check_verbosity(verbose: object) -> int:
    """``verbose`` of evaluate and predict: 0, 1 or 2 (a bool or anything else is refused)."""
    for level in (0, 1, 2):
        if verbose == level and isinstance(verbose, (int, np.integer)) \
                and not isinstance(verbose, bool):
            return level
    raise SpecError(f"must be 0 (silent), 1 (progress bar on a terminal) or 2 (one line), "
                    f"got {short(verbose)}", "verbose")
