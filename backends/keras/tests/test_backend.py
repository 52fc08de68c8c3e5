"""The plugin itself: entry point, metadata, devices, import hygiene."""

from __future__ import annotations

import os
import platform
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


@pytest.mark.parametrize("requested", ["jax", "torch"])
def test_keras_backend_variable_naming_another_backend_is_a_clear_error(
        requested: str) -> None:
    """Keras not yet imported, ``KERAS_BACKEND`` names another backend: the error names the
    variable and the fix (before: "needs Keras 3, which failed to import (No module named
    'jax')", or "Keras was imported before unidl_keras" although it was not)."""
    proc = _run("import unidl\n"
                "try:\n    unidl.build(unidl.Sequential([unidl.Input((2,)), unidl.Dense(1)]),"
                " backend='keras')\n"
                "except unidl.BackendImportError as e:\n    print(e)\n",
                KERAS_BACKEND=requested)
    assert proc.returncode == 0, proc.stderr
    message = proc.stdout.strip()
    assert f"KERAS_BACKEND={requested!r} is set" in message
    assert "set KERAS_BACKEND=tensorflow" in message and "imported before" not in message
    assert "failed to import" not in message


def test_import_and_a_small_fit_leave_stderr_clean() -> None:
    """TensorFlow 2.21 prints absl lines (oneDNN, CPU features) at import whatever
    TF_CPP_MIN_LOG_LEVEL says; they are filtered, oneDNN itself stays on."""
    code = ("import numpy as np, unidl\n"
            "x = np.random.default_rng(0).random((16, 3), dtype=np.float32)\n"
            "spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)])\n"
            "unidl.fit(spec, (x, x[:, :1]), backend='keras', loss='mse', epochs=1, seed=0,"
            " verbose=0)\n"
            "import os; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() == "None"  # oneDNN not switched off


@pytest.mark.skipif(platform.machine() != "x86_64", reason="oneDNN's notice: x86-64 builds")
def test_tensorflow_log_lines_show_when_asked() -> None:
    proc = _run("import unidl_keras", TF_CPP_MIN_LOG_LEVEL="0")
    assert proc.returncode == 0, proc.stderr
    assert "oneDNN custom operations are on" in proc.stderr


def test_the_filter_drops_absl_lines_below_the_level() -> None:
    from unidl_keras._quiet import filtered

    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\n"
            "I0000 00:00:1796220900.828615    8180 port.cc:153] oneDNN custom operations "
            "are on.\n"
            "I0000 00:00:1796220918.663144    8626 cpu_feature_guard.cc:227] This "
            "TensorFlow binary is optimized\n"
            "To enable the following instructions: AVX2 AVX512F, in other operations\n"
            "W1202 14:20:01.000001    8626 gpu.cc:12] no GPU\n"
            "E1202 14:20:01.000002    8626 x.cc:1] real error\n"
            "a user's own line\n")
    assert filtered(text, 2) == ("E1202 14:20:01.000002    8626 x.cc:1] real error\n"
                                 "a user's own line\n")
    assert filtered(text, 1).splitlines()[0].startswith("W1202")
    assert filtered(text, 0) == text
