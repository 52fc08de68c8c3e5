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
from unidl.spec import Sequential

from .data import DeviceArrays, as_input, as_target
from .devices import full_precision
from .export import save
from .layers import DropoutRng, Net
from .losses import LossFn, loss_fn
from .optimizers import make_optimizer
from .weights import slots

__all__ = ["TorchModel"]

Batch = tuple[torch.Tensor, torch.Tensor]


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
        self._loss: LossFn | None = None
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
        self._rng.generator.manual_seed(setup.seed)
        # torch refuses an optimizer without parameters; such a model only runs forward
        self._optimizer = make_optimizer(setup.optimizer, self._params or
                                         [torch.nn.Parameter(torch.zeros(1))], self._device)
        self._loss = loss_fn(setup.loss, logits=setup.logits_loss or setup.loss.from_logits)
        self._fused_head = setup.logits_loss and self.net.head is not None
        self._class_indices = setup.loss.name == "sparse_categorical_crossentropy"

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        if self._optimizer is None or self._loss is None:
            raise BackendError("TorchModel.configure(setup) must be called before train_epoch")
        n = len(plan.order)
        if n == 0:
            raise DataError("the epoch plan is empty: there is no sample to train on")
        self.net.train()
        with full_precision(self._device):
            batches = (self._device_batches(data, plan) if isinstance(data, ArrayData)
                       else self._host_batches(data, plan))
            losses, outputs = self._run(batches, collect_outputs)
            sizes = np.diff(np.minimum(np.arange(len(losses) + 1) * plan.batch_size, n))
            per_batch = torch.stack(losses).to("cpu", torch.float64).numpy()  # the one sync
            collected = None
            if outputs is not None:
                collected = np.asarray(torch.cat(outputs).to("cpu").numpy(), np.float32)
        return EpochResult(float(per_batch @ sizes) / n, collected)

    def _device_batches(self, data: ArrayData, plan: EpochPlan) -> Iterator[Batch]:
        """Fast path: data lives on the device; batches are gathered (or sliced) there."""
        x, y = self._arrays.get(data, self._class_indices)
        order, bs = plan.order, plan.batch_size
        if np.array_equal(order, np.arange(len(order))):  # unshuffled: views, no gather
            return ((x[i:i + bs], y[i:i + bs]) for i in range(0, len(order), bs))
        index = torch.from_numpy(np.ascontiguousarray(order, np.int64)).to(self._device)
        return ((x.index_select(0, i), y.index_select(0, i)) for i in torch.split(index, bs))

    def _host_batches(self, data: SampleSource, plan: EpochPlan) -> Iterator[Batch]:
        """Generic path: any ``SampleSource`` gathers each batch in NumPy."""
        device = self._device
        for indices in plan.batches():
            xb, yb = data.take(indices)
            if yb is None:
                raise DataError("training data has no targets (y); pass (x, y)")
            yield (as_input(xb).to(device, non_blocking=True),
                   as_target(yb, self._class_indices).to(device, non_blocking=True))

    def _run(self, batches: Iterable[Batch], collect: bool
             ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """The training steps. Everything is looked up once; the loop only launches work.

        Losses stay on the device (no ``.item()`` per step, which would sync every batch);
        outputs are detached and concatenated once by the caller.
        """
        assert self._optimizer is not None and self._loss is not None
        params, loss_fn_ = self._params, self._loss
        step: Callable[[], object] = self._optimizer.step
        backward: Callable[[torch.Tensor], object] = torch.autograd.backward
        if not params:  # nothing to learn (e.g. only Dropout): still report loss and outputs
            step, backward = _nothing, _nothing
        forward = self.net.pre if self._fused_head else self.net.forward
        head = self.net.head if self._fused_head else None
        losses: list[torch.Tensor] = []
        outputs: list[torch.Tensor] | None = [] if collect else None
        for xb, yb in batches:
            for p in params:  # zero_grad(set_to_none=True) without its profiler wrapper
                p.grad = None
            out = forward(xb)
            loss = loss_fn_(out, yb)
            backward(loss)
            step()
            losses.append(loss.detach())
            if outputs is not None:
                out = out.detach()
                outputs.append(out if head is None else head(out))
        return losses, outputs

    # -- export -----------------------------------------------------------------------
    def export(self, path: str, format: str = "torch") -> None:
        save(self.net, path, format)


def _nothing(*args: object) -> None:
    return None
