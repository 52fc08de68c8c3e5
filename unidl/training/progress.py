"""Progress output for ``fit``: a tqdm bar on a terminal, plain lines elsewhere.

``verbose=0``: silent. ``verbose=1``: on a terminal, a bar per epoch updated about 50
times with the running loss, then the epoch summary; when not on a terminal (CI, logs,
notebooks' captured output), one line per epoch. ``verbose=2``: one line per epoch always.
"""

from __future__ import annotations

import sys
from typing import Any

from .callbacks import Callback, Logs, Trainee

__all__ = ["Progress"]


def _format(logs: Logs) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())


class Progress(Callback):
    def __init__(self, verbose: int, epochs_total: int, steps: int) -> None:
        self.total, self.steps = epochs_total, steps
        self.bar_mode = verbose == 1 and sys.stdout.isatty()
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
