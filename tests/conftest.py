"""Shared data for the test matrix: small, shipped with scikit-learn, no downloads."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

Array = npt.NDArray[Any]


@pytest.fixture(scope="session")
def digits() -> tuple[Array, Array, Array, Array]:
    """8x8 digits as 64 standardised features: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture(scope="session")
def regression() -> tuple[Array, Array]:
    """A learnable 8-feature regression problem (a California-housing stand-in)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype(np.float32)
    w = rng.normal(size=(8,))
    y = (x @ w + 0.5 * np.sin(x[:, 0]) + 0.05 * rng.normal(size=512)).astype(np.float32)
    return x, y

