"""The keras builders of the activations, and the Keras layers that apply them.

An activation's builder is ``fn(x) -> y`` written with ``keras.ops`` or ``tf`` (over the
last axis for a kind registered with ``elementwise=False``; data is channels-last here).
The built-in ones register an :class:`ActivationBuilder`, which also names the plain Keras
layer that computes exactly the unidl definition, so a ``.keras`` export of a model using
only built-in kinds loads in plain Keras. A user's function is applied through
``keras.layers.Activation(fn)``.

Every constant is explicit: ``leaky_relu`` is ``LeakyReLU(negative_slope=0.2)``, ``elu``
``ELU(alpha=1.0)``, ``gelu`` the exact erf form, ``swish`` Keras' ``silu``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unidl.errors import NotSupportedError
from unidl.spec import ACTIVATION_KINDS, builder_for, register_builder
from unidl.spec.activations import LEAKY_RELU_SLOPE

from ._runtime import BACKEND, keras

__all__ = ["ActivationBuilder", "activation_fn", "activation_layer", "gelu_exact"]


@dataclass(frozen=True)
class ActivationBuilder:
    """A built-in activation: ``fn(x)`` computes it, ``layer(name)`` makes the Keras layer
    (serialisable by Keras) that applies it."""

    fn: Callable[[Any], Any]
    layer: Callable[[str], Any]

    def __call__(self, x: Any) -> Any:
        return self.fn(x)


def gelu_exact(x: Any) -> Any:
    """Exact (erf) GELU; registered so a ``.keras`` export using it loads back."""
    return keras.activations.gelu(x, approximate=False)


keras.saving.register_keras_serializable(package="unidl")(gelu_exact)

# Keras 3 activations.gelu defaults to the exact form; only fall back to the registered
# function (which needs ``import unidl_keras`` to load) if a version ever changes that.
_GELU: Any = (
    "gelu"
    if inspect.signature(keras.activations.gelu).parameters["approximate"].default is False
    else gelu_exact
)


def _named(keras_name: Any) -> Callable[[str], Any]:
    return lambda name: keras.layers.Activation(keras_name, name=name)


def _leaky_relu(x: Any) -> Any:
    return keras.activations.leaky_relu(x, negative_slope=LEAKY_RELU_SLOPE)


def _elu(x: Any) -> Any:
    return keras.activations.elu(x, alpha=1.0)


_BUILTINS: dict[str, ActivationBuilder] = {
    "linear": ActivationBuilder(keras.activations.linear, _named("linear")),
    "relu": ActivationBuilder(keras.activations.relu, _named("relu")),
    "sigmoid": ActivationBuilder(keras.activations.sigmoid, _named("sigmoid")),
    "tanh": ActivationBuilder(keras.activations.tanh, _named("tanh")),
    "softmax": ActivationBuilder(keras.activations.softmax, _named("softmax")),  # axis -1
    "selu": ActivationBuilder(keras.activations.selu, _named("selu")),
    "softplus": ActivationBuilder(keras.activations.softplus, _named("softplus")),
    "gelu": ActivationBuilder(gelu_exact, _named(_GELU)),
    "swish": ActivationBuilder(keras.activations.silu, _named("silu")),  # x * sigmoid(x)
    "leaky_relu": ActivationBuilder(
        _leaky_relu,
        lambda name: keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=name)),
    "elu": ActivationBuilder(_elu, lambda name: keras.layers.ELU(alpha=1.0, name=name)),
}
for _name, _fn in _BUILTINS.items():
    register_builder(ACTIVATION_KINDS[_name], BACKEND, _fn)


def _builder(activation: str) -> Callable[[Any], Any]:
    kind = ACTIVATION_KINDS.lookup(activation, "activation")
    builder = builder_for("activation", kind.name, BACKEND)
    if builder is None:
        raise NotSupportedError(
            f"the {BACKEND!r} backend has no builder for activation {kind.name!r}; register "
            f"one with unidl.register_builder(unidl.spec.ACTIVATION_KINDS[{kind.name!r}], "
            f"{BACKEND!r}, fn), fn(x) -> y written with keras.ops or tf")
    return builder  # type: ignore[return-value]


def activation_fn(activation: str) -> Callable[[Any], Any]:
    """``x -> activation(x)`` for the unidl activation ``activation``."""
    return _builder(activation)


def activation_layer(activation: str, name: str) -> Any:
    """A Keras layer named ``name`` applying the unidl activation ``activation``."""
    builder = _builder(activation)
    if isinstance(builder, ActivationBuilder):
        return builder.layer(name)
    return keras.layers.Activation(builder, name=name)
