"""``NumpyModel``: the ``BackendModel`` — weights, predict, training epochs and export."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from unidl import BackendError, DataError, NotSupportedError
from unidl.backend import EpochResult, TrainingSetup, Weights
from unidl.data import ArrayData, EpochPlan, SampleSource
from unidl.spec import Sequential

from .layers import Act, Drop, Step, compile_steps
from .losses import loss_and_grad
from .optimizers import OptimizerStep, make_optimizer

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
        self.optimizer: OptimizerStep | None = None

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

    def loss_and_grads(self, x: Array, y: Array, weights: Array | None = None
                       ) -> tuple[float, dict[str, Array], Array]:
        """One batch in training mode: the loss, every parameter's gradient, and the
        outputs (after the final activation). Needs ``configure`` first; the optimizer is
        not touched."""
        if self.setup is None:
            raise BackendError("NumpyModel.configure(setup) must be called before training")
        x = np.asarray(x, dtype=self.dtype)
        self._training(True)
        steps, head = self.steps, None
        if self.setup.logits_loss:  # stop before the final softmax/sigmoid (see layers.py)
            head = steps[-1]
            assert isinstance(head, Act)
            steps = steps[:-1]
        logits = self.setup.logits_loss or self.setup.loss.from_logits
        out, caches = self.forward(x, steps)
        self._training(False)
        loss, g = loss_and_grad(self.setup.loss, y, out, logits, weights)
        grads = self.backward(g, steps, caches)
        if head is not None:
            out = head.forward(self.params, out)[0]
        return loss, grads, out

    def _training(self, on: bool) -> None:
        for step in self.steps:
            if isinstance(step, Drop):
                step.training = on

    # -- inference ---------------------------------------------------------------------
    def predict(self, x: npt.NDArray[Any], batch_size: int) -> npt.NDArray[np.float32]:
        # Inference mode: the Dropout steps are off unless a training step is running.
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
        self._seed_dropout(setup.seed, 0)

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        optimizer = self._require_optimizer("training")
        n = len(plan.order)
        if n == 0:
            raise DataError("the epoch plan is empty: there is no sample to train on")
        lrs = _step_rates(plan, optimizer.spec.lr)
        if plan.first_batch == 0:  # a new epoch: masks from (seed, epoch), then run on
            self._seed_dropout(self.setup.seed if self.setup else 0, plan.epoch)
        total, outputs = 0.0, []
        for (xb, yb, wb), lr in zip(_batches(data, plan, self.dtype), lrs, strict=True):
            loss, grads, out = self.loss_and_grads(xb, yb, wb)  # loss before the step
            optimizer.step(self.params, grads, lr)
            total += loss * len(xb)
            if collect_outputs:
                outputs.append(out)
        collected = np.concatenate(outputs).astype(np.float32) if collect_outputs else None
        return EpochResult(total / n, collected)

    def _seed_dropout(self, seed: int, epoch: int) -> None:
        """One random stream per Dropout step, from ``SeedSequence([seed, epoch])``."""
        drops = [s for s in self.steps if isinstance(s, Drop)]
        streams = np.random.SeedSequence([seed, epoch]).spawn(len(drops))
        for drop, stream in zip(drops, streams, strict=True):
            drop.rng = np.random.default_rng(stream)

    def _require_optimizer(self, what: str) -> OptimizerStep:
        if self.optimizer is None:
            raise BackendError(f"NumpyModel.configure(setup) must be called before {what}")
        return self.optimizer

    def get_optimizer_state(self) -> dict[str, Array]:
        return {} if self.optimizer is None else self.optimizer.get_state()

    def set_optimizer_state(self, state: Weights) -> None:
        self._require_optimizer("set_optimizer_state").set_state(state)

    # -- export ------------------------------------------------------------------------
    def export(self, path: str, format: str) -> None:
        """``npz``: the canonical weights, ``np.load(path)["dense/kernel"]``."""
        if format != "npz":
            raise NotSupportedError(f"the numpy backend exports 'npz', not {format!r}")
        target = Path(path)
        # Write a temporary file, then rename: a crash never leaves a half-written file.
        # (np.savez would append ".npz" to a path; writing to a file object does not.)
        # Created with mode 0o666 less the umask, like any file a program writes
        # (tempfile.mkstemp would make it private to the user whatever the umask).
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                # (numpy's stubs mistake **arrays for its allow_pickle keyword)
                np.savez(f, **self.get_weights())  # type: ignore[arg-type]
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _batches(data: SampleSource, plan: EpochPlan, dtype: type[np.floating[Any]]
             ) -> Iterator[tuple[Array, Array, Array | None]]:
    """The plan's batches as NumPy arrays ``(x, y, sample weights or None)``, in order."""
    weights = data.sample_weight
    if isinstance(data, ArrayData):
        # Fast path: whole arrays are already in memory; index them by each batch, with
        # no per-sample Python. (A GPU backend would copy x and y to the device once here.)
        x, y = np.asarray(data.x, dtype=dtype), data.y
        if y is None:
            raise DataError("training data has no targets (y); pass (x, y)")
        y = np.asarray(y)  # one output: a Graph (tuples) never reaches us
        for idx in plan.batches():
            yield x[idx], y[idx], None if weights is None else weights[idx]
    else:
        # Generic path: any SampleSource (e.g. a user's map-style Dataset) gathers a batch.
        for idx in plan.batches():
            xb, yb = data.take(idx)
            if yb is None:
                raise DataError("training data has no targets (y); pass (x, y)")
            yield np.asarray(xb), np.asarray(yb), None if weights is None else weights[idx]


def _step_rates(plan: EpochPlan, lr: float) -> list[float]:
    """The learning rate of every step of ``plan``: its own rates, or the spec's ``lr``."""
    if plan.learning_rates is None:
        return [lr] * len(plan)
    rates = [float(r) for r in np.asarray(plan.learning_rates, dtype=np.float64).ravel()]
    if len(rates) != len(plan):
        raise DataError(f"the epoch plan has {len(plan)} batches but {len(rates)} "
                        "learning rates")
    return rates
