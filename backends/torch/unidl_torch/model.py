"""``TorchModel``: a unidl model living on one torch device (the ``BackendModel``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unidl import BackendError, DataError
from unidl.backend import EpochResult, TrainingSetup, Weights
from unidl.data import ArrayData, EpochPlan, SampleSource
from unidl.spec import Optimizer, Sequential

from .data import DeviceArrays, as_input, as_target, as_weights
from .devices import full_precision
from .export import save
from .layers import DropoutRng, Net
from .losses import LossFn, WeightedLossFn, loss_fn, weighted_loss_fn
from .optimizer_state import load_state, state_of
from .optimizers import make_optimizer
from .weights import Slot, slots

__all__ = ["TorchModel", "epoch_seed"]

#: (x, y, sample weights or None) of one batch, on the device
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def epoch_seed(seed: int, epoch: int) -> int:
    """The dropout seed of ``epoch``: a function of ``(seed, epoch)`` alone, so an epoch
    draws the same masks whether it runs whole, in chunks, or after a resume."""
    return int(np.random.SeedSequence([int(seed) % 2**63, int(epoch)]).generate_state(1)[0])


def _clipper(spec: Optimizer, params: tuple[torch.nn.Parameter, ...]
             ) -> Callable[[], object] | None:
    """The optimizer spec's gradient clipping as one call, or None when it does not clip.

    ``clipvalue`` clamps every gradient element, then ``clipnorm`` scales all gradients by
    ``min(1, clipnorm / (norm + 1e-6))`` with ``norm`` their global L2 norm: exactly
    ``torch.nn.utils.clip_grad_norm_`` (both use the multi-tensor kernels where torch has
    them, and neither synchronises with the device).
    """
    if not spec.clips or not params:
        return None
    clipvalue, clipnorm = spec.clipvalue, spec.clipnorm
    clip_value, clip_norm = torch.nn.utils.clip_grad_value_, torch.nn.utils.clip_grad_norm_

    def clip() -> None:
        if clipvalue is not None:
            clip_value(params, clipvalue)
        if clipnorm is not None:
            clip_norm(params, clipnorm)
    return clip


class TorchModel:
    """Build once, then predict / configure / train_epoch / export (see ``unidl.backend``)."""

    def __init__(self, spec: Sequential, weights: Weights, device: str) -> None:
        self.spec = spec
        self._device_name = device
        self._device = torch.device(device)
        self._rng = DropoutRng(self._device)
        self.net = Net(spec, self._rng, self._device)
        self._slots = slots(spec, self.net)
        self._params = tuple(p for p in self.net.parameters() if p.requires_grad)
        self._arrays = DeviceArrays(self._device)
        self._optimizer: torch.optim.Optimizer | None = None
        self._optimizer_spec: Optimizer | None = None
        self._loss: LossFn | None = None
        self._weighted_loss: WeightedLossFn | None = None
        self._clip: Callable[[], object] | None = None
        self._seed = 0
        self._steps = 0  # optimizer steps since configure (the canonical "step")
        self._fused_head = False
        self._class_indices = False
        self.set_weights(weights)

    @property
    def device(self) -> str:
        return self._device_name

    # -- weights ----------------------------------------------------------------------
    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]:
        return {slot.name: slot.get() for slot in self._slots}

    def set_weights(self, weights: Weights) -> None:
        for slot in self._slots:
            slot.set(weights[slot.name])

    # -- inference --------------------------------------------------------------------
    def predict(self, x: npt.NDArray[Any], batch_size: int) -> npt.NDArray[np.float32]:
        xt = as_input(x)
        n = int(xt.shape[0])
        if n == 0:
            return np.zeros((0, *self.spec.output_shape), np.float32)
        self.net.eval()
        device, forward = self._device, self.net.forward
        with torch.inference_mode(), full_precision(device):
            outs = [forward(xt[i:i + batch_size].to(device, non_blocking=True))
                    for i in range(0, n, batch_size)]
            y = outs[0] if len(outs) == 1 else torch.cat(outs)
            result = y.to("cpu").numpy()
        return np.asarray(result, dtype=np.float32)

    # -- training ---------------------------------------------------------------------
    def configure(self, setup: TrainingSetup) -> None:
        self._seed = setup.seed
        self._rng.generator.manual_seed(setup.seed)
        # torch refuses an optimizer without parameters; such a model only runs forward
        self._optimizer = make_optimizer(setup.optimizer, self._params or
                                         [torch.nn.Parameter(torch.zeros(1))], self._device)
        self._optimizer_spec = setup.optimizer
        logits = setup.logits_loss or setup.loss.from_logits
        self._loss = loss_fn(setup.loss, logits=logits)
        self._weighted_loss = weighted_loss_fn(setup.loss, logits=logits)
        self._clip = _clipper(setup.optimizer, self._params)
        self._steps = 0
        self._fused_head = setup.logits_loss and self.net.head is not None
        self._class_indices = setup.loss.name == "sparse_categorical_crossentropy"

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        if self._optimizer is None or self._loss is None:
            raise BackendError("TorchModel.configure(setup) must be called before train_epoch")
        n = len(plan.order)
        if n == 0:
            raise DataError("the epoch plan is empty: there is no sample to train on")
        lrs = self._learning_rates(plan)
        if plan.first_batch == 0:  # an epoch starts: its masks depend on (seed, epoch) only
            self._rng.generator.manual_seed(epoch_seed(self._seed, plan.epoch))
        self.net.train()
        with full_precision(self._device):
            batches = (self._device_batches(data, plan) if isinstance(data, ArrayData)
                       else self._host_batches(data, plan))
            losses, outputs = self._run(batches, lrs, collect_outputs)
            self._steps += len(losses)
            sizes = np.diff(np.minimum(np.arange(len(losses) + 1) * plan.batch_size, n))
            per_batch = torch.stack(losses).to("cpu", torch.float64).numpy()  # the one sync
            collected = None
            if outputs is not None:
                collected = np.asarray(torch.cat(outputs).to("cpu").numpy(), np.float32)
        return EpochResult(float(per_batch @ sizes) / n, collected)

    def _learning_rates(self, plan: EpochPlan) -> list[float] | None:
        """The plan's per-step learning rates as Python floats (what torch's kernels take),
        or None: then the spec's own ``lr`` applies (restored if a schedule changed it)."""
        assert self._optimizer is not None and self._optimizer_spec is not None
        group = self._optimizer.param_groups[0]
        if plan.learning_rates is None:
            if group["lr"] != self._optimizer_spec.lr:
                group["lr"] = self._optimizer_spec.lr
            return None
        lrs = np.asarray(plan.learning_rates, dtype=np.float64).reshape(-1)
        if len(lrs) != len(plan):
            raise DataError(f"the epoch plan has {len(plan)} batches but "
                            f"{len(lrs)} learning rates")
        values: list[float] = lrs.tolist()
        return values

    def _device_batches(self, data: ArrayData, plan: EpochPlan) -> Iterator[Batch]:
        """Fast path: data lives on the device; batches are gathered (or sliced) there."""
        x, y, w = self._arrays.get(data, self._class_indices)
        order, bs = plan.order, plan.batch_size
        start, stop = int(order[0]), int(order[0]) + len(order)
        if np.array_equal(order, np.arange(start, stop)):  # a contiguous run: views
            x, y, n = x[start:stop], y[start:stop], stop - start
            if w is None:
                return ((x[i:i + bs], y[i:i + bs], None) for i in range(0, n, bs))
            w = w[start:stop]
            return ((x[i:i + bs], y[i:i + bs], w[i:i + bs]) for i in range(0, n, bs))
        index = torch.from_numpy(np.ascontiguousarray(order, np.int64)).to(self._device)
        if w is None:
            return ((x.index_select(0, i), y.index_select(0, i), None)
                    for i in torch.split(index, bs))
        return ((x.index_select(0, i), y.index_select(0, i), w.index_select(0, i))
                for i in torch.split(index, bs))

    def _host_batches(self, data: SampleSource, plan: EpochPlan) -> Iterator[Batch]:
        """Generic path: any ``SampleSource`` gathers each batch in NumPy."""
        device = self._device
        weights = getattr(data, "sample_weight", None)
        for indices in plan.batches():
            xb, yb = data.take(indices)
            if yb is None:
                raise DataError("training data has no targets (y); pass (x, y)")
            yield (as_input(xb).to(device, non_blocking=True),
                   as_target(yb, self._class_indices).to(device, non_blocking=True),
                   None if weights is None else
                   as_weights(np.asarray(weights)[indices]).to(device, non_blocking=True))

    def _run(self, batches: Iterable[Batch], lrs: list[float] | None, collect: bool
             ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """The training steps. Everything is looked up once; the loop only launches work.

        Losses stay on the device (no ``.item()`` per step, which would sync every batch);
        outputs are detached and concatenated once by the caller. Per-step learning rates,
        sample weights and clipping each cost one Python test per step when unused.
        """
        assert self._optimizer is not None and self._loss is not None
        assert self._weighted_loss is not None
        params, loss_fn_, weighted = self._params, self._loss, self._weighted_loss
        group = self._optimizer.param_groups[0]
        step: Callable[[], object] = self._optimizer.step
        backward: Callable[[torch.Tensor], object] = torch.autograd.backward
        clip = self._clip
        if not params:  # nothing to learn (e.g. only Dropout): still report loss and outputs
            step, backward = _nothing, _nothing
        forward = self.net.pre if self._fused_head else self.net.forward
        head = self.net.head if self._fused_head else None
        losses: list[torch.Tensor] = []
        outputs: list[torch.Tensor] | None = [] if collect else None
        for xb, yb, wb in batches:
            for p in params:  # zero_grad(set_to_none=True) without its profiler wrapper
                p.grad = None
            out = forward(xb)
            loss = loss_fn_(out, yb) if wb is None else weighted(out, yb, wb)
            backward(loss)
            if clip is not None:
                clip()
            if lrs is not None:
                group["lr"] = lrs[len(losses)]
            step()
            losses.append(loss.detach())
            if outputs is not None:
                out = out.detach()
                outputs.append(out if head is None else head(out))
        return losses, outputs

    # -- optimizer state --------------------------------------------------------------
    def get_optimizer_state(self) -> dict[str, npt.NDArray[Any]]:
        if self._optimizer is None or self._optimizer_spec is None:
            return {}
        return state_of(self._optimizer, self._optimizer_spec, self._trainable_slots(),
                        self._steps)

    def set_optimizer_state(self, state: Weights) -> None:
        if self._optimizer is None or self._optimizer_spec is None:
            raise BackendError("TorchModel.configure(setup) must be called before "
                               "set_optimizer_state")
        self._steps = load_state(self._optimizer, self._optimizer_spec,
                                 self._trainable_slots(), state)

    def _trainable_slots(self) -> list[Slot]:
        trainable = {id(p) for p in self._params}
        return [slot for slot in self._slots if id(slot.tensor) in trainable]

    # -- export -----------------------------------------------------------------------
    def export(self, path: str, format: str = "torch") -> None:
        save(self.net, path, format)


def _nothing(*args: object) -> None:
    return None
