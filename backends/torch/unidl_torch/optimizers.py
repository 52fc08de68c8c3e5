"""unidl optimizer specs -> ``torch.optim`` with unidl's hyper-parameter meanings.

The spec's update rules are torch.optim's formulas (see ``unidl.spec.training``), so each
maps one to one; what must never leak through are torch's *defaults* (Adam eps 1e-8,
RMSprop alpha 0.99, Adagrad eps 1e-10 and initial accumulator 0, Adadelta lr 1.0): every
value is passed explicitly. Extras torch adds (weight_decay, dampening, lr_decay, maximize)
are pinned to their neutral values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from unidl.spec import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["make_optimizer"]


def _kernel(device: torch.device, fused_ok: bool) -> dict[str, Any]:
    """Pick torch's multi-tensor kernels: same math, fewer launches and less Python.

    ``fused`` (one kernel for all parameters) where torch has it for this optimizer, else
    ``foreach`` on accelerators. On CPU the per-parameter loop is kept where no fused kernel
    exists: ``foreach`` has no CPU kernels there and only adds overhead.
    """
    if fused_ok:
        return {"fused": True}
    return {"foreach": device.type != "cpu"}


def _create(cls: type[torch.optim.Optimizer], params: list[torch.nn.Parameter],
            kernel: dict[str, Any], **kwargs: Any) -> torch.optim.Optimizer:
    """``cls(params, **kwargs, **kernel)``, retrying with torch's default kernel choice when
    this torch (>= 2.1 is supported) has no such kernel for the device (fused CPU kernels
    arrived in 2.4, fused MPS ones later); the math is the same either way."""
    try:
        return cls(params, **kwargs, **kernel)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kwargs)


def make_optimizer(spec: Optimizer, params: Iterable[torch.nn.Parameter],
                   device: torch.device) -> torch.optim.Optimizer:
    """A fresh torch optimizer implementing ``spec`` exactly."""
    params = list(params)
    optim = torch.optim
    if isinstance(spec, SGD):
        return _create(optim.SGD, params, _kernel(device, True), lr=spec.lr,
                       momentum=spec.momentum, dampening=0.0, nesterov=spec.nesterov,
                       weight_decay=0.0)
    if isinstance(spec, Adam):  # AdamW subclasses Adam
        cls = optim.AdamW if isinstance(spec, AdamW) else optim.Adam
        decay = spec.weight_decay if isinstance(spec, AdamW) else 0.0
        return _create(cls, params, _kernel(device, True), lr=spec.lr,
                       betas=(spec.beta_1, spec.beta_2), eps=spec.epsilon,
                       weight_decay=decay, amsgrad=spec.amsgrad)
    if isinstance(spec, RMSprop):
        return _create(optim.RMSprop, params, _kernel(device, False), lr=spec.lr,
                       alpha=spec.rho, eps=spec.epsilon, momentum=spec.momentum,
                       centered=spec.centered, weight_decay=0.0)
    if isinstance(spec, Adagrad):  # torch's fused Adagrad is CPU-only
        return _create(optim.Adagrad, params, _kernel(device, device.type == "cpu"),
                       lr=spec.lr, lr_decay=0.0, weight_decay=0.0, eps=spec.epsilon,
                       initial_accumulator_value=spec.initial_accumulator_value)
    if isinstance(spec, Adadelta):
        return _create(optim.Adadelta, params, _kernel(device, False), lr=spec.lr,
                       rho=spec.rho, eps=spec.epsilon, weight_decay=0.0)
    from unidl import NotSupportedError

    raise NotSupportedError(f"the torch backend has no optimizer {type(spec).__name__!r}")
