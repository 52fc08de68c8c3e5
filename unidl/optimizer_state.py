"""Canonical optimizer state: what ``optimizer.safetensors`` holds, on every backend.

State entries are named ``"<layer>/<param>/<slot>"`` (float32, the parameter's canonical
shape) plus ``"step"`` (float64 scalar: optimizer steps taken so far, which Adam's bias
correction uses). Slot meanings follow the update rules in ``unidl.spec.optimizers``:

- SGD: ``momentum`` (the buffer ``v`` of ``v = momentum * v + g``), only if momentum > 0;
- Adam / AdamW: ``m``, ``v`` (uncorrected first and second moments), ``v_max`` (amsgrad);
- RMSprop: ``v`` (mean square), ``mean_grad`` (centered only), ``momentum`` (momentum > 0);
- Adagrad: ``accumulator`` (the running sum of squares, starting at
  ``initial_accumulator_value``);
- Adadelta: ``v`` (mean square gradient), ``u`` (mean square update).

Moving it between backends is what lets a model saved on one backend resume training on
another on the same trajectory.
"""

from __future__ import annotations

from .spec import Optimizer
from .spec.serialize import ModelSpec

__all__ = ["STEP", "optimizer_slots", "state_shapes"]

STEP = "step"


def optimizer_slots(optimizer: Optimizer) -> tuple[str, ...]:
    """The state slots ``optimizer`` keeps per trainable parameter, in canonical order
    (declared by the optimizer spec itself: :meth:`unidl.Optimizer.state_slots`)."""
    return optimizer.state_slots()


def state_shapes(spec: ModelSpec, optimizer: Optimizer) -> dict[str, tuple[int, ...]]:
    """Every canonical state entry and its shape, in a stable order."""
    slots = optimizer_slots(optimizer)
    shapes: dict[str, tuple[int, ...]] = {
        f"{name}/{slot}": info.shape
        for name, info in spec.params.items() if info.trainable for slot in slots
    }
    shapes[STEP] = ()
    return shapes
