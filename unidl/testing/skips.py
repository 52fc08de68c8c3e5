"""Capability-aware skips for tests that run on every backend (the conformance suite,
unidl's own cross-backend tests, and third-party test suites)."""

from __future__ import annotations

import pytest

import unidl
from unidl.capabilities import Capabilities
from unidl.registry import get_backend

__all__ = ["caps", "require", "require_spec"]


def caps(backend: str) -> Capabilities:
    return get_backend(backend).capabilities


def require_spec(backend: str, spec: unidl.Sequential | unidl.Graph,
                 training: bool = False) -> None:
    """Skip (with the reason) unless ``backend`` declares everything ``spec`` uses."""
    c = caps(backend)
    if isinstance(spec, unidl.Graph) and "graph" not in c.features:
        pytest.skip(f"backend {backend!r} does not declare feature 'graph'")
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
