"""Activation names and their one definition (the formulas live in docs/reference/activations.md).

Constants that frameworks disagree on are fixed here and every backend follows them:
``leaky_relu`` uses negative slope 0.2 (Keras' default; torch's is 0.01), ``gelu`` is the
exact erf form (not the tanh approximation), ``elu`` uses alpha 1.0, ``swish`` is
``x * sigmoid(x)`` (torch's SiLU).
"""

from __future__ import annotations

from typing import Final

from ..errors import UnknownNameError

__all__ = ["ACTIVATIONS", "LEAKY_RELU_SLOPE", "check_activation"]

ACTIVATIONS: Final = (
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "gelu",
    "leaky_relu",
    "elu",
    "selu",
    "softplus",
    "swish",
)
LEAKY_RELU_SLOPE: Final = 0.2

_ALIASES: Final = {"silu": "swish", "none": "linear", "identity": "linear"}


def check_activation(name: str | None, path: str) -> str:
    """Return the canonical activation name, or raise naming ``path``."""
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise UnknownNameError("activation", repr(name), ACTIVATIONS, path)
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in ACTIVATIONS:
        raise UnknownNameError("activation", name, ACTIVATIONS, path)
    return key
