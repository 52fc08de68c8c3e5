"""Canonical optimizer state (``unidl.optimizer_state``) <-> ``torch.optim`` state.

Each canonical slot is one tensor of torch's per-parameter state, in the parameter's torch
layout (converted like the weights: Dense kernel (in, out) vs torch (out, in), Conv2D
(kh, kw, in, out) vs (out, in, kh, kw)). Which tensor holds which slot is part of each
optimizer's builder (:class:`~unidl_torch.optimizers.TorchOptimizer` ``state_keys``); for
the built-ins:

==========  ===========================================================================
SGD         momentum -> ``momentum_buffer``
Adam(W)     m -> ``exp_avg``, v -> ``exp_avg_sq``, v_max -> ``max_exp_avg_sq``
RMSprop     v -> ``square_avg``, mean_grad -> ``grad_avg``, momentum -> ``momentum_buffer``
Adagrad     accumulator -> ``sum``
Adadelta    v -> ``square_avg``, u -> ``acc_delta``
==========  ===========================================================================

torch creates most of its state lazily at the first step; before it, the documented
initial values are reported (zeros; Adagrad's ``initial_accumulator_value``), which are
exactly what torch's first step starts from. Restoring goes through
``Optimizer.load_state_dict``, so torch itself places the ``step`` counter where its kernel
wants it (a device tensor for fused and capturable kernels, a host scalar otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from unidl import NotSupportedError
from unidl.optimizer_state import STEP, optimizer_slots
from unidl.spec import Optimizer

from .network.weights import Slot
from .optimizers import TorchOptimizer, optimizer_builder

__all__ = ["load_state", "state_of", "torch_keys"]


def _layout(spec: Optimizer) -> TorchOptimizer:
    builder = optimizer_builder(spec)
    if not isinstance(builder, TorchOptimizer):
        raise NotSupportedError(
            f"the torch builder of optimizer {spec.kind!r} declares no state layout; "
            "register a unidl_torch.TorchOptimizer(create, state_keys) for it to save or "
            "restore its optimizer state")
    return builder


def torch_keys(spec: Optimizer) -> dict[str, str]:
    """Canonical slot -> torch state key, for the slots ``spec`` keeps (canonical order)."""
    keys = _layout(spec).state_keys
    slots = optimizer_slots(spec)
    missing = [slot for slot in slots if slot not in keys]
    if missing:
        raise NotSupportedError(f"the torch builder of optimizer {spec.kind!r} names no torch "
                                f"state for slot(s) {', '.join(missing)}")
    return {slot: keys[slot] for slot in slots}


def state_of(optimizer: torch.optim.Optimizer, spec: Optimizer, slots: Sequence[Slot],
             step: int) -> dict[str, npt.NDArray[Any]]:
    """The canonical state of ``optimizer`` (``slots``: the trainable parameters)."""
    keys, initial = torch_keys(spec), _layout(spec).initial
    out: dict[str, npt.NDArray[Any]] = {}
    for slot in slots:
        state = optimizer.state.get(slot.tensor, {})
        shape = slot.shape
        for name, key in keys.items():
            value = state.get(key)
            if value is None:  # not created yet: what torch's first step starts from
                out[f"{slot.name}/{name}"] = np.full(shape, initial(spec, name), np.float32)
            else:
                array = value.detach().to("cpu", copy=True).numpy()
                out[f"{slot.name}/{name}"] = np.ascontiguousarray(
                    slot.to_canonical(array), dtype=np.float32)
    out[STEP] = np.asarray(float(step), dtype=np.float64)
    return out


def load_state(optimizer: torch.optim.Optimizer, spec: Optimizer, slots: Sequence[Slot],
               state: Mapping[str, npt.NDArray[Any]]) -> int:
    """Load canonical ``state`` into ``optimizer``; returns the step count it holds."""
    keys, counts_steps = torch_keys(spec), _layout(spec).counts_steps
    # a scalar; read as one element so a (1,)-shaped copy of it works too
    step = round(float(np.asarray(state[STEP], dtype=np.float64).reshape(-1)[0]))
    if not slots:
        return step
    index = {id(p): i for i, p in enumerate(optimizer.param_groups[0]["params"])}
    scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    packed: dict[int, dict[str, torch.Tensor]] = {}
    for slot in slots:
        entry: dict[str, torch.Tensor] = {}
        for name, key in keys.items():
            value = np.asarray(state[f"{slot.name}/{name}"])
            entry[key] = torch.from_numpy(np.ascontiguousarray(slot.to_torch(value),
                                                               dtype=np.float32))
        if counts_steps:  # torch's SGD keeps no step counter
            entry["step"] = torch.tensor(float(step), dtype=scalar)
        if entry:
            packed[index[id(slot.tensor)]] = entry
    full = optimizer.state_dict()
    full["state"] = packed
    optimizer.load_state_dict(full)
    return step
