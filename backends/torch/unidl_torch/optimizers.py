"""The built-in optimizers' torch builders, with unidl's hyper-parameter meanings, and
:func:`make_optimizer`, which finds any optimizer's builder.

The spec's update rules are torch.optim's formulas (see :mod:`unidl.spec.optimizers`), so
each maps one to one; what must never leak through are torch's *defaults* (Adam eps 1e-8,
RMSprop alpha 0.99, Adagrad eps 1e-10 and initial accumulator 0, Adadelta lr 1.0): every
value is passed explicitly. Extras torch adds (weight_decay, dampening, lr_decay, maximize)
are pinned to their neutral values.

Each built-in registers a :class:`TorchOptimizer` for its spec class with
:func:`unidl.register_builder`: the factory, plus which torch state tensor holds each
canonical optimizer-state slot (:mod:`unidl.optimizer_state`), so state moves between
backends. A user's optimizer registers a plain factory the same way
(``create(spec, params, device) -> torch.optim.Optimizer``; see
:mod:`unidl_torch.builders`), or a :class:`TorchOptimizer` to also support canonical state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from unidl import NotSupportedError
from unidl.spec import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    builder_for,
    register_builder,
)

__all__ = ["TorchOptimizer", "make_optimizer", "optimizer_builder"]

_BACKEND = "torch"
Create = Callable[[Any, list[torch.nn.Parameter], torch.device], torch.optim.Optimizer]


def _zero(spec: Any, slot: str) -> float:
    return 0.0


@dataclass(frozen=True)
class TorchOptimizer:
    """An optimizer builder: ``create(spec, params, device)`` makes the torch optimizer;
    ``state_keys`` maps each canonical state slot to the key of torch's per-parameter state
    that holds it (in the parameter's torch layout); ``initial(spec, slot)`` is a slot's
    value before torch's first step creates it; ``counts_steps``: torch keeps a ``"step"``
    entry per parameter (SGD does not)."""

    create: Create
    state_keys: Mapping[str, str] = field(default_factory=dict)
    initial: Callable[[Any, str], float] = _zero
    counts_steps: bool = True

    def __call__(self, spec: Any, params: list[torch.nn.Parameter],
                 device: torch.device) -> torch.optim.Optimizer:
        return self.create(spec, params, device)


def optimizer_builder(spec: Optimizer) -> Callable[..., torch.optim.Optimizer]:
    """The builder registered for ``spec``'s kind, or a NotSupportedError naming it."""
    builder = builder_for("optimizer", spec.kind, _BACKEND)
    if builder is None:
        raise NotSupportedError(
            f"the torch backend has no builder for optimizer {spec.kind!r}; register one "
            f"with unidl.register_builder({type(spec).__name__}, 'torch', create) where "
            "create(spec, params, device) returns a torch.optim.Optimizer")
    return builder  # type: ignore[return-value]


def make_optimizer(spec: Optimizer, params: Iterable[torch.nn.Parameter],
                   device: torch.device) -> torch.optim.Optimizer:
    """A fresh torch optimizer implementing ``spec`` exactly."""
    return optimizer_builder(spec)(spec, list(params), device)


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


def _sgd(spec: SGD, params: list[torch.nn.Parameter],
         device: torch.device) -> torch.optim.Optimizer:
    return _create(torch.optim.SGD, params, _kernel(device, True), lr=spec.lr,
                   momentum=spec.momentum, dampening=0.0, nesterov=spec.nesterov,
                   weight_decay=0.0)


def _adam(spec: Adam, params: list[torch.nn.Parameter],
          device: torch.device) -> torch.optim.Optimizer:
    return _create(torch.optim.Adam, params, _kernel(device, True), lr=spec.lr,
                   betas=(spec.beta_1, spec.beta_2), eps=spec.epsilon, weight_decay=0.0,
                   amsgrad=spec.amsgrad)


def _adamw(spec: AdamW, params: list[torch.nn.Parameter],
           device: torch.device) -> torch.optim.Optimizer:
    return _create(torch.optim.AdamW, params, _kernel(device, True), lr=spec.lr,
                   betas=(spec.beta_1, spec.beta_2), eps=spec.epsilon,
                   weight_decay=spec.weight_decay, amsgrad=spec.amsgrad)


def _rmsprop(spec: RMSprop, params: list[torch.nn.Parameter],
             device: torch.device) -> torch.optim.Optimizer:
    return _create(torch.optim.RMSprop, params, _kernel(device, False), lr=spec.lr,
                   alpha=spec.rho, eps=spec.epsilon, momentum=spec.momentum,
                   centered=spec.centered, weight_decay=0.0)


def _adagrad(spec: Adagrad, params: list[torch.nn.Parameter],
             device: torch.device) -> torch.optim.Optimizer:
    # torch's fused Adagrad is CPU-only
    return _create(torch.optim.Adagrad, params, _kernel(device, device.type == "cpu"),
                   lr=spec.lr, lr_decay=0.0, weight_decay=0.0, eps=spec.epsilon,
                   initial_accumulator_value=spec.initial_accumulator_value)


def _adagrad_initial(spec: Adagrad, slot: str) -> float:
    return float(spec.initial_accumulator_value) if slot == "accumulator" else 0.0


def _adadelta(spec: Adadelta, params: list[torch.nn.Parameter],
              device: torch.device) -> torch.optim.Optimizer:
    return _create(torch.optim.Adadelta, params, _kernel(device, False), lr=spec.lr,
                   rho=spec.rho, eps=spec.epsilon, weight_decay=0.0)


_ADAM_STATE = {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"}
register_builder(SGD, _BACKEND, TorchOptimizer(_sgd, {"momentum": "momentum_buffer"},
                                               counts_steps=False))
register_builder(Adam, _BACKEND, TorchOptimizer(_adam, _ADAM_STATE))
register_builder(AdamW, _BACKEND, TorchOptimizer(_adamw, _ADAM_STATE))
register_builder(RMSprop, _BACKEND, TorchOptimizer(
    _rmsprop, {"v": "square_avg", "mean_grad": "grad_avg", "momentum": "momentum_buffer"}))
register_builder(Adagrad, _BACKEND, TorchOptimizer(_adagrad, {"accumulator": "sum"},
                                                   _adagrad_initial))
register_builder(Adadelta, _BACKEND, TorchOptimizer(_adadelta, {"v": "square_avg",
                                                                "u": "acc_delta"}))
