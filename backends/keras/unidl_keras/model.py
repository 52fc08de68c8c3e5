"""``KerasModel``: a unidl spec living as a Keras model on one TensorFlow device.

A ``Sequential`` runs as a ``keras.Sequential``, a ``Graph`` as a functional
``keras.Model`` (see ``graph``). Inside, inputs, targets and outputs are always tuples,
one entry per model input / output; only the public methods unwrap them for a
``Sequential``, whose contract speaks of single arrays.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import numpy.typing as npt

from unidl.backend import EpochResult, OutputLoss, Outputs, TrainingSetup, Weights
from unidl.data import ArrayData, EpochPlan, SampleSource, plan_batches, shard_batch
from unidl.errors import BackendError, DataError, NotSupportedError, SpecError
from unidl.spec import LOSS_KINDS, Graph
from unidl.spec.layers import Shape
from unidl.spec.serialize import ModelSpec

from . import distributed
from . import export as _export
from ._runtime import tf
from .builders import prefers_xla
from .devices import tf_device
from .graph import build_graph
from .losses import Objective
from .network import ForwardResult, Network, build_network
from .optimizers import make_updater
from .training import Compiled, Trainer, padded_batches

__all__ = ["KerasModel"]

Arrays = tuple[npt.NDArray[Any], ...]


class KerasModel:
    """Satisfies ``unidl.backend.BackendModel``; ``keras_model`` is the native model."""

    def __init__(self, spec: ModelSpec, weights: Weights, device: str) -> None:
        self._spec = spec
        self._device = device
        self._tf_device = tf_device(device)
        self._is_graph = isinstance(spec, Graph)
        self._input_shapes: tuple[Shape, ...]
        if isinstance(spec, Graph):
            self._input_shapes = spec.input_shapes
            self._output_shapes = spec.output_shapes
            self._activations = spec.output_activations
        else:
            self._input_shapes = (spec.input_shape,)
            self._output_shapes = (spec.output_shape,)
            self._activations = (spec.final_activation,)
        #: tf.distribute's MirroredStrategy in a process ``fit(devices=N)`` started: the
        #: variables are mirrored on its replicas, and training steps run on them
        self._strategy = distributed.strategy()
        with self._placement():
            self._net: Network = (build_graph(spec) if isinstance(spec, Graph)
                                  else build_network(spec))
        # The underlying tf.Variables: what the tape differentiates and the kernels update.
        self._vars: dict[str, Any] = {k: v.value for k, v in self._net.params.items()}
        self._trainable_names = [k for k, info in spec.params.items() if info.trainable]
        self._trainable = [self._vars[k] for k in self._trainable_names]
        self.set_weights(weights)
        self._trainer: Trainer | None = None
        self._seed = 0
        self._predict_fn: Any = None
        # (data, target dtypes, x, y, sample weights or None) on the device
        self._cache: tuple[weakref.ref[Any], tuple[Any, ...], Any, Any, Any] | None = None
        self._target_dtypes: tuple[Any, ...] = ()  # per output: np.int64 or np.float32
        #: Compile training with XLA (read by configure). It fuses the whole epoch loop: on
        #: CPU 1.4x-8x faster than plain graph mode on MLPs. Falls back if XLA refuses.
        #: A layer whose builder says XLA compiles it into slower code (the recurrent ones,
        #: see ``builders.recurrent``) keeps the model in graph mode.
        self.jit_compile = all(prefers_xla(layer) for layer in spec.layers)

    # -- BackendModel ------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self._device

    @property
    def keras_model(self) -> Any:
        """The ``keras.Sequential``, or a ``Graph``'s functional ``keras.Model`` (for
        people who want to keep going in Keras)."""
        return self._net.model

    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]:
        return {k: np.array(v.numpy(), dtype=np.float32) for k, v in self._vars.items()}

    def set_weights(self, weights: Weights) -> None:
        for k, v in self._vars.items():
            v.assign(np.asarray(weights[k], dtype=np.float32))

    def predict(self, x: Any, batch_size: int) -> Outputs:
        # integer indices stay integer
        xs = tuple(np.asarray(a, dtype=d)
                   for a, d in zip(self._per_input(x), self._net.input_dtypes, strict=True))
        if self._predict_fn is None:
            sig = [tf.TensorSpec([None, *shape], dtype) for shape, dtype
                   in zip(self._input_shapes, self._net.input_dtypes, strict=True)]
            # Same compiler as training, so predict() and training outputs agree to the ulp
            # (XLA's and TF's sigmoid differ in the last bit, which saturated
            # probabilities turn into visible loss differences).
            self._predict_fn = Compiled(lambda *xb: self._forward(xb, False)[1],
                                        self.jit_compile, input_signature=sig)
        step = max(int(batch_size), 1)
        batches: list[Arrays] = []
        with tf.device(self._tf_device):
            for start in range(0, len(xs[0]), step):
                xb = [tf.convert_to_tensor(a[start:start + step]) for a in xs]
                batches.append(tuple(o.numpy() for o in self._predict_fn(*xb)))
        return self._unwrap(tuple(
            np.concatenate([b[k] for b in batches]).astype(np.float32, copy=False) if batches
            else np.zeros((0, *shape), np.float32)
            for k, shape in enumerate(self._output_shapes)))

    def configure(self, setup: TrainingSetup) -> None:
        outputs = setup.outputs or tuple(OutputLoss(setup.loss, 1.0, setup.logits_loss)
                                         for _ in self._output_shapes)
        if len(outputs) != len(self._output_shapes):
            raise SpecError(f"the training setup has {len(outputs)} output losses for a "
                            f"model with {len(self._output_shapes)} outputs",
                            "TrainingSetup.outputs")
        for k, (out, final) in enumerate(zip(outputs, self._activations, strict=True)):
            # the fused cross-entropies the core may request (OutputLoss.logits_loss)
            if out.logits_loss and out.loss.kind.fuses_with != final:
                where = f" of output {k}" if self._is_graph else ""
                pairs = ", ".join(f"{kind.fuses_with} + {name}"
                                  for name, kind in LOSS_KINDS.items() if kind.fuses_with)
                raise NotSupportedError(
                    f"logits_loss asks for {out.loss.name} on the pre-activation{where} of "
                    f"a model ending in {final!r}; only these can be fused: {pairs}"
                )
        self._target_dtypes = tuple(
            np.int64 if out.loss.kind.target == "class_index" else np.float32
            for out in outputs)
        with self._placement():
            updater = make_updater(setup.optimizer, self._trainable, self._trainable_names)
            self._trainer = Trainer(self._forward, self._trainable, Objective(outputs),
                                    updater, len(self._input_shapes), self._output_shapes,
                                    jit_compile=self.jit_compile)
        self._seed = int(setup.seed)
        self._seed_dropout(self._seed, 0)

    def set_learning_rate(self, lr: float) -> None:
        """Change the learning rate used when a plan brings none (keeps the state)."""
        self._require_trainer().updater.set_learning_rate(lr)

    def get_optimizer_state(self) -> dict[str, npt.NDArray[Any]]:
        if self._trainer is None:
            return {}
        return self._trainer.updater.get_state()

    def set_optimizer_state(self, state: Weights) -> None:
        self._require_trainer().updater.set_state(state)

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        trainer = self._require_trainer()
        n = len(plan.order)
        if plan.first_batch == 0:  # a new epoch: its own dropout stream, whatever came before
            self._seed_dropout(self._seed, plan.epoch)
        if n == 0:  # the contract's choice, as on every backend
            raise DataError("the epoch plan is empty: there is no sample to train on")
        lrs = self._step_rates(plan)
        if self._strategy is not None:
            loss, outputs = self._replicated_epoch(trainer, data, plan, lrs, collect_outputs)
            return self._result(loss, outputs, n)
        with tf.device(self._tf_device):
            if isinstance(data, ArrayData):
                loss, outputs = self._fast_epoch(trainer, data, plan, lrs, collect_outputs)
            else:
                loss, outputs = self._generic_epoch(trainer, data, plan, lrs,
                                                    collect_outputs)
        return self._result(loss, outputs, n)

    def _result(self, loss: float, outputs: Arrays | None, n: int) -> EpochResult:
        if outputs is None:
            return EpochResult(loss, None)
        return EpochResult(loss, self._unwrap(tuple(
            np.asarray(o, np.float32).reshape(n, *shape)
            for o, shape in zip(outputs, self._output_shapes, strict=True))))

    def export(self, path: str, format: str = "keras") -> None:
        _export.export(self._net.model, path, format)

    # -- internals ---------------------------------------------------------------------
    def _placement(self) -> Any:
        """Where variables are made: the strategy's replicas, or the model's device."""
        return (self._strategy.scope() if self._strategy is not None
                else tf.device(self._tf_device))

    def _forward(self, xs: tuple[Any, ...], training: bool) -> ForwardResult:
        return self._net.forward(xs, training)

    def _per_input(self, x: Any) -> tuple[Any, ...]:
        """``x`` as one entry per model input (a ``Graph`` takes a tuple or list, or one
        array if it has one input)."""
        if not self._is_graph:
            return (x,)
        count = len(self._input_shapes)
        if count == 1 and not isinstance(x, (tuple, list)):
            return (x,)
        if not isinstance(x, (tuple, list)) or len(x) != count:
            got = f"{len(x)} arrays" if isinstance(x, (tuple, list)) else type(x).__name__
            raise DataError(f"the model has {count} inputs; pass a tuple of {count} arrays "
                            f"in input order, got {got}")
        return tuple(x)

    def _unwrap(self, values: Arrays) -> Outputs:
        """Per-output arrays as the contract returns them: the tuple for a ``Graph``, the
        one array for a ``Sequential``."""
        return values if self._is_graph else values[0]

    def _require_trainer(self) -> Trainer:
        if self._trainer is None:
            raise BackendError("KerasModel.configure(setup) must be called before training")
        return self._trainer

    def _seed_dropout(self, seed: int, epoch: int) -> None:
        """Restart every Dropout layer's random stream from ``(seed, epoch)`` (one stream
        per layer); the stream then runs on through the epoch's chunks."""
        for i, layer in enumerate(self._net.dropouts):
            s = int(np.random.SeedSequence([seed, epoch, 0x0D, i]).generate_state(1)[0]
                    & 0x7FFFFFFF)
            layer.seed_generator.state.assign(np.array([s, 0]))

    def _step_rates(self, plan: EpochPlan) -> npt.NDArray[np.float32]:
        """The learning rate of every batch of ``plan`` (float32)."""
        steps = len(plan)
        if plan.learning_rates is None:
            return np.full(steps, self._require_trainer().updater.lr, np.float32)
        rates = np.asarray(plan.learning_rates, dtype=np.float64).reshape(-1)
        if len(rates) != steps:
            raise DataError(f"the plan has {steps} batches but {len(rates)} learning rates")
        return rates.astype(np.float32)

    def _targets(self, y: Any) -> Arrays:
        """``y`` per output, in each output's target dtype (class indices: int64)."""
        if y is None:
            raise DataError("training data has no targets (y); pass (x, y)")
        ys = tuple(y) if self._is_graph and isinstance(y, (tuple, list)) else (y,)
        if len(ys) != len(self._target_dtypes):
            raise DataError(f"the model has {len(self._target_dtypes)} outputs but the "
                            f"data has {len(ys)} target arrays")
        return tuple(np.asarray(a, dtype=d)
                     for a, d in zip(ys, self._target_dtypes, strict=True))

    def _device_arrays(self, data: ArrayData) -> tuple[Any, Any, Any]:
        """``data`` as device tensors ``(x, y, sample weights or None)`` (``x``, ``y``
        tuples), converted once and reused while it is the same object."""
        c = self._cache
        if c is not None and c[0]() is data and c[1] == self._target_dtypes:
            return c[2], c[3], c[4]
        self._cache = None  # free the previous arrays before copying new ones
        x = tuple(tf.convert_to_tensor(np.asarray(a)) for a in self._per_input(data.x))
        y = tuple(tf.convert_to_tensor(a) for a in self._targets(data.y))
        w = self._sample_weights(data)
        w = None if w is None else tf.convert_to_tensor(w)
        me = weakref.ref(self)

        def release(_: object) -> None:  # the data is gone: free its device copy too
            model = me()
            if model is not None and model._cache is not None and model._cache[0]() is None:
                model._cache = None

        self._cache = (weakref.ref(data, release), self._target_dtypes, x, y, w)
        return x, y, w

    @staticmethod
    def _sample_weights(data: SampleSource) -> npt.NDArray[np.float32] | None:
        w = getattr(data, "sample_weight", None)
        if w is None:
            return None
        w = np.asarray(w, dtype=np.float32).reshape(-1)
        if len(w) != len(data):
            raise DataError(f"sample_weight has {len(w)} entries for {len(data)} samples")
        return w

    def _fast_epoch(self, trainer: Trainer, data: ArrayData, plan: EpochPlan,
                    lrs: npt.NDArray[np.float32], collect: bool) -> tuple[float, Arrays | None]:
        """The plan as one compiled call (see ``training``): full batches padded to a
        power-of-two count of slots, then the smaller last batch."""
        x, y, w = self._device_arrays(data)
        bs, n = int(plan.batch_size), len(plan.order)
        full, rest = divmod(n, bs)
        slots = padded_batches(full)
        order = np.zeros(slots * bs + rest, np.int64)
        order[:full * bs] = plan.order[:full * bs]
        order[slots * bs:] = plan.order[full * bs:]
        rates = np.zeros(slots + 1, np.float32)
        rates[:full] = lrs[:full]
        if rest:
            rates[slots] = lrs[full]
        fn = trainer.epoch_fn(bs, collect, w is not None)
        total, outs = fn(tf.zeros([0]) if w is None else w, tf.constant(order),
                         tf.constant(rates), tf.constant(full, tf.int32), *x, *y)
        loss = float(total.numpy()) / n  # the one host sync of the call
        if not collect:
            return loss, None
        return loss, tuple(np.concatenate([o[:full * bs], o[slots * bs:]])
                           for o in (t.numpy() for t in outs))

    def _generic_epoch(self, trainer: Trainer, data: SampleSource, plan: EpochPlan,
                       lrs: npt.NDArray[np.float32], collect: bool
                       ) -> tuple[float, Arrays | None]:
        weights = self._sample_weights(data)
        step = trainer.step_fn(weights is not None)
        total = tf.constant(0.0, tf.float64)
        outs: list[tuple[Any, ...]] = []
        for i, (idx, xb, yb) in enumerate(plan_batches(data, plan)):  # read ahead
            args = [tf.constant(lrs[i]),
                    *(tf.convert_to_tensor(np.asarray(a)) for a in self._per_input(xb)),
                    *(tf.convert_to_tensor(a) for a in self._targets(yb))]
            if weights is not None:
                args.insert(0, tf.convert_to_tensor(weights[idx]))
            loss, out = step(*args)
            total += tf.cast(loss, tf.float64) * len(idx)  # stays on device: no sync per step
            if collect:
                outs.append(out)
        outputs = (tuple(tf.concat([o[k] for o in outs], 0).numpy()
                         for k in range(len(self._output_shapes))) if collect else None)
        return float(total.numpy()) / len(plan.order), outputs

    def _replicated_epoch(self, trainer: Trainer, data: SampleSource, plan: EpochPlan,
                          lrs: npt.NDArray[np.float32], collect: bool
                          ) -> tuple[float, Arrays | None]:
        """The plan on the strategy's replicas: replica ``r`` trains on part ``r`` of every
        global batch (``shard_batch``), with its loss share of the global mean. A batch
        smaller than the replicas (the plan's last) goes whole to every replica, each with
        ``1 / replicas`` of its loss: the summed gradients and the synchronized BatchNorm
        statistics are then those of the batch, and no replica runs on zero rows (which
        TensorFlow's convolution gradients do not support)."""
        strategy = self._strategy
        replicas = int(strategy.num_replicas_in_sync)
        weights = self._sample_weights(data)
        step = trainer.replica_step_fn(strategy, weights is not None)
        losses: list[Any] = []
        outs: list[tuple[Any, ...]] = []
        for i, (idx, xb, yb) in enumerate(plan_batches(data, plan)):  # read ahead
            size = len(idx)
            columns = [np.asarray(a) for a in self._per_input(xb)] + list(self._targets(yb))
            w = (np.zeros(size, np.float32) if weights is None
                 else np.asarray(weights[idx], np.float32))
            whole = size < replicas
            fixed = (np.float32(1.0 / (size * replicas if whole else size)), lrs[i])

            def part(ctx: Any, columns: list[Any] = columns, w: Any = w, size: int = size,
                     whole: bool = whole, fixed: tuple[Any, ...] = fixed) -> tuple[Any, ...]:
                rows = (slice(0, size) if whole
                        else shard_batch(size, ctx.replica_id_in_sync_group, replicas))
                return tuple(tf.convert_to_tensor(a) for a in
                             (*fixed, w[rows], *(c[rows] for c in columns)))

            loss, out = step(strategy.experimental_distribute_values_from_function(part))
            losses.append(loss)
            if collect:  # the replicas' parts, in replica order, are the batch's rows
                local = strategy.experimental_local_results(out)[:1 if whole else None]
                outs.append(tuple(tf.concat([r[k] for r in local], 0)
                                  for k in range(len(self._output_shapes))))
        total = sum(float(np.sum(strategy.experimental_local_results(loss_), dtype=np.float64))
                    * len(b) for loss_, b in zip(losses, plan.batches(), strict=True))
        outputs = (tuple(np.concatenate([o[k].numpy() for o in outs])
                         for k in range(len(self._output_shapes))) if collect else None)
        return total / len(plan.order), outputs
