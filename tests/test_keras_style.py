"""Keras' calling conventions (``fit(x, y)``, ``evaluate(x, y)``) and the mistakes Keras
users make on the way in: each works, or fails with one line that shows the right call and
quotes no more than ``unidl.errors.short`` of a value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl

X = np.random.default_rng(0).random((40, 4), dtype=np.float32)
Y = (X.sum(axis=1) > 2).astype(np.int64)
SPEC = unidl.Sequential([unidl.Input((4,)), unidl.Dense(2, activation="softmax")])
KW: dict[str, Any] = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                      "epochs": 2, "batch_size": 8, "seed": 0, "verbose": 0}


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and len(text) < 400, text
    assert "array([" not in text  # an array is described, never printed
    return text


def test_fit_and_evaluate_take_x_and_y(backend: str) -> None:
    keras_style = unidl.fit(SPEC, X, Y, backend=backend, **KW)
    ours = unidl.fit(SPEC, (X, Y), backend=backend, **KW)
    assert keras_style.history == ours.history
    assert keras_style.evaluate(X, Y) == ours.evaluate((X, Y))
    assert unidl.evaluate(keras_style, X, Y) == ours.evaluate((X, Y), verbose=0)
    keras_style.fit(X, Y, epochs=3, initial_epoch=2, verbose=0)
    assert keras_style.epochs_trained == 3
    np.testing.assert_array_equal(unidl.predict(ours, X, verbose=0), ours.predict(X))


def test_a_dict_of_inputs_is_array_like(backend: str) -> None:
    a, b = unidl.Input((2,), name="a"), unidl.Input((2,), name="b")
    spec = unidl.Graph([a, b], unidl.Dense(2, activation="softmax")(
        unidl.Concatenate()([a, b])))
    model = unidl.fit(spec, {"a": X[:, :2], "b": X[:, 2:]}, Y, backend=backend, **KW)
    assert set(model.evaluate({"a": X[:, :2], "b": X[:, 2:]}, Y)) == {"loss", "accuracy"}


@pytest.mark.parametrize(("call", "shown"), [
    (lambda m: m.evaluate(X, 64), "model.evaluate(data, batch_size=64)"),
    (lambda m: m.evaluate((X, Y), Y), "model.evaluate((x, y)) or model.evaluate(x, y)"),
    (lambda m: m.fit(iter([(X, Y)]), Y), "call model.fit(data, ...) without y"),
    (lambda m: unidl.evaluate(m, iter([]), Y), "call unidl.evaluate(model, data) without y"),
    (lambda m: m.evaluate(X, batch_size=Y), "batch_size: must be an integer >= 1, got "
                                            "<array shape (40,) dtype int64>"),
    (lambda m: m.fit((X, Y), epochs=X, verbose=0), "epochs: must be an integer >= 0, got "
                                                   "<array shape (40, 4) dtype float32>"),
])
def test_mistakes_get_one_line_with_the_right_call(backend: str, call: Any,
                                                    shown: str) -> None:
    model = unidl.fit(SPEC, (X, Y), backend=backend, **KW)
    with pytest.raises(unidl.SpecError) as info:
        call(model)
    assert shown in _one_line(info.value)


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.pt", "m.pth", "m.safetensors",
                                  "M.ONNX"])
def test_save_refuses_a_framework_file_suffix(backend: str, tmp_path: Path,
                                              name: str) -> None:
    model = unidl.build(SPEC, backend=backend, seed=0)
    with pytest.raises(unidl.SpecError) as info:
        model.save(tmp_path / name)
    message = _one_line(info.value)
    assert "a directory" in message and "model.export(" in message
    assert not (tmp_path / name).exists()  # nothing written
    assert unidl.save(model, tmp_path / "m").is_dir()  # a directory name is fine
