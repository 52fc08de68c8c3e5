"""The NumPy reference of every optimizer's update rule and of gradient clipping.

One home for the formulas that ``unidl/spec/optimizers.py`` documents (torch.optim's rules
with Keras' defaults): the conformance suite replays training with them, backend tests
compare against them, and a backend author can read them as the executable definition.
float64 throughout. State slots carry the canonical names of ``unidl.optimizer_state``
(``momentum``, ``m``, ``v``, ``v_max``, ``mean_grad``, ``accumulator``, ``u``), so a
reference state can be compared with ``get_optimizer_state()`` entry by entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..optimizer_state import optimizer_slots
from ..spec import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["CLIPNORM_EPSILON", "ReferenceOptimizer", "clip_gradients"]

F64 = npt.NDArray[np.float64]

#: Added to the global norm before dividing, as torch's ``clip_grad_norm_`` does.
CLIPNORM_EPSILON = 1e-6


def clip_gradients(optimizer: Optimizer, grads: Mapping[str, Any]) -> dict[str, F64]:
    """``clipvalue`` (element-wise clamp) first, then ``clipnorm`` (one global L2 norm over
    every gradient, scale ``min(1, clipnorm / (norm + 1e-6))``)."""
    out = {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}
    if optimizer.clipvalue is not None:
        out = {k: np.clip(g, -optimizer.clipvalue, optimizer.clipvalue) for k, g in out.items()}
    if optimizer.clipnorm is not None:
        norm = float(np.sqrt(sum(float((g * g).sum()) for g in out.values())))
        scale = min(1.0, optimizer.clipnorm / (norm + CLIPNORM_EPSILON))
        out = {k: g * scale for k, g in out.items()}
    return out


class ReferenceOptimizer:
    """The documented update rule of ``optimizer``, one :meth:`step` per batch.

    ``state[name][slot]`` holds the canonical slots; ``steps`` counts steps since creation
    (a fresh state, as ``configure`` must give).
    """

    def __init__(self, optimizer: Optimizer, params: Mapping[str, Any]) -> None:
        self.spec = optimizer
        self.steps = 0
        init = (optimizer.initial_accumulator_value if isinstance(optimizer, Adagrad)
                else 0.0)
        self.state: dict[str, dict[str, F64]] = {
            k: {slot: np.full(np.shape(v), init, dtype=np.float64)
                for slot in optimizer_slots(optimizer)} for k, v in params.items()}

    def step(self, params: Mapping[str, Any], grads: Mapping[str, Any],
             lr: float | None = None) -> dict[str, F64]:
        """New parameters (float64) after one step with gradients ``grads`` (clipped here
        as the spec says) at learning rate ``lr`` (default: the spec's)."""
        self.steps += 1
        rate = self.spec.lr if lr is None else float(lr)
        clipped = clip_gradients(self.spec, grads)
        return {k: _update(self.spec, np.asarray(p, dtype=np.float64), clipped[k],
                           self.state[k], self.steps, rate)
                for k, p in params.items()}


def _update(o: Optimizer, p: F64, g: F64, s: dict[str, F64], t: int, lr: float) -> F64:
    if isinstance(o, SGD):
        if o.momentum == 0:
            return p - lr * g
        v = s["momentum"] = o.momentum * s["momentum"] + g
        return p - lr * ((g + o.momentum * v) if o.nesterov else v)
    if isinstance(o, Adam):  # AdamW included
        if isinstance(o, AdamW):  # decoupled: decay the weights before the Adam step
            p = p - lr * o.weight_decay * p
        m = s["m"] = o.beta_1 * s["m"] + (1 - o.beta_1) * g
        v = s["v"] = o.beta_2 * s["v"] + (1 - o.beta_2) * g * g
        if o.amsgrad:  # the running maximum of the *uncorrected* v, then corrected
            v = s["v_max"] = np.maximum(s["v_max"], v)
        m_hat, v_hat = m / (1 - o.beta_1 ** t), v / (1 - o.beta_2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + o.epsilon)
    if isinstance(o, RMSprop):
        v = s["v"] = o.rho * s["v"] + (1 - o.rho) * g * g
        if o.centered:
            mg = s["mean_grad"] = o.rho * s["mean_grad"] + (1 - o.rho) * g
            v = v - mg * mg
        denom = np.sqrt(v) + o.epsilon
        if o.momentum > 0:
            b = s["momentum"] = o.momentum * s["momentum"] + g / denom
            return p - lr * b
        return p - lr * g / denom
    if isinstance(o, Adagrad):
        acc = s["accumulator"] = s["accumulator"] + g * g
        return p - lr * g / (np.sqrt(acc) + o.epsilon)
    if isinstance(o, Adadelta):
        v = s["v"] = o.rho * s["v"] + (1 - o.rho) * g * g
        d = np.sqrt(s["u"] + o.epsilon) / np.sqrt(v + o.epsilon) * g
        s["u"] = o.rho * s["u"] + (1 - o.rho) * d * d
        return p - lr * d
    raise TypeError(f"no reference update rule for {type(o).__name__}")
