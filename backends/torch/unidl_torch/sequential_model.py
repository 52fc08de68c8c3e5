"""``SequentialModel``: a unidl ``Sequential`` on torch (one input, one output)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unidl import DataError
from unidl.backend import TrainingSetup, Weights
from unidl.data import ArrayData, EpochPlan, SampleSource, plan_batches
from unidl.spec import Sequential

from .data import DeviceArrays, as_input, as_target, as_weights
from .devices import full_precision
from .losses import LossFn, WeightedLossFn, loss_fns
from .model import TorchModel, nothing
from .network import SequentialNet, Slot, slots

__all__ = ["SequentialModel"]

#: (x, y, sample weights or None) of one batch, on the device
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class SequentialModel(TorchModel[SequentialNet]):
    """A ``Sequential`` as a :class:`~unidl_torch.network.SequentialNet`; arrays in, arrays
    out."""

    shards = True

    def __init__(self, spec: Sequential, weights: Weights, device: str) -> None:
        self.spec = spec
        self._loss: LossFn | None = None
        self._weighted_loss: WeightedLossFn | None = None
        self._fused_head = False
        self._class_indices = False
        super().__init__(weights, device)
        self._arrays = DeviceArrays(self._device)

    def _build(self) -> tuple[SequentialNet, list[Slot]]:
        net = SequentialNet(self.spec, self._generator, self._device)
        return net, slots(self.spec, net)

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
    def _configure_loss(self, setup: TrainingSetup) -> None:
        logits = setup.logits_loss or setup.loss.from_logits
        fns = loss_fns(setup.loss, logits=logits)
        self._loss, self._weighted_loss = fns.mean, fns.weighted
        self._fused_head = setup.logits_loss and self.net.head is not None
        self._class_indices = setup.loss.kind.target == "class_index"

    def _train_steps(self, data: SampleSource, plan: EpochPlan, lrs: list[float] | None,
                     collect: bool) -> tuple[list[torch.Tensor], npt.NDArray[np.float32] | None]:
        batches = (self._device_batches(data, plan) if isinstance(data, ArrayData)
                   else self._host_batches(data, plan))
        losses, outputs = self._run(batches, lrs, collect)
        if outputs is None:
            return losses, None
        return losses, np.asarray(torch.cat(outputs).to("cpu").numpy(), np.float32)

    def _device_batches(self, data: ArrayData, plan: EpochPlan) -> Iterator[Batch]:
        """Fast path: data lives on the device; batches are gathered (or sliced) there."""
        x, y, w = self._arrays.get(data, self._class_indices)
        order, bs = plan.order, plan.batch_size
        if self._group is not None:  # this rank's part of every global batch
            group, device = self._group, self._device
            parts = (torch.from_numpy(np.ascontiguousarray(b[group.part(len(b))]))
                     .to(device) for b in plan.batches())
            return ((x.index_select(0, i), y.index_select(0, i),
                     None if w is None else w.index_select(0, i)) for i in parts)
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
        device, group = self._device, self._group
        weights = getattr(data, "sample_weight", None)
        for indices, xb, yb in plan_batches(data, plan):  # read ahead by the data's workers
            if yb is None:
                raise DataError("training data has no targets (y); pass (x, y)")
            if group is not None:  # this rank's part of the global batch
                part = group.part(len(indices))
                indices, xb, yb = indices[part], xb[part], yb[part]
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
            step, backward = nothing, nothing
        forward = self.net.pre if self._fused_head else self.net.forward
        head = self.net.head if self._fused_head else None
        losses: list[torch.Tensor] = []
        outputs: list[torch.Tensor] | None = [] if collect else None
        scales, sync = self._scales, self._group
        for xb, yb, wb in batches:
            for p in params:  # zero_grad(set_to_none=True) without its profiler wrapper
                p.grad = None
            out = forward(xb)
            if scales is not None:  # data-parallel: this part's share of the global mean
                share = scales[len(losses)]
                loss = out.sum() * 0.0 if share == 0 else share * (
                    loss_fn_(yb, out) if wb is None else weighted(yb, out, wb))
            else:
                loss = loss_fn_(yb, out) if wb is None else weighted(yb, out, wb)
            backward(loss)
            if sync is not None and params:
                sync.sum_gradients(params)
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
