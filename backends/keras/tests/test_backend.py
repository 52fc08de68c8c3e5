"""The plugin itself: entry point, metadata, devices, import hygiene."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from unidl_keras import KerasBackend, KerasModel
from unidl_keras.devices import tf_device

import unidl
from unidl.initializers import initial_weights


def test_entry_point_resolves_to_the_backend() -> None:
    (ep,) = [e for e in entry_points(group="unidl.backends") if e.name == "keras"]
    backend = ep.load()()
    assert isinstance(backend, KerasBackend)
    assert backend.name == "keras"


def test_metadata_and_devices() -> None:
    backend = KerasBackend()
    assert backend.version.startswith("keras 3.") and "tensorflow" in backend.version
    assert backend.native_formats == ("keras",)
    devices = backend.available_devices()
    assert devices[-1] == "cpu"
    assert all(d.startswith("cuda:") for d in devices[:-1])
    spec = unidl.Sequential([unidl.Input((2,)), unidl.Dense(1)])
    model = backend.build(spec, initial_weights(spec, 0), devices[0])
    assert isinstance(model, KerasModel) and model.device == devices[0]


def test_device_mapping() -> None:
    assert tf_device("cpu") == "/CPU:0"
    assert tf_device("cuda:1") == "/GPU:1"
    with pytest.raises(unidl.DeviceError):
        tf_device("mps")


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, check=False)


def test_import_unidl_does_not_import_frameworks() -> None:
    proc = _run("import sys, unidl; "
                "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_keras_on_another_backend_is_a_clear_error() -> None:
    proc = _run("import keras\n"
                "try:\n    import unidl_keras\n"
                "except ImportError as e:\n    print(type(e).__name__, e)\n",
                KERAS_BACKEND="torch")
    if "No module named 'torch'" in proc.stderr:  # pragma: no cover
        pytest.skip("torch is not installed")
    assert proc.returncode == 0, proc.stderr
    assert "BackendImportError" in proc.stdout and "KERAS_BACKEND=tensorflow" in proc.stdout
