"""``NumpyModel``: the ``BackendModel`` — weights, predict, training epochs and export."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from unidl import BackendError, DataError, NotSupportedError
from unidl.backend import EpochResult, TrainingSetup, Weights
from unidl.data import ArrayData, EpochPlan, SampleSource
from unidl.spec import Sequential

from .layers import Act, Step, compile_steps
from .losses import loss_and_grad
from .optimizers import AdamStep, SGDStep, make_optimizer

__all__ = ["NumpyModel"]

Array = npt.NDArray[Any]


class NumpyModel:
    """A unidl model as NumPy arrays on the CPU.

    ``dtype`` is float32, as unidl's parity contract requires; the gradient-check tests
    build a float64 model so that finite differences are accurate.
    """

    def __init__(self, spec: Sequential, weights: Weights,
                 dtype: type[np.floating[Any]] = np.float32) -> None:
        self.spec = spec
        self.dtype = dtype
        self.steps = compile_steps(spec)
        self.params: dict[str, Array] = {}
        self.set_weights(weights)
        self.setup: TrainingSetup | None = None
        self.optimizer: SGDStep | AdamStep | None = None

    @property
    def device(self) -> str:
        return "cpu"

    # -- weights: our layout is the canonical one, so these are copies ---------------------
    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]:
        return {k: v.astype(np.float32) for k, v in self.params.items()}

    def set_weights(self, weights: Weights) -> None:
        # Copy: the caller keeps ownership of its arrays, and the optimizer updates ours in
        # place. Keys come from the spec so the order is canonical.
        self.params = {k: np.array(weights[k], dtype=self.dtype) for k in self.spec.params}

    # -- forward and backward ----------------------------------------------------------
    def forward(self, x: Array, steps: list[Step]) -> tuple[Array, list[Any]]:
        """Run ``steps`` on ``x``; return the output and every step's cache for backward."""
        caches = []
        for step in steps:
            x, cache = step.forward(self.params, x)
            caches.append(cache)
        return x, caches

    def backward(self, g: Array, steps: list[Step], caches: list[Any]) -> dict[str, Array]:
        """Gradients of every parameter, given ``g`` = dLoss/d(output of ``steps``)."""
        grads: dict[str, Array] = {}
        for step, cache in zip(reversed(steps), reversed(caches), strict=True):
            g = step.backward(self.params, cache, g, grads)
        return grads

    def loss_and_grads(self, x: Array, y: Array) -> tuple[float, dict[str, Array], Array]:
        """One batch: the loss, every parameter's gradient, and the outputs (after the final
        activation). Needs ``configure`` first; the optimizer is not touched."""
        if self.setup is None:
            raise BackendError("NumpyModel.configure(setup) must be called before training")
        x = np.asarray(x, dtype=self.dtype)
        steps, head = self.steps, None
        if self.setup.logits_loss:  # stop before the final softmax/sigmoid (see layers.py)
            head = steps[-1]
            assert isinstance(head, Act)
            steps = steps[:-1]
        logits = self.setup.logits_loss or self.setup.loss.from_logits
        out, caches = self.forward(x, steps)
        loss, g = loss_and_grad(self.setup.loss, y, out, logits)
        grads = self.backward(g, steps, caches)
        if head is not None:
            out = head.forward(self.params, out)[0]
        return loss, grads, out

    # -- inference ---------------------------------------------------------------------
    def predict(self, x: npt.NDArray[Any], batch_size: int) -> npt.NDArray[np.float32]:
        # Inference and training mode are the same here: no Dropout, no BatchNorm.
        x = np.asarray(x, dtype=self.dtype)
        outs = [self.forward(x[i:i + batch_size], self.steps)[0]
                for i in range(0, len(x), batch_size)]
        if not outs:
            return np.zeros((0, *self.spec.output_shape), np.float32)
        return np.concatenate(outs).astype(np.float32)

    # -- training ----------------------------------------------------------------------
    def configure(self, setup: TrainingSetup) -> None:
        self.setup = setup
        self.optimizer = make_optimizer(setup.optimizer, self.params)  # fresh state

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        if self.optimizer is None:
            raise BackendError("NumpyModel.configure(setup) must be called before training")
        n = len(plan.order)
        if n == 0:
            raise DataError("the epoch plan is empty: there is no sample to train on")
        # Features we do not declare: the core refuses them up front; refuse them here too.
        if plan.learning_rates is not None:
            raise _undeclared("lr_schedule", "per-step learning rates")
        if data.sample_weight is not None:
            raise _undeclared("sample_weight", "sample weights")
        total, outputs = 0.0, []
        for xb, yb in _batches(data, plan, self.dtype):
            loss, grads, out = self.loss_and_grads(xb, yb)  # loss before this batch's step
            self.optimizer.step(self.params, grads)
            total += loss * len(xb)
            if collect_outputs:
                outputs.append(out)
        collected = np.concatenate(outputs).astype(np.float32) if collect_outputs else None
        return EpochResult(total / n, collected)

    def get_optimizer_state(self) -> dict[str, Array]:
        raise _undeclared("optimizer_state", "saving optimizer state")

    def set_optimizer_state(self, state: Weights) -> None:
        raise _undeclared("optimizer_state", "restoring optimizer state")

    # -- export ------------------------------------------------------------------------
    def export(self, path: str, format: str) -> None:
        """``npz``: the canonical weights, ``np.load(path)["dense/kernel"]``."""
        if format != "npz":
            raise NotSupportedError(f"the numpy backend exports 'npz', not {format!r}")
        target = Path(path)
        # Write a temporary file, then rename: a crash never leaves a half-written file.
        # (np.savez would append ".npz" to a path; writing to a file object does not.)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                # (numpy's stubs mistake **arrays for its allow_pickle keyword)
                np.savez(f, **self.get_weights())  # type: ignore[arg-type]
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _batches(data: SampleSource, plan: EpochPlan, dtype: type[np.floating[Any]]
             ) -> Iterator[tuple[Array, Array]]:
    """The plan's batches as NumPy arrays, in order."""
    if isinstance(data, ArrayData):
        # Fast path: whole arrays are already in memory; index them by each batch, with
        # no per-sample Python. (A GPU backend would copy x and y to the device once here.)
        x, y = np.asarray(data.x, dtype=dtype), data.y
        if y is None:
            raise DataError("training data has no targets (y); pass (x, y)")
        for idx in plan.batches():
            yield x[idx], y[idx]
    else:
        # Generic path: any SampleSource (e.g. a user's map-style Dataset) gathers a batch.
        for idx in plan.batches():
            xb, yb = data.take(idx)
            if yb is None:
                raise DataError("training data has no targets (y); pass (x, y)")
            yield xb, yb


def _undeclared(feature: str, what: str) -> NotSupportedError:
    return NotSupportedError(f"the numpy backend does not support {what} (feature "
                             f"{feature!r} is not declared)")
