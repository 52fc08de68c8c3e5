"""``TorchModel``: a unidl model living on one torch device (the ``BackendModel``).

This module holds what every model shares (weights, optimizer, learning rates, clipping,
optimizer state, export, the epoch's bookkeeping). What depends on the kind of spec, the
network, ``predict`` and the training steps, lives in :class:`~unidl_torch.sequential_model.
SequentialModel` and :class:`~unidl_torch.graph_model.GraphModel`, which
:meth:`TorchBackend.build <unidl_torch.backend.TorchBackend.build>` picks between. Each
keeps its own tight step loop: a ``Sequential`` never pays for the graph's tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from unidl import BackendError, DataError, NotSupportedError
from unidl.backend import EpochResult, Outputs, TrainingSetup, Weights
from unidl.data import EpochPlan, SampleSource
from unidl.spec import Optimizer

from .builders.normalization import BatchNormModule
from .devices import full_precision
from .distributed import Group
from .export import save
from .network import Slot
from .optimizer_state import load_state, state_of
from .optimizers import make_optimizer

__all__ = ["TorchModel", "epoch_seed", "nothing"]

NetT = TypeVar("NetT", bound=nn.Module)


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


class TorchModel(Generic[NetT]):
    """Build once, then predict / configure / train_epoch / export (see ``unidl.backend``).

    Subclasses build ``net`` and its canonical weight slots in :meth:`_build` and implement
    ``predict``, :meth:`_configure_loss` and :meth:`_train_steps`. One configured with a
    ``shard`` of several workers trains data-parallel (``group``, :attr:`_scales`): a
    subclass that can sets :attr:`shards`.
    """

    #: Whether the subclass trains on its part of each global batch (data-parallel).
    shards = False

    def __init__(self, weights: Weights, device: str) -> None:
        self._device_name = device
        self._device = torch.device(device)
        # the generator every random layer (Dropout) of the model draws from
        self._generator = torch.Generator(device=self._device)
        self._generator.manual_seed(0)
        self.net, self._slots = self._build()
        self._params = tuple(p for p in self.net.parameters() if p.requires_grad)
        self._optimizer: torch.optim.Optimizer | None = None
        self._optimizer_spec: Optimizer | None = None
        self._clip: Callable[[], object] | None = None
        self._seed = 0
        self._steps = 0  # optimizer steps since configure (the canonical "step")
        self._group: Group | None = None
        #: each step's share of its global batch, when data-parallel (None: one process)
        self._scales: list[float] | None = None
        self.set_weights(weights)

    def _build(self) -> tuple[NetT, list[Slot]]:
        raise NotImplementedError

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
    def predict(self, x: Any, batch_size: int) -> Outputs:
        raise NotImplementedError

    # -- training ---------------------------------------------------------------------
    def configure(self, setup: TrainingSetup) -> None:
        self._seed = setup.seed
        self._generator.manual_seed(setup.seed)
        # torch refuses an optimizer without parameters; such a model only runs forward
        self._optimizer = make_optimizer(setup.optimizer, self._params or
                                         [torch.nn.Parameter(torch.zeros(1))], self._device)
        self._optimizer_spec = setup.optimizer
        self._clip = _clipper(setup.optimizer, self._params)
        self._steps = 0
        self._configure_group(setup.shard)
        self._configure_loss(setup)

    def _configure_group(self, shard: tuple[int, int]) -> None:
        rank, world = shard
        self._group = Group(rank, world) if world > 1 else None
        if self._group is not None and not self.shards:
            raise NotSupportedError(f"the torch backend trains {type(self).__name__} models "
                                    "in one process only, not data-parallel; train it "
                                    "without devices= or a launcher")
        for module in self.net.modules():  # BatchNorm: statistics of the global batch
            if isinstance(module, BatchNormModule):
                module.group = self._group

    def _configure_loss(self, setup: TrainingSetup) -> None:
        """Prepare the loss functions (and fused heads) the training steps use."""
        raise NotImplementedError

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        if self._optimizer is None:
            raise BackendError("TorchModel.configure(setup) must be called before train_epoch")
        n = len(plan.order)
        if n == 0:
            raise DataError("the epoch plan is empty: there is no sample to train on")
        lrs = self._learning_rates(plan)
        if plan.first_batch == 0:  # an epoch starts: its masks depend on (seed, epoch) only
            self._generator.manual_seed(epoch_seed(self._seed, plan.epoch))
        self.net.train()
        group = self._group
        sizes = np.diff(np.minimum(np.arange(len(plan) + 1) * plan.batch_size, n))
        if group is not None:
            self._scales = [(p.stop - p.start) / int(size)
                            for p, size in ((group.part(int(s)), s) for s in sizes)]
        with full_precision(self._device):
            losses, outputs = self._train_steps(data, plan, lrs, collect_outputs)
            self._steps += len(losses)
            stacked = torch.stack(losses)
            if group is not None:  # each rank's losses are its parts' shares
                stacked = group.sum(stacked)
                if isinstance(outputs, tuple):
                    outputs = tuple(group.gather_rows(o, sizes.tolist()) for o in outputs)
                elif outputs is not None:
                    outputs = group.gather_rows(outputs, sizes.tolist())
            per_batch = stacked.to("cpu", torch.float64).numpy()  # the one sync
        return EpochResult(float(per_batch @ sizes) / n, outputs)

    def _train_steps(self, data: SampleSource, plan: EpochPlan, lrs: list[float] | None,
                     collect: bool) -> tuple[list[torch.Tensor], Outputs | None]:
        """Run the plan's steps; returns each batch's loss (on the device) and, when
        ``collect``, the outputs of every sample (NumPy, after the final activations)."""
        raise NotImplementedError

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


def nothing(*args: object) -> None:
    """Stands in for ``backward`` and ``step`` when a model has nothing to learn."""
    return None
