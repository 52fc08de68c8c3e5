"""The model an estimator trains: the default MLP, or the user's spec, checked against the
data's shape when ``fit`` sees it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import Dense, Graph, Input, Sequential, ShapeMismatchError, SpecError
from ..spec import ModelSpec, from_dict

__all__ = ["SpecIO", "mlp", "resolve_spec", "spec_io"]

#: What the ``spec`` parameter takes: a spec, its dict form, a function of the data's shape
#: (``fn(n_features, n_outputs) -> spec``) or None for the default MLP.
SpecLike = ModelSpec | dict[str, Any] | Callable[[int, int], Any] | None


def mlp(n_features: int, n_outputs: int, hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu", output_activation: str | None = None) -> Sequential:
    """A multi-layer perceptron like scikit-learn's ``MLPClassifier``/``MLPRegressor``:
    ``Input((n_features,))``, one ``Dense(units, activation)`` per hidden layer size, then
    ``Dense(n_outputs, output_activation)`` (no activation: logits or values)."""
    sizes = _hidden_sizes(hidden_layer_sizes)
    return Sequential([
        Input((n_features,)),
        *(Dense(units, activation=activation) for units in sizes),
        Dense(n_outputs, activation=output_activation),
    ])


def _hidden_sizes(value: object) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in value):
        raise SpecError(f"must be a tuple of positive layer widths such as (100,) or "
                        f"(64, 32), got {value!r:.80}", "hidden_layer_sizes")
    return tuple(value)


def resolve_spec(spec: object, n_features: int, n_outputs: int,
                 default: Callable[[], ModelSpec]) -> ModelSpec:
    """The spec to build: ``default()`` when ``spec`` is None, ``spec(n_features,
    n_outputs)`` when it is a function, else ``spec`` itself (or its dict form)."""
    if spec is None:
        return default()
    if isinstance(spec, (Sequential, Graph)):
        return spec
    if isinstance(spec, dict):
        return from_dict(spec)
    if callable(spec):
        made = spec(n_features, n_outputs)
        if not isinstance(made, (Sequential, Graph, dict)):
            raise SpecError(f"the function {getattr(spec, '__name__', spec)!r} returned "
                            f"{type(made).__name__}, not a unidl spec such as "
                            "unidl.Sequential([...])", "spec")
        return resolve_spec(made, n_features, n_outputs, default)
    raise SpecError(f"must be None (the default MLP), a unidl spec such as "
                    f"unidl.Sequential([...]), its dict form, or a function "
                    f"fn(n_features, n_outputs) returning one; got {type(spec).__name__}",
                    "spec")


@dataclass(frozen=True)
class SpecIO:
    """What an estimator needs to know about a spec: its one input and one output."""

    input_shape: tuple[int, ...]
    input_dtype: str
    output_shape: tuple[int, ...]
    final_activation: str

    def check_features(self, n_features: int) -> None:
        """The spec's Input must hold ``n_features`` values per sample (a 2-D ``X`` row is
        reshaped to the Input's shape, so an image spec takes flattened pixels)."""
        if math.prod(self.input_shape) != n_features:
            raise ShapeMismatchError(
                f"X has {n_features} features but the spec's Input takes shape "
                f"{self.input_shape} ({math.prod(self.input_shape)} values per sample); "
                f"give the spec unidl.Input(({n_features},)) or pass a function "
                f"fn(n_features, n_outputs) as spec")


def spec_io(spec: ModelSpec) -> SpecIO:
    """The input and output of ``spec``; a Graph must have exactly one of each."""
    if isinstance(spec, Sequential):
        return SpecIO(spec.input_shape, spec.input.dtype, spec.output_shape,
                      spec.final_activation)
    if len(spec.input_shapes) != 1 or len(spec.output_shapes) != 1:
        raise SpecError(f"a scikit-learn estimator feeds one array X and fits one target y; "
                        f"this Graph has {len(spec.input_shapes)} inputs and "
                        f"{len(spec.output_shapes)} outputs", "spec")
    return SpecIO(spec.input_shapes[0], spec.input_layers[0].dtype, spec.output_shapes[0],
                  spec.output_activations[0])
