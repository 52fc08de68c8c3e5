"""The optimizers, written out from the formulas in ``unidl/spec/optimizers.py``.

Those are torch.optim's update rules with Keras' default values, and every hyper-parameter
comes from the spec object: a backend never substitutes its framework's own defaults.
Updates happen in place, in the parameters' dtype (float32), like the frameworks do.

State is kept per parameter under the canonical slot names of ``unidl.optimizer_state``
(``"<layer>/<param>/<slot>"`` plus ``"step"``), so saving and restoring it for a resumed
run is a plain copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from unidl import NotSupportedError
from unidl.optimizer_state import STEP, optimizer_slots
from unidl.spec import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["OptimizerStep", "clip_gradients", "make_optimizer"]

Array = npt.NDArray[Any]
Params = dict[str, Array]


def clip_gradients(spec: Optimizer, grads: Params) -> Params:
    """``clipvalue`` (element-wise clamp) first, then ``clipnorm`` (one global L2 norm
    over every gradient, scaled by ``min(1, clipnorm / (norm + 1e-6))``)."""
    if spec.clipvalue is not None:
        grads = {k: np.clip(g, -spec.clipvalue, spec.clipvalue) for k, g in grads.items()}
    if spec.clipnorm is not None:
        norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                                 for g in grads.values())))
        scale = min(1.0, spec.clipnorm / (norm + 1e-6))
        grads = {k: (g * scale).astype(g.dtype) for k, g in grads.items()}
    return grads


class OptimizerStep:
    """One optimizer: ``step(params, grads, lr)`` updates ``params`` in place.

    ``slots[slot][param]`` holds the state; ``t`` counts steps since creation.
    """

    def __init__(self, spec: Optimizer, params: Params) -> None:
        self.spec = spec
        self.t = 0
        start = spec.initial_accumulator_value if isinstance(spec, Adagrad) else 0.0
        self.slots: dict[str, Params] = {
            slot: {k: np.full_like(v, start) for k, v in params.items()}
            for slot in optimizer_slots(spec)}

    def step(self, params: Params, grads: Params, lr: float) -> None:
        self.t += 1
        for k, g in clip_gradients(self.spec, grads).items():
            self.update(k, params[k], g, lr)

    def update(self, k: str, p: Array, g: Array, lr: float) -> None:
        raise NotImplementedError

    # -- canonical state (unidl.optimizer_state) ---------------------------------------
    def get_state(self) -> dict[str, Array]:
        state = {f"{k}/{slot}": v.astype(np.float32)
                 for slot, per in self.slots.items() for k, v in per.items()}
        # canonical order: parameter by parameter, slots in their declared order
        names = list(next(iter(self.slots.values()), {}))
        ordered = {f"{k}/{slot}": state[f"{k}/{slot}"] for k in names for slot in self.slots}
        ordered[STEP] = np.asarray(float(self.t), dtype=np.float64)
        return ordered

    def set_state(self, state: Mapping[str, Array]) -> None:
        for slot, per in self.slots.items():
            for k, v in per.items():
                v[...] = state[f"{k}/{slot}"]
        self.t = int(np.asarray(state[STEP]))


class SGDStep(OptimizerStep):
    """``v = momentum * v + g``; ``p -= lr * v`` (nesterov: ``p -= lr * (g + momentum * v)``)."""

    spec: SGD

    def update(self, k: str, p: Array, g: Array, lr: float) -> None:
        mu = self.spec.momentum
        if mu:
            v = self.slots["momentum"][k]
            v *= mu
            v += g
            g = g + mu * v if self.spec.nesterov else v
        p -= lr * g


class AdamStep(OptimizerStep):
    """Adam with torch's epsilon placement: ``p -= lr * m^ / (sqrt(v^) + epsilon)``.

    ``amsgrad`` uses the running maximum of the (uncorrected) v in place of v, then
    bias-corrects it the same way; AdamW first decays ``p -= lr * weight_decay * p``.
    """

    spec: Adam

    def update(self, k: str, p: Array, g: Array, lr: float) -> None:
        s = self.spec
        if isinstance(s, AdamW):
            p -= lr * s.weight_decay * p
        # Bias corrections are Python floats (float64); the arrays stay float32.
        correction1 = 1 - s.beta_1**self.t
        sqrt_correction2 = (1 - s.beta_2**self.t) ** 0.5
        m, v = self.slots["m"][k], self.slots["v"][k]
        m += (1 - s.beta_1) * (g - m)  # = beta_1 m + (1 - beta_1) g, as torch's lerp
        v *= s.beta_2
        v += (1 - s.beta_2) * g * g
        if s.amsgrad:
            v_max = self.slots["v_max"][k]
            np.maximum(v_max, v, out=v_max)
            v = v_max
        denom = np.sqrt(v) / sqrt_correction2 + s.epsilon
        p -= (lr / correction1) * m / denom


class RMSpropStep(OptimizerStep):
    """``v = rho v + (1 - rho) g^2``; ``p -= lr * g / (sqrt(v) + epsilon)``; centered
    subtracts the squared mean gradient inside the sqrt; momentum keeps a buffer."""

    spec: RMSprop

    def update(self, k: str, p: Array, g: Array, lr: float) -> None:
        s = self.spec
        v = self.slots["v"][k]
        v *= s.rho
        v += (1 - s.rho) * g * g
        inner = v
        if s.centered:
            mg = self.slots["mean_grad"][k]
            mg *= s.rho
            mg += (1 - s.rho) * g
            inner = v - mg * mg
        step = g / (np.sqrt(inner) + s.epsilon)
        if s.momentum > 0:
            b = self.slots["momentum"][k]
            b *= s.momentum
            b += step
            step = b
        p -= lr * step


class AdagradStep(OptimizerStep):
    """``s += g^2``; ``p -= lr * g / (sqrt(s) + epsilon)``, s from the initial value."""

    spec: Adagrad

    def update(self, k: str, p: Array, g: Array, lr: float) -> None:
        acc = self.slots["accumulator"][k]
        acc += g * g
        p -= lr * g / (np.sqrt(acc) + self.spec.epsilon)


class AdadeltaStep(OptimizerStep):
    """``v = rho v + (1-rho) g^2``; ``d = sqrt(u + eps) / sqrt(v + eps) * g``;
    ``u = rho u + (1-rho) d^2``; ``p -= lr d``."""

    spec: Adadelta

    def update(self, k: str, p: Array, g: Array, lr: float) -> None:
        s = self.spec
        v, u = self.slots["v"][k], self.slots["u"][k]
        v *= s.rho
        v += (1 - s.rho) * g * g
        d = np.sqrt(u + s.epsilon) / np.sqrt(v + s.epsilon) * g
        u *= s.rho
        u += (1 - s.rho) * d * d
        p -= lr * d


#: Which class runs which spec (exact types: a user's subclass is not ours to guess).
STEPS: dict[type[Optimizer], type[OptimizerStep]] = {
    SGD: SGDStep, Adam: AdamStep, AdamW: AdamStep, RMSprop: RMSpropStep,
    Adagrad: AdagradStep, Adadelta: AdadeltaStep,
}


def make_optimizer(spec: Optimizer, params: Params) -> OptimizerStep:
    """A fresh optimizer (zeroed state) for ``spec``; called by ``configure``."""
    cls = STEPS.get(type(spec))
    if cls is None:
        raise NotSupportedError(f"the numpy backend has no optimizer {spec.kind}; it "
                                f"supports {', '.join(c.kind for c in STEPS)}")
    return cls(spec, params)
