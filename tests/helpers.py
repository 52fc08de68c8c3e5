"""Small spec builders shared by the tests."""

from __future__ import annotations

import unidl


def mlp(n_in: int = 64, n_out: int = 10, activation: str | None = "softmax") -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((n_in,)),
        unidl.Dense(32, activation="relu"),
        unidl.Dense(n_out, activation=activation),
    ])
