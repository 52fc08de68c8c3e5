"""Learning-rate schedules: serialisable specs whose values the core computes.

A schedule maps a time ``t`` (epochs, or optimizer steps with ``per="step"``) and the
optimizer's base ``lr`` to the learning rate of each step; the core hands the backend one
rate per batch (``EpochPlan.learning_rates``), so every backend applies exactly the same
rates. ``ReduceLROnPlateau`` is stateful: it lowers the rate when a monitored value stops
improving, decided by the core at the end of each epoch.

Formulas (torch.optim.lr_scheduler's closed forms):

- ``StepLR``: ``lr * gamma ** (t // step_size)``
- ``MultiStepLR``: ``lr * gamma ** (number of milestones <= t)``
- ``ExponentialLR``: ``lr * gamma ** t``
- ``CosineAnnealingLR``: ``eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``
- ``LinearWarmup``: ``lr * (start_factor + (1 - start_factor) * t / warmup)`` for
  ``t < warmup``, then ``after`` (another schedule, or constant ``lr``) at ``t - warmup``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import numpy as np
import numpy.typing as npt

from ..errors import SpecError, UnknownNameError, short
from ..spec.bounds import check_keys
from ..spec.layers.base import finite
from .callbacks import better

__all__ = [
    "SCHEDULE_TYPES",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearWarmup",
    "MultiStepLR",
    "ReduceLROnPlateau",
    "Schedule",
    "StepLR",
    "schedule_from",
    "step_rates",
]

Per = Literal["epoch", "step"]


def _check(ok: bool, message: str, path: str) -> None:
    if not ok:
        raise SpecError(message, path)


def _number(value: object, path: str) -> float:
    return finite(value, path)  # NaN and inf are refused: no schedule means them


@dataclass(frozen=True)
class Schedule:
    """Base of schedules. ``per``: whether ``t`` counts epochs or optimizer steps."""

    kind: ClassVar[str] = "Schedule"

    def __post_init__(self) -> None:
        per = getattr(self, "per", "epoch")
        if per not in ("epoch", "step"):
            raise UnknownNameError("schedule unit", per, ("epoch", "step"),
                                   f"{self.kind}.per")

    def rate(self, base_lr: float, t: int) -> float:
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"class": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Schedule):
                value = value.to_config()
            config[f.name] = list(value) if isinstance(value, tuple) else value
        return config


@dataclass(frozen=True)
class StepLR(Schedule):
    step_size: int
    gamma: float = 0.1
    per: Per = "epoch"
    kind: ClassVar[str] = "StepLR"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(isinstance(self.step_size, int) and self.step_size > 0,
               f"must be a positive integer, got {short(self.step_size)}", "StepLR.step_size")
        _check(_number(self.gamma, "StepLR.gamma") > 0, f"must be > 0, got {short(self.gamma)}",
               "StepLR.gamma")

    def rate(self, base_lr: float, t: int) -> float:
        return float(base_lr * self.gamma ** (t // self.step_size))


@dataclass(frozen=True)
class MultiStepLR(Schedule):
    milestones: tuple[int, ...]
    gamma: float = 0.1
    per: Per = "epoch"
    kind: ClassVar[str] = "MultiStepLR"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(isinstance(self.milestones, (list, tuple)),
               f"must be a list of increasing positive integers, got {short(self.milestones)}",
               "MultiStepLR.milestones")
        ms = tuple(self.milestones)
        _check(all(isinstance(m, int) and m > 0 for m in ms) and list(ms) == sorted(set(ms)),
               f"must be increasing positive integers, got {short(self.milestones)}",
               "MultiStepLR.milestones")
        object.__setattr__(self, "milestones", ms)
        _check(_number(self.gamma, "MultiStepLR.gamma") > 0,
               f"must be > 0, got {short(self.gamma)}",
               "MultiStepLR.gamma")

    def rate(self, base_lr: float, t: int) -> float:
        return float(base_lr * self.gamma ** sum(1 for m in self.milestones if m <= t))


@dataclass(frozen=True)
class ExponentialLR(Schedule):
    gamma: float
    per: Per = "epoch"
    kind: ClassVar[str] = "ExponentialLR"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(_number(self.gamma, "ExponentialLR.gamma") > 0,
               f"must be > 0, got {short(self.gamma)}",
               "ExponentialLR.gamma")

    def rate(self, base_lr: float, t: int) -> float:
        return float(base_lr * self.gamma**t)


@dataclass(frozen=True)
class CosineAnnealingLR(Schedule):
    T_max: int
    eta_min: float = 0.0
    per: Per = "epoch"
    kind: ClassVar[str] = "CosineAnnealingLR"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(isinstance(self.T_max, int) and self.T_max > 0,
               f"must be a positive integer, got {short(self.T_max)}", "CosineAnnealingLR.T_max")
        _check(_number(self.eta_min, "CosineAnnealingLR.eta_min") >= 0,
               f"must be >= 0, got {short(self.eta_min)}", "CosineAnnealingLR.eta_min")

    def rate(self, base_lr: float, t: int) -> float:
        return float(self.eta_min + (base_lr - self.eta_min)
                     * (1 + math.cos(math.pi * t / self.T_max)) / 2)


@dataclass(frozen=True)
class LinearWarmup(Schedule):
    warmup: int
    start_factor: float = 0.0
    after: Schedule | None = None
    per: Per = "epoch"
    kind: ClassVar[str] = "LinearWarmup"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(isinstance(self.warmup, int) and self.warmup > 0,
               f"must be a positive integer, got {short(self.warmup)}", "LinearWarmup.warmup")
        _check(0 <= _number(self.start_factor, "LinearWarmup.start_factor") < 1,
               f"must be in [0, 1), got {short(self.start_factor)}", "LinearWarmup.start_factor")
        raw: object = self.after
        if isinstance(raw, dict):  # from a config file
            object.__setattr__(self, "after", schedule_from(raw, "LinearWarmup.after"))
        if isinstance(self.after, ReduceLROnPlateau):
            raise SpecError("cannot follow a warmup (it is epoch-driven and stateful)",
                            "LinearWarmup.after")
        if self.after is not None and getattr(self.after, "per", "epoch") != self.per:
            raise SpecError("must count the same unit as the warmup (per=...)",
                            "LinearWarmup.after")

    def rate(self, base_lr: float, t: int) -> float:
        if t < self.warmup:
            return float(base_lr * (self.start_factor + (1 - self.start_factor)
                                    * t / self.warmup))
        return base_lr if self.after is None else self.after.rate(base_lr, t - self.warmup)


@dataclass(frozen=True)
class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` once ``patience`` consecutive epochs have not
    improved ``monitor`` by more than ``min_delta`` (Keras' rule; torch's scheduler waits
    one epoch more), then reset the count for ``cooldown`` epochs; never below ``min_lr``.
    ``mode``: "min", "max" or "auto" (max for accuracy-like names, else min). The decision
    is taken by the core after each epoch and applies from the next one."""

    monitor: str = "val_loss"
    factor: float = 0.1
    patience: int = 10
    mode: str = "auto"
    min_delta: float = 1e-4
    cooldown: int = 0
    min_lr: float = 0.0
    kind: ClassVar[str] = "ReduceLROnPlateau"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(0 < _number(self.factor, "ReduceLROnPlateau.factor") < 1,
               f"must be in (0, 1), got {short(self.factor)}",
               "ReduceLROnPlateau.factor")
        _check(isinstance(self.patience, int) and self.patience >= 0,
               f"must be an integer >= 0, got {short(self.patience)}", "ReduceLROnPlateau.patience")
        if self.mode not in ("min", "max", "auto"):
            raise UnknownNameError("mode", self.mode, ("min", "max", "auto"),
                                   "ReduceLROnPlateau.mode")
        _check(isinstance(self.monitor, str) and bool(self.monitor),
               f"must be a log name such as 'val_loss', got {short(self.monitor)}",
               "ReduceLROnPlateau.monitor")
        _check(_number(self.min_delta, "ReduceLROnPlateau.min_delta") >= 0,
               f"must be >= 0, got {short(self.min_delta)}", "ReduceLROnPlateau.min_delta")
        _check(isinstance(self.cooldown, int) and self.cooldown >= 0,
               f"must be an integer >= 0, got {short(self.cooldown)}", "ReduceLROnPlateau.cooldown")
        _check(_number(self.min_lr, "ReduceLROnPlateau.min_lr") >= 0,
               f"must be >= 0, got {short(self.min_lr)}", "ReduceLROnPlateau.min_lr")

    def rate(self, base_lr: float, t: int) -> float:  # the state lives in PlateauState
        return base_lr


@dataclass
class PlateauState:
    """The running state of a ReduceLROnPlateau (saved with the model to resume)."""

    lr: float
    best: float | None = None
    wait: int = 0
    cooldown_left: int = 0

    def update(self, spec: ReduceLROnPlateau, logs: dict[str, float]) -> None:
        value = logs.get(spec.monitor)
        if value is None:
            raise SpecError(f"ReduceLROnPlateau monitors {short(spec.monitor)}, which is not "
                            "in the "
                            f"epoch logs ({', '.join(logs)}); pass validation data or monitor "
                            "'loss'", "ReduceLROnPlateau.monitor")
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self.best is None or better(spec.monitor, spec.mode, value, self.best,
                                       spec.min_delta):
            self.best, self.wait = value, 0
        elif self.cooldown_left == 0:
            self.wait += 1
            if self.wait >= spec.patience:
                self.lr = max(self.lr * spec.factor, spec.min_lr)
                self.wait, self.cooldown_left = 0, spec.cooldown


SCHEDULE_TYPES: Final[dict[str, type[Schedule]]] = {
    cls.kind: cls for cls in (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
                              LinearWarmup, ReduceLROnPlateau)
}


def schedule_from(value: object, path: str = "lr_schedule") -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, dict):
        config = dict(value)
        kind = config.pop("class", "")
        cls = SCHEDULE_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise UnknownNameError("schedule", kind, SCHEDULE_TYPES, f"{path}.class")
        check_keys(config, [f.name for f in dataclasses.fields(cls) if f.init], cls.kind, path)
        if isinstance(config.get("milestones"), list):
            config["milestones"] = tuple(config["milestones"])
        try:
            return cls(**config)
        except TypeError as e:
            raise SpecError(str(e), path) from None
    raise SpecError(f"must be a schedule such as unidl.StepLR(step_size=10), got {short(value)}",
                    path)


def step_rates(schedule: Schedule | None, base_lr: float, epoch: int, steps: int,
               plateau: PlateauState | None = None) -> npt.NDArray[np.float64] | None:
    """The learning rate of each of the ``steps`` batches of ``epoch`` (None: constant)."""
    if schedule is None:
        return None
    if isinstance(schedule, ReduceLROnPlateau):
        assert plateau is not None
        return np.full(steps, plateau.lr, dtype=np.float64)
    if getattr(schedule, "per", "epoch") == "epoch":
        return np.full(steps, schedule.rate(base_lr, epoch), dtype=np.float64)
    first = epoch * steps
    return np.array([schedule.rate(base_lr, first + i) for i in range(steps)], np.float64)
