"""Compiled training: one step for the generic path, one whole epoch for in-memory arrays.

The fast path runs an entire epoch inside a single ``tf.function``: the plan's order goes
to the device once per epoch, batches are gathered there with ``tf.gather``, and the loop
over batches is a graph loop, so there is no Python (and no host sync) per step; the epoch
loss is accumulated on the device. Full batches share one static shape; the last, smaller
batch of the plan (never dropped) is a second, statically shaped step after the loop, so
neither retraces from epoch to epoch.

Everything is compiled with XLA when possible: it fuses the loop body, which on CPU makes
an epoch of a small MLP several times faster than TF's graph executor. An op XLA cannot
compile makes :class:`Compiled` fall back to plain graph mode, with a warning.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from ._runtime import tf
from .losses import LossFn
from .optimizers import Updater

__all__ = ["Compiled", "Forward", "Trainer"]

_OWN = ("Trainer._make_epoch", "Trainer._step", "KerasModel.predict")


class _OwnRetracingFilter(logging.Filter):
    """Drop TF's "frequent retracing" warning for this package's functions only.

    Every model (each fit, each fold of a cross-validation) compiles its own functions
    from the same code, which TF's heuristic mistakes for a retracing bug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("tf.function retracing" in msg and any(o in msg for o in _OWN))


logging.getLogger("tensorflow").addFilter(_OwnRetracingFilter())

#: ``forward(x, training) -> (pre_activation, outputs)``.
Forward = Callable[[Any, bool], tuple[Any, Any]]


class Compiled:
    """A ``tf.function`` compiled with XLA if possible, else without.

    XLA compiles the whole function before running any of it, so a compile failure has
    changed no variable and the call can simply be repeated without XLA.
    """

    def __init__(self, fn: Callable[..., Any], jit_compile: bool, **kwargs: Any) -> None:
        self._fn, self._kwargs = fn, kwargs
        self.jit_compile = jit_compile
        self._compiled = tf.function(fn, jit_compile=jit_compile, **kwargs)

    def __call__(self, *args: Any) -> Any:
        try:
            return self._compiled(*args)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
            if not self.jit_compile or "XLA" not in str(e):
                raise
            warnings.warn(f"XLA cannot compile this model ({str(e).splitlines()[0][:200]}); "
                          "running without XLA, which is slower", RuntimeWarning,
                          stacklevel=2)
            self.jit_compile = False
            self._compiled = tf.function(self._fn, jit_compile=False, **self._kwargs)
            return self._compiled(*args)


class Trainer:
    """Owns the compiled step/epoch functions for one loss + optimizer configuration."""

    def __init__(self, forward: Forward, variables: list[Any], loss_fn: LossFn,
                 loss_on_pre_activation: bool, updater: Updater,
                 jit_compile: bool = True) -> None:
        self._forward = forward
        self._variables = variables
        self._loss_fn = loss_fn
        self._pre = loss_on_pre_activation
        self.updater = updater
        self._jit = jit_compile
        self._epoch_fns: dict[tuple[int, bool], Compiled] = {}
        self.step_fn = Compiled(self._step, jit_compile, reduce_retracing=True)

    def _step(self, x: Any, y: Any) -> tuple[Any, Any]:
        """One optimizer step; returns the batch loss (before the step) and the outputs."""
        with tf.GradientTape() as tape:
            pre, out = self._forward(x, True)
            loss = self._loss_fn(y, pre if self._pre else out)
        grads = tape.gradient(loss, self._variables)
        self.updater.apply(grads)
        return loss, out

    def epoch_fn(self, batch_size: int, collect: bool) -> Compiled:
        """The compiled whole-epoch function ``(x, y, order) -> (loss_sum, outputs)``."""
        key = (batch_size, collect)
        fn = self._epoch_fns.get(key)
        if fn is None:
            fn = Compiled(self._make_epoch(batch_size, collect), self._jit)
            self._epoch_fns[key] = fn
        return fn

    def _make_epoch(self, bs: int, collect: bool) -> Callable[[Any, Any, Any], Any]:
        step = self._step

        def run_epoch(x: Any, y: Any, order: Any) -> tuple[Any, Any]:
            n = int(order.shape[0])  # static: a new data length traces a new graph
            full, rest = divmod(n, bs)
            batches = tf.reshape(order[: full * bs], [full, bs])
            total = tf.constant(0.0, tf.float64)
            outs = tf.TensorArray(tf.float32, size=full if collect else 0)
            for i in tf.range(full):
                idx = batches[i]
                loss, out = step(tf.gather(x, idx), tf.gather(y, idx))
                total += tf.cast(loss, tf.float64) * bs
                if collect:
                    outs = outs.write(i, out)
            pieces = []
            if collect and full:
                stacked = outs.stack()
                pieces.append(tf.reshape(stacked, tf.concat([[full * bs],
                                                             tf.shape(stacked)[2:]], 0)))
            if rest:
                idx = order[full * bs:]
                loss, out = step(tf.gather(x, idx), tf.gather(y, idx))
                total += tf.cast(loss, tf.float64) * rest
                pieces.append(out)
            outputs = tf.concat(pieces, 0) if collect and pieces else tf.zeros([0])
            return total, outputs

        return run_epoch
