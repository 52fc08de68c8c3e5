"""``GraphModel``: a unidl ``Graph`` on torch (tuples of inputs and outputs, one loss per
output).

Data arrive as tuples in the spec's input and output order. The batch loss is
``sum_k weight_k * loss_k``, each ``loss_k`` the output's batch loss as for a
``Sequential`` (sample weights included); an output whose loss is fused with its final
softmax/sigmoid (``OutputLoss.logits_loss``) reads the logits :meth:`GraphNet.pre
<unidl_torch.network.GraphNet.pre>` returns, and its collected outputs get the activation
afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unidl import BackendError, DataError
from unidl.backend import OutputLoss, TrainingSetup, Weights
from unidl.data import ArrayData, Arrays, EpochPlan, SampleSource, plan_batches
from unidl.spec import Graph

from .activations import Fn
from .data import DeviceGraphArrays, as_input, as_target, as_tuple, as_weights
from .devices import full_precision
from .losses import LossFn, WeightedLossFn, loss_fns
from .model import TorchModel, nothing
from .network import GraphNet, Slot, graph_slots

__all__ = ["GraphModel"]

Tensors = tuple[torch.Tensor, ...]
#: (inputs, targets, sample weights or None) of one batch, on the device
Batch = tuple[Tensors, Tensors, torch.Tensor | None]
Float32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class _OutputTerm:
    """How one output enters the batch loss: ``weight * loss(y, out)`` where ``out`` is the
    output's logits when ``head`` is None, else ``head(logits)``."""

    loss: LossFn
    weighted: WeightedLossFn
    weight: float
    head: Fn | None


def _arrays(arrays: Arrays, names: Sequence[str], what: str) -> tuple[npt.NDArray[Any], ...]:
    """``arrays`` as a tuple with one array per name, or a DataError saying what is off."""
    found = as_tuple(arrays)
    if len(found) != len(names):
        raise DataError(f"the graph has {len(names)} {what}s ({', '.join(names)}) but the "
                        f"data hold {len(found)} {what} arrays; pass one per {what}, in order")
    return found


class GraphModel(TorchModel[GraphNet]):
    """A ``Graph`` as a :class:`~unidl_torch.network.GraphNet`; tuples in, tuples out."""

    shards = True

    def __init__(self, spec: Graph, weights: Weights, device: str) -> None:
        self.spec = spec
        self._terms: tuple[_OutputTerm, ...] = ()
        self._class_indices: tuple[bool, ...] = ()
        super().__init__(weights, device)
        self._arrays = DeviceGraphArrays(self._device)

    def _build(self) -> tuple[GraphNet, list[Slot]]:
        net = GraphNet(self.spec, self._generator, self._device)
        return net, graph_slots(self.spec, net)

    # -- inference --------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int) -> tuple[Float32, ...]:
        xs = tuple(as_input(a) for a in _arrays(x, self.spec.input_names, "input"))
        n = int(xs[0].shape[0])
        if n == 0:
            return tuple(np.zeros((0, *s), np.float32) for s in self.spec.output_shapes)
        self.net.eval()
        device, forward = self._device, self.net.forward
        with torch.inference_mode(), full_precision(device):
            batches = [forward(*(t[i:i + batch_size].to(device, non_blocking=True) for t in xs))
                       for i in range(0, n, batch_size)]
            return tuple(np.asarray(torch.cat(ys).to("cpu").numpy(), np.float32)
                         for ys in zip(*batches, strict=True))

    # -- training ---------------------------------------------------------------------
    def _configure_loss(self, setup: TrainingSetup) -> None:
        outputs = setup.outputs
        if not outputs and len(self.spec.output_names) == 1:  # one output: the setup's loss
            outputs = (OutputLoss(setup.loss, 1.0, setup.logits_loss),)
        if len(outputs) != len(self.spec.output_names):
            raise BackendError(f"TrainingSetup.outputs has {len(outputs)} entries but the "
                               f"graph has {len(self.spec.output_names)} outputs")
        terms = []
        for out, head in zip(outputs, self.net.heads, strict=True):
            logits = out.logits_loss or out.loss.from_logits
            fused = out.logits_loss and head is not None
            fns = loss_fns(out.loss, logits)
            terms.append(_OutputTerm(fns.mean, fns.weighted, float(out.weight),
                                     None if fused else head))
        self._terms = tuple(terms)
        self._class_indices = tuple(o.loss.kind.target == "class_index" for o in outputs)

    def _train_steps(self, data: SampleSource, plan: EpochPlan, lrs: list[float] | None,
                     collect: bool) -> tuple[list[torch.Tensor], tuple[Float32, ...] | None]:
        batches = (self._device_batches(data, plan) if isinstance(data, ArrayData)
                   else self._host_batches(data, plan))
        losses, outputs = self._run(batches, lrs, collect)
        if outputs is None:
            return losses, None
        return losses, tuple(np.asarray(torch.cat(ys).to("cpu").numpy(), np.float32)
                             for ys in zip(*outputs, strict=True))

    def _device_batches(self, data: ArrayData, plan: EpochPlan) -> Iterator[Batch]:
        """Fast path: the arrays live on the device; batches are sliced or gathered there."""
        _arrays(data.x, self.spec.input_names, "input")
        if data.y is not None:
            _arrays(data.y, self.spec.output_names, "output")
        xs, ys, w = self._arrays.get(data, self._class_indices)
        order, bs = plan.order, plan.batch_size
        if self._group is not None:  # this rank's part of every global batch
            group, device = self._group, self._device
            parts = (torch.from_numpy(np.ascontiguousarray(b[group.part(len(b))]))
                     .to(device) for b in plan.batches())
            return ((tuple(x.index_select(0, i) for x in xs),
                     tuple(y.index_select(0, i) for y in ys),
                     None if w is None else w.index_select(0, i)) for i in parts)
        start, stop = int(order[0]), int(order[0]) + len(order)
        if np.array_equal(order, np.arange(start, stop)):  # a contiguous run: views
            xs, ys = tuple(x[start:stop] for x in xs), tuple(y[start:stop] for y in ys)
            w = None if w is None else w[start:stop]
            return ((tuple(x[i:i + bs] for x in xs), tuple(y[i:i + bs] for y in ys),
                     None if w is None else w[i:i + bs]) for i in range(0, stop - start, bs))
        index = torch.from_numpy(np.ascontiguousarray(order, np.int64)).to(self._device)
        return ((tuple(x.index_select(0, i) for x in xs), tuple(y.index_select(0, i) for y in ys),
                 None if w is None else w.index_select(0, i)) for i in torch.split(index, bs))

    def _host_batches(self, data: SampleSource, plan: EpochPlan) -> Iterator[Batch]:
        """Generic path: any ``SampleSource`` gathers each batch in NumPy."""
        device, spec, sync = self._device, self.spec, self._group
        weights = getattr(data, "sample_weight", None)
        for indices, xb, yb in plan_batches(data, plan):  # read ahead by the data's workers
            if yb is None:
                raise DataError("training data has no targets (y); pass (x, y)")
            if sync is not None:  # this rank's part of the global batch
                part = sync.part(len(indices))
                indices = indices[part]
                xb = tuple(x[part] for x in _arrays(xb, spec.input_names, "input"))
                yb = tuple(y[part] for y in _arrays(yb, spec.output_names, "output"))
            yield (tuple(as_input(x).to(device, non_blocking=True)
                         for x in _arrays(xb, spec.input_names, "input")),
                   tuple(as_target(y, c).to(device, non_blocking=True) for y, c in
                         zip(_arrays(yb, spec.output_names, "output"), self._class_indices,
                             strict=True)),
                   None if weights is None else
                   as_weights(np.asarray(weights)[indices]).to(device, non_blocking=True))

    def _run(self, batches: Iterable[Batch], lrs: list[float] | None, collect: bool
             ) -> tuple[list[torch.Tensor], list[Tensors] | None]:
        """The training steps, as ``SequentialModel._run`` (losses stay on the device,
        nothing is looked up in the loop), with one loss term per output."""
        assert self._optimizer is not None
        params, terms, pre = self._params, self._terms, self.net.pre
        heads = self.net.heads
        group = self._optimizer.param_groups[0]
        step: Callable[[], object] = self._optimizer.step
        backward: Callable[[torch.Tensor], object] = torch.autograd.backward
        clip = self._clip
        if not params:  # nothing to learn: still report loss and outputs
            step, backward = nothing, nothing
        losses: list[torch.Tensor] = []
        outputs: list[Tensors] | None = [] if collect else None
        scales, sync = self._scales, self._group
        for xb, yb, wb in batches:
            for p in params:  # zero_grad(set_to_none=True) without its profiler wrapper
                p.grad = None
            logits = pre(*xb)
            share = 1.0 if scales is None else scales[len(losses)]
            loss: torch.Tensor | None = None
            for term, z, y in zip(terms, logits, yb, strict=True):
                out = z if term.head is None else term.head(z)
                part = term.loss(y, out) if wb is None else term.weighted(y, out, wb)
                if term.weight != 1.0:
                    part = part * term.weight
                loss = part if loss is None else loss + part
            assert loss is not None  # a graph has at least one output
            if share != 1.0:  # data-parallel: this part's share of the global mean
                loss = sum((z.sum() for z in logits), loss.new_zeros(())) * 0.0 \
                    if share == 0 else loss * share
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
                outputs.append(tuple(z.detach() if h is None else h(z.detach())
                                     for z, h in zip(logits, heads, strict=True)))
        return losses, outputs
