"""Compiled training: one step for the generic path, a whole plan for in-memory arrays.

The fast path runs a whole plan (an epoch, or a chunk of one) inside a single
``tf.function``: the plan's order and per-step learning rates go to the device once per
call, batches are gathered there with ``tf.gather``, and the loop over batches is a graph
loop, so there is no Python (and no host sync) per step; the loss is accumulated on the
device.

Shapes are kept static (what XLA compiles best) without retracing for every plan length:
the full batches' order is padded to a power-of-two number of batches ``C`` and the loop
runs a dynamic count of steps, and the last, smaller batch of an epoch (never dropped) is
a statically shaped step after the loop, of the one size ``n % batch_size`` an epoch can
end with. An epoch run whole or in chunks of any length therefore uses a handful of
traces, reused from epoch to epoch.

Everything is compiled with XLA when possible: it fuses the loop body, which on CPU makes
an epoch of a small MLP several times faster than TF's graph executor. An op XLA cannot
compile makes :class:`Compiled` fall back to plain graph mode, with a warning.

Inputs, targets and outputs are tuples, one tensor per model input / output (a
``Sequential`` has one of each). The compiled functions take them flat, as trailing
positional arguments ``*x, *y``: a ``tf.function`` call binds nested arguments ~20 us
slower than flat ones, which is visible on small models' epochs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from unidl.spec.layers import Shape

from ._runtime import tf
from .losses import Objective
from .network import ForwardResult
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

#: ``forward(xs, training) -> (pre_activations, outputs)``, tuples of tensors.
Forward = Callable[[tuple[Any, ...], bool], ForwardResult]


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


def padded_batches(full: int) -> int:
    """The number of batch slots ``C`` a plan with ``full`` full batches is padded to."""
    return 0 if full == 0 else 1 << (full - 1).bit_length()


def _gather(arrays: tuple[Any, ...], idx: Any) -> tuple[Any, ...]:
    return tuple(tf.gather(a, idx) for a in arrays)


class Trainer:
    """Owns the compiled step/epoch functions for one loss + optimizer configuration.

    ``objective`` gives the batch loss and, with sample weights, the per-sample losses
    (batch loss = sum(w_i * loss_i) / batch size); ``n_inputs`` is the number of model
    inputs (how the flat ``*x, *y`` arguments split); ``output_shapes`` are the per-sample
    shapes of the model's outputs.
    """

    def __init__(self, forward: Forward, variables: list[Any], objective: Objective,
                 updater: Updater, n_inputs: int, output_shapes: tuple[Shape, ...],
                 jit_compile: bool = True) -> None:
        self._forward = forward
        self._n_inputs = n_inputs
        self._output_shapes = tuple(tuple(s) for s in output_shapes)
        self._variables = variables
        self._objective = objective
        self.updater = updater
        self._jit = jit_compile
        self._epoch_fns: dict[tuple[int, bool, bool], Compiled] = {}
        self._step_fns: dict[bool, Compiled] = {}
        self._replica_fns: dict[bool, Any] = {}

    def _step(self, x: tuple[Any, ...], y: tuple[Any, ...], w: Any,
              lr: Any) -> tuple[Any, tuple[Any, ...]]:
        """One optimizer step with learning rate ``lr`` and sample weights ``w`` (None:
        unweighted); returns the batch loss (before the step) and the outputs."""
        with tf.GradientTape() as tape:
            pres, outs = self._forward(x, True)
            if w is None:
                loss = self._objective.batch(y, pres, outs)
            else:
                per_sample = self._objective.per_sample(y, pres, outs)
                loss = tf.reduce_sum(tf.cast(w, per_sample.dtype) * per_sample) / tf.cast(
                    tf.shape(per_sample)[0], per_sample.dtype)
        grads = tape.gradient(loss, self._variables)
        self.updater.apply(grads, lr)
        return loss, outs

    def step_fn(self, weighted: bool) -> Compiled:
        """The compiled single step ``(lr, *x, *y)`` or, ``weighted``, ``(w, lr, *x,
        *y)``, returning ``(loss, outputs)``."""
        fn = self._step_fns.get(weighted)
        if fn is None:
            step, n = self._step, self._n_inputs
            body: Callable[..., Any] = (
                (lambda w, lr, *xy: step(xy[:n], xy[n:], w, lr)) if weighted
                else (lambda lr, *xy: step(xy[:n], xy[n:], None, lr)))
            fn = Compiled(body, self._jit, reduce_retracing=True)
            self._step_fns[weighted] = fn
        return fn

    def _replica_step(self, scale: Any, lr: Any, w: Any, x: tuple[Any, ...],
                      y: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        """One replica's part of a step on a global batch: its loss share (the sum of its
        samples' weighted losses times ``scale``, 1 / the global batch size), gradients
        summed over the replicas, then the same update on every replica's variables."""
        with tf.GradientTape() as tape:
            pres, outs = self._forward(x, True)
            per_sample = self._objective.per_sample(y, pres, outs)
            if w is not None:
                per_sample = tf.cast(w, per_sample.dtype) * per_sample
            loss = tf.reduce_sum(per_sample) * tf.cast(scale, per_sample.dtype)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                 for g, v in zip(tape.gradient(loss, self._variables), self._variables,
                                 strict=True)]
        context = tf.distribute.get_replica_context()
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        self.updater.apply(grads, lr)
        return loss, outs

    def replica_step_fn(self, strategy: Any, weighted: bool) -> Any:
        """The compiled step of one global batch on ``strategy``'s replicas, called with
        the per-replica values ``(scale, lr, w, *x, *y)`` (``w`` ignored unless
        ``weighted``); returns the per-replica ``(loss share, outputs)``. Graph mode:
        XLA does not compile the strategy's collectives."""
        fn = self._replica_fns.get(weighted)
        if fn is None:
            step, n = self._replica_step, self._n_inputs

            def replica(scale: Any, lr: Any, w: Any, *xy: Any) -> Any:
                return step(scale, lr, w if weighted else None, xy[:n], xy[n:])

            fn = tf.function(lambda values: strategy.run(replica, args=values),
                             reduce_retracing=True)
            self._replica_fns[weighted] = fn
        return fn

    def epoch_fn(self, batch_size: int, collect: bool, weighted: bool) -> Compiled:
        """The compiled plan function ``(w, order, lrs, count, *x, *y) -> (loss_sum,
        outputs)``, ``outputs`` a tuple (empty unless ``collect``).

        ``order`` holds ``C * batch_size`` padded indices of full batches (``C`` =
        ``len(lrs) - 1``), then the indices of the last, smaller batch if any; ``count``
        (int32) is how many of the ``C`` full batches to run; ``lrs[i]`` is the learning
        rate of full batch ``i`` and ``lrs[C]`` that of the smaller batch. ``w`` is ignored
        unless ``weighted``. Each of ``outputs`` has ``C * batch_size`` rows (the first
        ``count * batch_size`` are real) followed by the smaller batch's.
        """
        key = (batch_size, collect, weighted)
        fn = self._epoch_fns.get(key)
        if fn is None:
            fn = Compiled(self._make_epoch(batch_size, collect, weighted), self._jit)
            self._epoch_fns[key] = fn
        return fn

    def _make_epoch(self, bs: int, collect: bool,
                    weighted: bool) -> Callable[..., Any]:
        step, n = self._step, self._n_inputs
        shapes = self._output_shapes

        def run_plan(w: Any, order: Any, lrs: Any, count: Any,
                     *xy: Any) -> tuple[Any, tuple[Any, ...]]:
            x, y = xy[:n], xy[n:]
            slots = int(lrs.shape[0]) - 1  # static: C, a power of two (or 0)
            rest = int(order.shape[0]) - slots * bs  # static: the smaller last batch
            batches = tf.reshape(order[: slots * bs], [slots, bs])
            total = tf.constant(0.0, tf.float64)
            # element_shape: slots past ``count`` are never written and stack as zeros
            outs = [tf.TensorArray(tf.float32, size=slots, element_shape=[bs, *shape])
                    for shape in shapes] if collect else []
            if slots:  # no loop at all otherwise: XLA rejects slicing an empty table
                for i in tf.range(count):
                    idx = batches[i]
                    loss, out = step(_gather(x, idx), _gather(y, idx),
                                     tf.gather(w, idx) if weighted else None, lrs[i])
                    total += tf.cast(loss, tf.float64) * bs
                    if collect:
                        outs = [ta.write(i, o) for ta, o in zip(outs, out, strict=True)]
            pieces: list[list[Any]] = [[] for _ in shapes]
            if collect and slots:
                for piece, ta, shape in zip(pieces, outs, shapes, strict=True):
                    piece.append(tf.reshape(ta.stack(), [slots * bs, *shape]))
            if rest:
                idx = order[slots * bs:]
                loss, out = step(_gather(x, idx), _gather(y, idx),
                                 tf.gather(w, idx) if weighted else None, lrs[slots])
                total += tf.cast(loss, tf.float64) * rest
                if collect:
                    for piece, o in zip(pieces, out, strict=True):
                        piece.append(o)
            outputs = tuple(tf.concat(p, 0) for p in pieces) if collect else ()
            return total, outputs

        return run_plan
