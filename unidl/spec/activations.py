"""Activations: each one's name and NumPy definition, registered in one place.

Constants that frameworks disagree on are fixed here and every backend follows them:
``leaky_relu`` uses negative slope 0.2 (Keras' default; torch's is 0.01), ``gelu`` is the
exact erf form (not the tanh approximation), ``elu`` uses alpha 1.0, ``swish`` is
``x * sigmoid(x)`` (torch's SiLU). Your own activation is registered the same way, with
:func:`register_activation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..errors import SpecError
from .kinds import ACTIVATION_KINDS, ActivationKind

__all__ = [
    "ACTIVATIONS",
    "LEAKY_RELU_SLOPE",
    "check_activation",
    "reference_activation",
    "register_activation",
]

Array = npt.NDArray[Any]

#: Every registered activation, by canonical name (a read-only mapping).
ACTIVATIONS: Final = ACTIVATION_KINDS
LEAKY_RELU_SLOPE: Final = 0.2
_SELU_ALPHA: Final = 1.6732632423543772848170429916717
_SELU_SCALE: Final = 1.0507009873554804934193349852946


def register_activation(name: str, reference: Callable[[Array], Array], *,
                        elementwise: bool = True, aliases: tuple[str, ...] = (),
                        doc: str = "", module: str | None = None) -> ActivationKind:
    """Make ``name`` an activation every layer's ``activation=`` accepts.

    ``reference(x)`` is its NumPy definition (float64); each backend that runs it registers
    a builder for the returned kind with :func:`unidl.register_builder`. ``elementwise``
    False marks an activation over the channel (last) axis, like softmax. ``module``
    defaults to the caller's module.
    """
    if not callable(reference):
        raise SpecError(f"reference must be a function of a NumPy array, got "
                        f"{reference!r:.80}", "register_activation")
    kind = ActivationKind(name, reference, elementwise, doc)
    ACTIVATION_KINDS.add(name, kind, module or _caller_module(), aliases)
    return kind


def _caller_module() -> str:
    import sys

    frame = sys._getframe(2)
    return str(frame.f_globals.get("__name__", "__main__"))


def check_activation(name: str | None, path: str) -> str:
    """Return the canonical activation name, or raise naming ``path``."""
    if name is None:
        return "linear"
    return ACTIVATION_KINDS.lookup(name, path).name


def reference_activation(name: str, x: Array) -> Array:
    """The activation ``name`` applied to ``x`` by its NumPy definition."""
    return np.asarray(ACTIVATION_KINDS.lookup(name, "activation").reference(x))


def _erf(x: Array) -> Array:
    return np.asarray(np.vectorize(math.erf, otypes=[np.float64])(x))


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _sigmoid(x: Array) -> Array:
    return np.asarray(1 / (1 + np.exp(-x)))


_BUILTINS: Final[tuple[tuple[str, Callable[[Array], Array], tuple[str, ...], str], ...]] = (
    ("linear", lambda x: x, ("none", "identity"), "x"),
    ("relu", lambda x: np.maximum(x, 0), (), "max(x, 0)"),
    ("sigmoid", _sigmoid, (), "1 / (1 + e^-x)"),
    ("tanh", np.tanh, (), "tanh(x)"),
    ("softmax", _softmax, (), "e^x / sum(e^x) over the last (channel) axis"),
    ("gelu", lambda x: np.asarray(0.5 * x * (1 + _erf(x / math.sqrt(2)))), (),
     "x Φ(x), the exact erf form"),
    ("leaky_relu", lambda x: np.where(x >= 0, x, LEAKY_RELU_SLOPE * x), (),
     f"x if x >= 0 else {LEAKY_RELU_SLOPE} x"),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), (),
     "x if x > 0 else e^x - 1"),
    ("selu", lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
     (), "scale (x if x > 0 else alpha (e^x - 1)), scale 1.0507, alpha 1.6733"),
    ("softplus", lambda x: np.logaddexp(0, x), (), "log(1 + e^x)"),
    ("swish", lambda x: np.asarray(x / (1 + np.exp(-x))), ("silu",), "x sigmoid(x)"),
)
for _name, _fn, _aliases, _doc in _BUILTINS:
    register_activation(_name, _fn, elementwise=_name != "softmax", aliases=_aliases,
                        doc=_doc, module=__name__)
