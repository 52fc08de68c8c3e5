"""Native ``.keras`` export: loads back with plain Keras and predicts the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from keras_helpers import build
from unidl_keras._runtime import keras

import unidl


def _spec() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((6, 6, 1)), unidl.Conv2D(3, 3, padding="same", activation="leaky_relu"),
        unidl.BatchNorm(momentum=0.9, epsilon=1e-2), unidl.MaxPool2D(padding="same"),
        unidl.Flatten(), unidl.Dropout(0.2), unidl.Dense(5, activation="gelu"),
        unidl.Dense(3, activation="softmax"),
    ])


def test_keras_export_loads_and_predicts_the_same(tmp_path: Path,
                                                  rng: np.random.Generator) -> None:
    model = build(_spec())
    w = model.get_weights()
    w["batch_normalization/moving_mean"] = rng.standard_normal(3).astype(np.float32)
    model.set_weights(w)
    path = tmp_path / "nested" / "dir" / "model.keras"
    model.export(str(path), "keras")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]  # no temp left
    loaded = keras.saving.load_model(str(path))
    x = rng.standard_normal((9, 6, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, 4), atol=1e-6)


def test_export_rejects_other_formats_and_suffixes(tmp_path: Path) -> None:
    model = build(_spec())
    with pytest.raises(unidl.NotSupportedError, match="'torch'"):
        model.export(str(tmp_path / "m.pt"), "torch")
    with pytest.raises(unidl.NotSupportedError, match=r"\.keras"):
        model.export(str(tmp_path / "m.h5"), "keras")
    assert list(tmp_path.iterdir()) == []


def test_export_loads_in_plain_keras_without_unidl(tmp_path: Path,
                                                   rng: np.random.Generator) -> None:
    import os
    import subprocess
    import sys

    model = build(_spec())
    path = tmp_path / "m.keras"
    model.export(str(path), "keras")
    x = rng.standard_normal((3, 6, 6, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, keras\n"
            "m = keras.saving.load_model(sys.argv[1])\n"
            "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))\n"
            "assert 'unidl_keras' not in sys.modules and 'unidl' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "tensorflow"}, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, 3), atol=1e-6)
