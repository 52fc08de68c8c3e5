"""Optimizer specs. Each hyper-parameter has exactly one meaning, written here.

Frameworks disagree on defaults and even formulas (Adam's epsilon placement, RMSprop's
rho, BatchNorm's momentum). unidl fixes one definition per optimizer, documented in the
class docstring, and every backend maps it exactly. Where the two big frameworks disagree,
the update rule is torch.optim's (the published algorithms) and the defaults are Keras'.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from ..errors import SpecError, short
from .bounds import check_keys
from .kinds import OPTIMIZER_KINDS, Family

__all__ = [
    "OPTIMIZER_TYPES",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "optimizer_from",
    "register_optimizer",
]

def _finite(value: int | float) -> bool:
    """Whether ``value`` is a finite number (an int too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


@dataclass(frozen=True, kw_only=True)
class _Clipping:
    """Gradient clipping shared by every optimizer, applied before its update:

    ``clipvalue``: each gradient element is clamped to ``[-clipvalue, clipvalue]``;
    ``clipnorm``: then all gradients together are scaled by ``min(1, clipnorm / (norm +
    1e-6))`` where ``norm`` is their global L2 norm (torch's ``clip_grad_norm_``; Keras'
    ``global_clipnorm``).
    """

    clipnorm: float | None = None
    clipvalue: float | None = None


@dataclass(frozen=True)
class Optimizer(_Clipping):
    """Base of optimizer specs; ``lr`` is the learning rate."""

    lr: float = 1e-3
    kind: ClassVar[str] = "Optimizer"
    kind_family: ClassVar[Family] = "optimizer"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            path = f"{self.kind}.{f.name}"
            if f.name in ("clipnorm", "clipvalue"):
                if value is not None and (isinstance(value, bool) or not isinstance(
                        value, (int, float)) or not _finite(value) or value <= 0):
                    raise SpecError(f"must be a finite number > 0 or None, got "
                                    f"{short(value)}", path)
                if value is not None:
                    object.__setattr__(self, f.name, float(value))
                continue
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise SpecError(f"must be True or False, got {short(value)}", path)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"must be a number, got {short(value)}", path)
            if not _finite(value):
                raise SpecError(f"must be a finite number, got {short(value)}", path)
            object.__setattr__(self, f.name, float(value))
        if not self.lr > 0:
            raise SpecError(f"must be > 0, got {short(self.lr)}", f"{self.kind}.lr")
        self._check()

    def _check(self) -> None:
        """Subclasses validate their ranges here."""

    def _in_unit(self, field: str, closed_low: bool = True) -> None:
        v = getattr(self, field)
        ok = (0.0 <= v < 1.0) if closed_low else (0.0 < v < 1.0)
        if not ok:
            lo = "[0" if closed_low else "(0"
            raise SpecError(f"must be in {lo}, 1), got {short(v)}", f"{self.kind}.{field}")

    def _positive(self, field: str, allow_zero: bool = False) -> None:
        v = getattr(self, field)
        if v < 0 or (v == 0 and not allow_zero):
            raise SpecError(f"must be {'>=' if allow_zero else '>'} 0, got {short(v)}",
                            f"{self.kind}.{field}")

    def state_slots(self) -> tuple[str, ...]:
        """The state this optimizer keeps per trainable parameter (each slot has the
        parameter's shape), in canonical order: the names ``optimizer.safetensors`` uses
        (see :mod:`unidl.optimizer_state`). A stateless rule keeps none; a registered
        optimizer with state overrides this so its state can be saved and resumed."""
        return ()

    @property
    def clips(self) -> bool:
        return self.clipnorm is not None or self.clipvalue is not None

    def to_config(self) -> dict[str, Any]:
        return {"class": self.kind, **dataclasses.asdict(self)}


OptimizerT = TypeVar("OptimizerT", bound=type[Optimizer])


def register_optimizer(cls: OptimizerT) -> OptimizerT:
    """Class decorator: make ``cls`` (a frozen dataclass subclass of :class:`Optimizer`
    with its own ``kind``) an optimizer known by that name (case-insensitive)."""
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)) or "kind" not in vars(cls):
        raise SpecError(f"register_optimizer takes a subclass of unidl.Optimizer that sets "
                        f"kind, got {cls!r:.80}", "register_optimizer")
    OPTIMIZER_KINDS.add(cls.kind, cls, cls.__module__)
    return cls


@register_optimizer
@dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent, torch's momentum form.

    ``v = momentum * v + g``; ``p -= lr * v`` (nesterov: ``p -= lr * (g + momentum * v)``).
    With a constant learning rate this equals Keras' ``v = m v - lr g; p += v``.
    """

    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    kind: ClassVar[str] = "SGD"

    def _check(self) -> None:
        self._in_unit("momentum")
        if self.nesterov and self.momentum == 0:
            raise SpecError("nesterov=True needs momentum > 0", "SGD.nesterov")

    def state_slots(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum > 0 else ()


@register_optimizer
@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected moments, ``p -= lr * m^ / (sqrt(v^) + epsilon)``.

    epsilon is added to the *bias-corrected* sqrt(v^) (torch's placement; Keras adds it to
    the uncorrected one). Default epsilon 1e-7 (Keras'; torch's is 1e-8).
    """

    lr: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False
    kind: ClassVar[str] = "Adam"

    def _check(self) -> None:
        self._in_unit("beta_1")
        self._in_unit("beta_2")
        self._positive("epsilon")

    def state_slots(self) -> tuple[str, ...]:  # AdamW too
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")


@register_optimizer
@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay: ``p -= lr * weight_decay * p`` before the Adam step."""

    weight_decay: float = 0.01
    kind: ClassVar[str] = "AdamW"

    def _check(self) -> None:
        super()._check()
        self._positive("weight_decay", allow_zero=True)


@register_optimizer
@dataclass(frozen=True)
class RMSprop(Optimizer):
    """RMSprop: ``v = rho v + (1 - rho) g^2``; ``p -= lr * g / (sqrt(v) + epsilon)``.

    ``centered`` subtracts the squared running mean of g inside the sqrt; ``momentum`` keeps
    ``b = momentum b + g / (sqrt(v) + eps)`` and steps ``p -= lr b``. rho 0.9 (Keras; torch's
    alpha defaults to 0.99).
    """

    lr: float = 1e-3
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False
    kind: ClassVar[str] = "RMSprop"

    def _check(self) -> None:
        self._in_unit("rho")
        self._in_unit("momentum")
        self._positive("epsilon")

    def state_slots(self) -> tuple[str, ...]:
        return (("v",) + (("mean_grad",) if self.centered else ())
                + (("momentum",) if self.momentum > 0 else ()))


@register_optimizer
@dataclass(frozen=True)
class Adagrad(Optimizer):
    """Adagrad: ``s += g^2``; ``p -= lr * g / (sqrt(s) + epsilon)``, s starts at
    ``initial_accumulator_value`` (Keras' 0.1; torch's is 0)."""

    lr: float = 1e-3
    initial_accumulator_value: float = 0.1
    epsilon: float = 1e-7
    kind: ClassVar[str] = "Adagrad"

    def _check(self) -> None:
        self._positive("initial_accumulator_value", allow_zero=True)
        self._positive("epsilon")

    def state_slots(self) -> tuple[str, ...]:
        return ("accumulator",)


@register_optimizer
@dataclass(frozen=True)
class Adadelta(Optimizer):
    """Adadelta (Zeiler): ``v = rho v + (1-rho) g^2``;
    ``d = sqrt(u + eps) / sqrt(v + eps) * g``; ``u = rho u + (1-rho) d^2``; ``p -= lr d``.
    Defaults are Keras': lr 1e-3, rho 0.95, epsilon 1e-7 (torch: 1.0, 0.9, 1e-6)."""

    lr: float = 1e-3
    rho: float = 0.95
    epsilon: float = 1e-7
    kind: ClassVar[str] = "Adadelta"

    def _check(self) -> None:
        self._in_unit("rho")
        self._positive("epsilon")

    def state_slots(self) -> tuple[str, ...]:
        return ("v", "u")


#: Every registered optimizer class by kind (looked up case-insensitively).
OPTIMIZER_TYPES: Final = OPTIMIZER_KINDS


def optimizer_from(value: object, path: str = "optimizer") -> Optimizer:
    """Accept an optimizer spec, a name (``"adam"``) or a config dict."""
    if isinstance(value, Optimizer):
        return value
    if isinstance(value, str):
        named: type[Optimizer] = OPTIMIZER_KINDS.lookup(value, path)
        return named()
    if isinstance(value, dict):
        config = dict(value)
        cls: type[Optimizer] = OPTIMIZER_KINDS.lookup(config.pop("class", ""), f"{path}.class")
        check_keys(config, [f.name for f in dataclasses.fields(cls) if f.init], cls.kind, path)
        try:
            return cls(**config)
        except TypeError as e:
            raise SpecError(str(e), path) from None
    raise SpecError(f"must be an optimizer such as unidl.Adam(lr=1e-3) or a name such as "
                    f"'adam', got {short(value)}", path)
