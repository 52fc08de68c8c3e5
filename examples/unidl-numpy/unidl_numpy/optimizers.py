"""SGD and Adam, written out from the formulas in ``unidl.spec.training``.

Those are torch.optim's update rules with Keras' default values, and every hyper-parameter
comes from the spec object: a backend never substitutes its framework's own defaults.
Updates happen in place, in the parameters' dtype (float32), like the frameworks do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from unidl import NotSupportedError
from unidl.spec import SGD, Adam, Optimizer

__all__ = ["AdamStep", "SGDStep", "make_optimizer"]

Params = dict[str, npt.NDArray[Any]]


class SGDStep:
    """``v = momentum * v + g``; ``p -= lr * v`` (nesterov: ``p -= lr * (g + momentum * v)``)."""

    def __init__(self, spec: SGD, params: Params) -> None:
        self.spec = spec
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Params, grads: Params) -> None:
        lr, momentum = self.spec.lr, self.spec.momentum
        for k, g in grads.items():
            if momentum:
                v = self.velocity[k]
                v *= momentum
                v += g
                g = g + momentum * v if self.spec.nesterov else v
            params[k] -= lr * g


class AdamStep:
    """Adam with torch's epsilon placement: ``p -= lr * m^ / (sqrt(v^) + epsilon)``.

    ``amsgrad`` uses the running maximum of v in place of v (bias-corrected the same way).
    """

    def __init__(self, spec: Adam, params: Params) -> None:
        self.spec = spec
        self.t = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.v_max = {k: np.zeros_like(v) for k, v in params.items()} if spec.amsgrad else {}

    def step(self, params: Params, grads: Params) -> None:
        s = self.spec
        self.t += 1
        # Bias corrections are Python floats (float64); the arrays stay float32.
        correction1 = 1 - s.beta_1**self.t
        sqrt_correction2 = (1 - s.beta_2**self.t) ** 0.5
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m += (1 - s.beta_1) * (g - m)  # = beta_1 m + (1 - beta_1) g, as torch's lerp
            v *= s.beta_2
            v += (1 - s.beta_2) * g * g
            if s.amsgrad:
                np.maximum(self.v_max[k], v, out=self.v_max[k])
                v = self.v_max[k]
            denom = np.sqrt(v) / sqrt_correction2 + s.epsilon
            params[k] -= (s.lr / correction1) * m / denom


def make_optimizer(spec: Optimizer, params: Params) -> SGDStep | AdamStep:
    """A fresh optimizer (zeroed state) for ``spec``; called by ``configure``."""
    if spec.clips:
        raise NotSupportedError("the numpy backend does not support clipnorm/clipvalue "
                                "(feature 'gradient_clipping' is not declared)")
    # Exact type checks: AdamW subclasses Adam but needs weight decay we do not implement.
    if type(spec) is SGD:
        return SGDStep(spec, params)
    if type(spec) is Adam:
        return AdamStep(spec, params)
    raise NotSupportedError(f"the numpy backend has no optimizer {spec.kind}; "
                            "it supports SGD and Adam")
