"""Helpers for the conformance tests: tiny problems (and the capability skips)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import unidl
from unidl.testing.skips import caps, require, require_spec

__all__ = ["caps", "classification", "dense", "regression", "require", "require_spec",
           "targets_for"]

Array = npt.NDArray[Any]


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
    kind = unidl.spec.LOSS_KINDS.lookup(loss, "loss")
    if kind.target == "class_index":
        return y_cls
    if kind.fuses_with == "softmax":
        return np.eye(k, dtype=np.float32)[y_cls]
    if kind.fuses_with == "sigmoid":
        return (y_cls % 2).astype(np.float32).reshape(-1, 1)
    return y_reg
