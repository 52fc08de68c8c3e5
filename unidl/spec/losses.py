"""Losses: the :class:`Loss` spec and one row per loss kind with its NumPy definition.

Each loss is averaged over the samples of a batch; a per-element loss is first averaged
over each sample's elements. The facts the core needs about a loss (what its targets are,
whether it takes logits, which final activation it fuses with) are fields of its
:class:`~unidl.spec.kinds.LossKind`, never positions in a list. Your own loss is registered
the same way, with :func:`register_loss`.

- ``mse``/``mae``: (y - p)^2 / |y - p| per element.
- ``huber``: 0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta), per element.
- ``binary_crossentropy``: -(y log p + (1-y) log(1-p)) per element; with
  ``from_logits=True`` the model outputs logits and p = sigmoid(logit).
- ``categorical_crossentropy``: -sum_k y_k log p_k per sample (one-hot or soft y).
- ``sparse_categorical_crossentropy``: -log p_y per sample, y a class index.

When the model ends in softmax (sigmoid) and ``from_logits`` is False, backends compute
the cross-entropy from the pre-activation logits, so it is exact and never log(0).
Probabilities that did not come from such a fused activation are clipped to
``[PROB_CLIP, 1 - PROB_CLIP]`` (Keras' epsilon).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..errors import SpecError, UnknownNameError, short
from .bounds import check_keys
from .kinds import LOSS_KINDS, LossKind, LossTarget

__all__ = ["LOSSES", "PROB_CLIP", "Loss", "loss_from", "register_loss"]

Array = npt.NDArray[Any]
Reference = Callable[[Array, Array, Any], Array]

#: Every registered loss, by canonical name (a read-only mapping of LossKind rows).
LOSSES: Final = LOSS_KINDS
PROB_CLIP: Final = 1e-7


@dataclass(frozen=True)
class Loss:
    """A loss by name, with its options (``from_logits`` for losses that take logits,
    ``delta`` for huber). See the module docstring for each definition."""

    name: str
    from_logits: bool = False
    delta: float = 1.0

    def __post_init__(self) -> None:
        kind = LOSS_KINDS.lookup(self.name, "loss")
        object.__setattr__(self, "name", kind.name)
        if not isinstance(self.from_logits, bool):
            raise SpecError(f"must be True or False, got {short(self.from_logits)}",
                            "loss.from_logits")
        if self.from_logits and not kind.takes_logits:
            raise SpecError(f"from_logits only applies to a cross-entropy (a loss that takes "
                            f"logits), not {kind.name!r}", "loss.from_logits")
        if isinstance(self.delta, bool) or not isinstance(self.delta, (int, float)) \
                or not 0 < self.delta < math.inf:
            raise SpecError(f"must be a finite number > 0, got {short(self.delta)}",
                            "loss.delta")

    @property
    def kind(self) -> LossKind:
        return LOSS_KINDS[self.name]

    @property
    def is_cross_entropy(self) -> bool:
        """The loss takes logits (``from_logits``), as the cross-entropies do."""
        return self.kind.takes_logits

    def to_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def register_loss(name: str, reference: Reference, *, target: LossTarget = "values",
                  logits_reference: Reference | None = None, fuses_with: str | None = None,
                  aliases: tuple[str, ...] = (), doc: str = "",
                  module: str | None = None) -> LossKind:
    """Make ``name`` a loss that ``fit(loss=...)`` and spec files accept.

    ``reference(y_true, y_pred, spec)`` is its NumPy definition, returning the loss of each
    sample (shape ``(n,)``) or of each element (the core averages each sample's elements);
    ``spec`` is the :class:`Loss`. See :class:`~unidl.spec.kinds.LossKind` for ``target``,
    ``logits_reference`` and ``fuses_with``. Each backend that trains with it registers a
    builder for the returned kind with :func:`unidl.register_builder`.
    """
    for fn, what in ((reference, "reference"), (logits_reference, "logits_reference")):
        if fn is not None and not callable(fn):
            raise SpecError(f"{what} must be a function (y_true, y_pred, spec), got "
                            f"{fn!r:.80}", "register_loss")
    if target not in ("values", "class_index"):
        raise UnknownNameError("loss target", f"{target!s:.40}", ("values", "class_index"),
                               "register_loss")
    if fuses_with is not None and (logits_reference is None or
                                   fuses_with not in ("softmax", "sigmoid")):
        raise SpecError("fuses_with must be 'softmax' or 'sigmoid', and needs a "
                        "logits_reference", "register_loss")
    kind = LossKind(name, reference, logits_reference, fuses_with, target, doc)
    where = module or str(sys._getframe(1).f_globals.get("__name__", "__main__"))
    LOSS_KINDS.add(name, kind, where, aliases)
    return kind


def loss_from(value: object, path: str = "loss") -> Loss:
    """Accept a :class:`Loss`, a name (``"mse"``) or a config dict."""
    if isinstance(value, Loss):
        return value
    if isinstance(value, str):
        return Loss(value)
    if isinstance(value, dict):
        check_keys(value, [f.name for f in dataclasses.fields(Loss) if f.init], "loss", path)
        try:
            return Loss(**value)
        except TypeError as e:
            raise SpecError(str(e), path) from None
    raise SpecError(f"must be a loss name such as 'mse' or unidl.Loss(...), got "
                    f"{short(value)}", path)


# -- the built-in losses' NumPy definitions ------------------------------------------------

def _clip(p: Array) -> Array:
    return np.clip(p, PROB_CLIP, 1 - PROB_CLIP)


def _log_softmax(z: Array) -> Array:
    z = z - z.max(axis=-1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))


def _huber(t: Array, p: Array, spec: Any) -> Array:
    a, d = np.abs(t - p), spec.delta
    return np.asarray(np.where(a <= d, 0.5 * a**2, d * (a - 0.5 * d)))


def _bce(t: Array, p: Array, spec: Any) -> Array:
    q = _clip(p)
    return np.asarray(-(t * np.log(q) + (1 - t) * np.log(1 - q)))


def _bce_logits(t: Array, z: Array, spec: Any) -> Array:
    return np.asarray(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))  # stable


def _cce(t: Array, p: Array, spec: Any) -> Array:
    p = p / p.sum(axis=-1, keepdims=True)  # Keras renormalises probabilities before clipping
    return np.asarray(-(t * np.log(_clip(p))).sum(axis=-1))


def _cce_logits(t: Array, z: Array, spec: Any) -> Array:
    return np.asarray(-(t * _log_softmax(z)).sum(axis=-1))


def _pick(logp: Array, idx: Array) -> Array:
    picked: Array = np.take_along_axis(logp.reshape(len(idx), -1), idx[:, None], 1)
    return np.asarray(-picked[:, 0])


def _sparse(t: Array, p: Array, spec: Any) -> Array:
    return _pick(np.log(_clip(p)), t)


def _sparse_logits(t: Array, z: Array, spec: Any) -> Array:
    return _pick(_log_softmax(z), t)


register_loss("mse", lambda t, p, spec: (t - p) ** 2, aliases=("mean_squared_error",),
              doc="(y - p)^2", module=__name__)
register_loss("mae", lambda t, p, spec: np.abs(t - p), aliases=("mean_absolute_error",),
              doc="|y - p|", module=__name__)
register_loss("huber", _huber, aliases=("huber_loss",),
              doc="0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta)", module=__name__)
register_loss("binary_crossentropy", _bce, logits_reference=_bce_logits,
              fuses_with="sigmoid", aliases=("bce",),
              doc="-(y log p + (1 - y) log(1 - p))", module=__name__)
register_loss("categorical_crossentropy", _cce, logits_reference=_cce_logits,
              fuses_with="softmax", aliases=("crossentropy",), doc="-sum_k y_k log p_k",
              module=__name__)
register_loss("sparse_categorical_crossentropy", _sparse, logits_reference=_sparse_logits,
              fuses_with="softmax", target="class_index", doc="-log p_y, y a class index",
              module=__name__)
