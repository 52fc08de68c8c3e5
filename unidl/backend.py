"""The backend contract: the one thing a framework plugin implements.

A plugin registers, in the entry-point group ``unidl.backends``, a zero-argument callable
(usually its backend class) that returns an object satisfying :class:`Backend`. The core owns
what training means (see docs/backend-contract.md): it validates the spec and data,
generates the initial weights, the batch order of every epoch, the loss/metric definitions
and the history; the backend owns tensors, devices, autograd and optimizer kernels, and
follows the plan.

Conformance is proven by ``unidl.testing``'s suite, not by ``isinstance``: these are static
``typing.Protocol`` classes for type checkers and for readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .capabilities import Capabilities
from .data import EpochPlan, SampleSource
from .spec import Loss, Optimizer
from .spec.serialize import ModelSpec

__all__ = ["Backend", "BackendModel", "Capabilities", "EpochResult", "OutputLoss", "Outputs",
           "TrainingSetup", "Weights"]

Weights = Mapping[str, npt.NDArray[Any]]

#: What a model returns: one array for a ``Sequential``; for a ``Graph`` a tuple of arrays,
#: one per output in ``spec.output_names`` order.
Outputs = npt.NDArray[np.float32] | tuple[npt.NDArray[np.float32], ...]


@dataclass(frozen=True)
class OutputLoss:
    """The loss of one model output. The training loss of a batch is
    ``sum(weight_k * loss_k)`` over the outputs ``k``; ``logits_loss`` means as in
    :class:`TrainingSetup`, for this output's final layer."""

    loss: Loss
    weight: float
    logits_loss: bool


@dataclass(frozen=True)
class TrainingSetup:
    """What the core decided about training, for :meth:`BackendModel.configure`.

    ``logits_loss``: when True the model ends in softmax/sigmoid while the loss is a
    cross-entropy on probabilities; the backend must compute the loss from the final layer's
    *pre-activation* output with ``from_logits`` semantics (numerically stable, and exactly
    the same value). ``seed`` seeds the backend's own randomness (dropout masks).
    """

    loss: Loss
    optimizer: Optimizer
    logits_loss: bool
    seed: int
    #: One entry per model output (``spec.output_names`` order for a ``Graph``; a single
    #: entry equal to ``(loss, 1.0, logits_loss)`` for a ``Sequential``).
    outputs: tuple[OutputLoss, ...] = ()
    #: ``(rank, world_size)`` of a data-parallel run (``(0, 1)``: one process). A backend
    #: that trains data-parallel (see ``unidl.distributed.Launcher``) then trains on part
    #: ``rank`` of every global batch (``unidl.data.shard_batch``), weighting each part's
    #: loss by its share of the global batch and summing gradients over the group.
    shard: tuple[int, int] = (0, 1)


@dataclass(frozen=True)
class EpochResult:
    """What one training epoch returns.

    ``loss``: the mean of per-batch losses weighted by batch size (i.e. the mean loss per
    sample over the epoch, each measured at the weights before its batch's update; for
    several outputs, the weighted sum of their losses).
    ``outputs``: when asked for, the model's outputs in training mode for every sample, in
    the plan's order, *after* the final activation (what ``predict`` would return; a tuple
    for a ``Graph``).
    """

    loss: float
    outputs: Outputs | None = None


class BackendModel(Protocol):
    """A built model living on one backend and one device."""

    @property
    def device(self) -> str:
        """The canonical device string the model lives on (``"cpu"``, ``"cuda:0"``, ...)."""
        ...

    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]:
        """Canonical weights ``"<layer>/<param>"`` in Keras layout, as numpy arrays."""
        ...

    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights (the core has checked names and shapes)."""
        ...

    def predict(self, x: Any, batch_size: int) -> Outputs:
        """Inference-mode outputs (dropout off, BatchNorm moving statistics).

        For a ``Graph``, ``x`` is a tuple of arrays (``spec.input_names`` order) and the
        result a tuple of float32 arrays (``spec.output_names`` order)."""
        ...

    def configure(self, setup: TrainingSetup) -> None:
        """Prepare loss and a fresh optimizer; called before the first epoch of a fit."""
        ...

    def train_epoch(self, data: SampleSource, plan: EpochPlan,
                    collect_outputs: bool) -> EpochResult:
        """Run the plan: one optimizer step per batch of ``plan``, in order.

        ``data`` is an :class:`~unidl.data.ArrayData` (fast path: keep arrays on the device)
        or any other ``SampleSource`` (call ``data.take(batch_indices)``). The plan may be
        a whole epoch or a chunk of one (see :class:`~unidl.data.EpochPlan`): apply
        ``plan.learning_rates`` per step when given; weight each sample's loss by
        ``data.sample_weight`` when given (batch loss = sum(w_i * loss_i) / batch size,
        Keras' rule); clip gradients as the optimizer spec says.
        """
        ...

    def export(self, path: str, format: str) -> None:
        """Write a native artifact (e.g. a torch ``state_dict`` or a ``.keras`` file)."""
        ...

    def get_optimizer_state(self) -> dict[str, npt.NDArray[Any]]:
        """Canonical optimizer state (``unidl.optimizer_state``); ``{}`` before
        :meth:`configure`. Only for backends declaring the ``optimizer_state`` feature."""
        ...

    def set_optimizer_state(self, state: Weights) -> None:
        """Restore canonical optimizer state after :meth:`configure` (names and shapes
        checked by the core), so the next step continues where the saved run stopped."""
        ...


class Backend(Protocol):
    """A framework plugin. ``name`` must equal the entry-point name it registers."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str:
        """Version of the framework it drives (shown by ``unidl.available_backends()``)."""
        ...

    @property
    def native_formats(self) -> tuple[str, ...]:
        """Formats accepted by :meth:`BackendModel.export`, e.g. ``("torch",)``."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this backend implements; the core refuses the rest before training."""
        ...

    def available_devices(self) -> list[str]:
        """Canonical device strings usable now, best first, e.g. ``["cuda:0", "cpu"]``."""
        ...

    def build(self, spec: ModelSpec, weights: Weights, device: str) -> BackendModel:
        """Create the model for ``spec`` on ``device`` with the given canonical weights.

        A :class:`~unidl.Graph` comes only to backends declaring the ``graph`` feature. Its
        ``nodes`` are the layer calls in execution order; a node reads the tensors named in
        ``node.inputs`` (graph inputs by Input name, other tensors by ``node.output``) and
        makes ``node.output``. A layer called by several nodes shares one set of weights
        (canonical names ``"<layer>/<param>"`` as always). Integer Inputs reach an
        ``Embedding`` as integers and every other layer as float32. With several outputs,
        ``SampleSource.take`` returns ``x`` and ``y`` as tuples (inputs and outputs in
        order), the batch loss is ``sum_k TrainingSetup.outputs[k].weight * loss_k`` and
        ``EpochResult.outputs`` is a tuple."""
        ...


def check_weights(expected: Mapping[str, tuple[int, ...]], weights: Weights,
                  where: str) -> dict[str, npt.NDArray[np.float32]]:
    """Validate canonical weights against the spec's parameter shapes (core-side)."""
    from .errors import ShapeMismatchError

    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing or extra:
        raise ShapeMismatchError(
            f"{where}: weight names do not match the model; missing {missing[:5]}, "
            f"unexpected {extra[:5]}"
        )
    out: dict[str, npt.NDArray[np.float32]] = {}
    for k, shape in expected.items():
        value = np.asarray(weights[k])
        if value.shape != tuple(shape):
            raise ShapeMismatchError(
                f"{where}: weight {k!r} has shape {value.shape}, the model expects {shape}"
            )
        out[k] = np.asarray(value, dtype=np.float64 if k == "step" else np.float32, order="C")
    return out
