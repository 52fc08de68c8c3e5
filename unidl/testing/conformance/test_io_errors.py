"""Save/load on the backend, native export, and the errors a backend must surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import unidl
from unidl.registry import get_backend
from unidl.spec import LOSSES, OPTIMIZER_TYPES
from unidl.testing.cases import FORWARD_SPECS

from ._support import caps, classification, dense, regression, require


def test_save_and_load_round_trip(backend: str, tmp_path: Path) -> None:
    require(backend, losses="sparse_categorical_crossentropy", optimizers="SGD")
    x, y = classification()
    model = unidl.fit(dense(5, 3, "softmax"), (x, y), backend=backend,
                      loss="sparse_categorical_crossentropy", optimizer=unidl.SGD(lr=0.1),
                      metrics=["accuracy"], epochs=2, seed=0, device="cpu", verbose=0)
    back = unidl.load(model.save(tmp_path / "m"), backend=backend)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert back.history == model.history and back.evaluate((x, y)) == model.evaluate((x, y))


def test_every_native_format_exports(backend: str, tmp_path: Path) -> None:
    formats = get_backend(backend).native_formats
    if not formats:
        pytest.skip(f"backend {backend!r} declares no native export format")
    model = unidl.build(dense(5, 2), backend=backend, seed=0, device="cpu")
    for fmt in formats:
        out = model.export(tmp_path / f"model.{fmt}", format=fmt)
        assert out.exists() and out.stat().st_size > 0


def test_undeclared_layers_are_refused_before_anything_runs(backend: str) -> None:
    c = caps(backend)
    for _, spec in sorted(FORWARD_SPECS.items()):
        missing = next((m for layer in spec.layers if (m := c.missing_for_layer(layer))), None)
        if missing:
            with pytest.raises(unidl.NotSupportedError, match=f"{backend}.*{missing}"):
                unidl.build(spec, backend=backend, device="cpu")
            return
    pytest.skip(f"backend {backend!r} declares every layer and activation of the catalogue")


def test_undeclared_losses_and_optimizers_are_refused_at_compile(backend: str) -> None:
    c = caps(backend)
    model = unidl.build(dense(5, 1), backend=backend, seed=0, device="cpu")
    checked = False
    for loss in LOSSES:
        if loss not in c.losses:
            with pytest.raises(unidl.NotSupportedError, match=f"loss {loss!r}"):
                model.compile(loss)
            checked = True
    for cls in OPTIMIZER_TYPES.values():
        if cls.kind not in c.optimizers:
            with pytest.raises(unidl.NotSupportedError, match=f"optimizer {cls.kind}"):
                model.compile("mse", cls())
            checked = True
    if not checked:
        pytest.skip(f"backend {backend!r} declares every loss and optimizer")


def test_devices_it_does_not_have_are_refused(backend: str) -> None:
    c = caps(backend)
    devices = get_backend(backend).available_devices()
    for kind in ("cuda", "mps"):
        if kind not in c.device_kinds:
            with pytest.raises(unidl.NotSupportedError, match=f"does not run on '{kind}'"):
                unidl.build(dense(5, 1), backend=backend, device=kind)
        elif not any(d.split(":")[0] == kind for d in devices):
            with pytest.raises(unidl.DeviceError, match="not available"):
                unidl.build(dense(5, 1), backend=backend, device=kind)
    assert unidl.build(dense(5, 1), backend=backend, device="auto").device in devices


def test_data_errors_surface_as_unidl_errors(backend: str) -> None:
    require(backend, losses="mse")
    x, y = regression()
    with pytest.raises(unidl.ShapeMismatchError, match=r"\(64, 4\)"):
        unidl.fit(dense(5, 1), (x[:, :4], y), backend=backend, loss="mse", verbose=0)
    with pytest.raises(unidl.DataError, match="NaN"):
        unidl.fit(dense(5, 1), (np.full_like(x, np.nan), y), backend=backend, loss="mse",
                  verbose=0)
