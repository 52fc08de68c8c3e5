"""Helpers for the conformance tests: capability-aware skips and tiny problems."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import unidl
from unidl.capabilities import Capabilities
from unidl.registry import get_backend

Array = npt.NDArray[Any]


def caps(backend: str) -> Capabilities:
    return get_backend(backend).capabilities


def require_spec(backend: str, spec: unidl.Sequential, training: bool = False) -> None:
    """Skip (with the reason) unless ``backend`` declares everything ``spec`` uses."""
    c = caps(backend)
    for layer in spec.layers:
        missing = c.missing_for_layer(layer)
        if missing:
            pytest.skip(f"backend {backend!r} does not declare {missing}")
    if training:
        kinds = {layer.kind for layer in spec.layers}
        for kind, feature in (("Dropout", "dropout"), ("BatchNorm", "batchnorm_training")):
            if kind in kinds and feature not in c.features:
                pytest.skip(f"backend {backend!r} does not declare feature {feature!r}")


def require(backend: str, **wanted: str) -> None:
    """``require(b, losses="mse", features="lr_schedule")``: skip unless all are declared."""
    c = caps(backend)
    for field, value in wanted.items():
        if value not in getattr(c, field):
            pytest.skip(f"backend {backend!r} does not declare {field} {value!r}")


def dense(n_in: int, n_out: int, activation: str | None = None,
          hidden: int | None = 8) -> unidl.Sequential:
    layers: list[unidl.spec.Layer] = [unidl.Input((n_in,))]
    if hidden:
        layers.append(unidl.Dense(hidden, activation="tanh"))
    layers.append(unidl.Dense(n_out, activation=activation))
    return unidl.Sequential(layers)


def regression(n: int = 64, n_in: int = 5, n_out: int = 1, seed: int = 0) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    y = (x @ rng.normal(size=(n_in, n_out)) + 0.1).astype(np.float32)
    return x, y


def classification(n: int = 90, n_in: int = 5, k: int = 3, seed: int = 0) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.normal(scale=2.0, size=(k, n_in))
    x = (centers[y] + rng.normal(size=(n, n_in))).astype(np.float32)
    return x, y


def targets_for(loss: str, y_reg: Array, y_cls: Array, k: int) -> Array:
    """Targets of the right kind for ``loss`` (regression values, indices, one-hot, 0/1)."""
    if loss == "sparse_categorical_crossentropy":
        return y_cls
    if loss == "categorical_crossentropy":
        return np.eye(k, dtype=np.float32)[y_cls]
    if loss == "binary_crossentropy":
        return (y_cls % 2).astype(np.float32).reshape(-1, 1)
    return y_reg
