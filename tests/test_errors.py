"""Every bad input gets a specific UnidlError naming what, where and the fix - on every
backend, before any training starts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import unidl
from unidl.capabilities import DEVICE_KINDS
from unidl.registry import get_backend
from unidl.testing.skips import require_spec

from .helpers import mlp

X = np.random.default_rng(0).normal(size=(40, 64)).astype(np.float32)
Y = np.arange(40) % 10


def fit(backend: str, data: Any, **kw: Any) -> unidl.Model:
    args: dict[str, Any] = dict(backend=backend, loss="sparse_categorical_crossentropy",
                                epochs=1, verbose=0, seed=0)
    spec = kw.pop("spec", mlp())
    args.update(kw)
    return unidl.fit(spec, data, **args)


@pytest.mark.parametrize(("data", "error", "pattern"), [
    ((X[:, :60], Y), unidl.ShapeMismatchError, r"shape \(40, 60\).*expects \(n, 64\)"),
    ((X, Y[:30]), unidl.DataError, "x has 40 samples but y has 30"),
    ((X, Y + 5), unidl.DataError, "class index 14.*10 outputs.*0..9"),
    ((X, Y - 1), unidl.DataError, "class index -1"),
    ((X, Y + 0.5), unidl.DataError, "fractional"),
    ((X[:0], Y[:0]), unidl.DataError, "empty"),
    ((np.where(np.arange(40)[:, None] == 7, np.nan, X), Y), unidl.DataError,
     r"NaN or inf \(first at index \(7, 0\)\)"),
    ((X, np.eye(10)[Y]), unidl.ShapeMismatchError, "categorical_crossentropy"),
    ((X,), unidl.DataError, r"pair \(x, y\)"),
    ("not data", unidl.DataError, r"pair \(x, y\)"),
    ((X.astype(str), Y), unidl.DataError, "must be numeric"),
])
def test_bad_training_data(backend: str, data: Any, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        fit(backend, data)


def test_bad_validation_data_is_named(backend: str) -> None:
    with pytest.raises(unidl.ShapeMismatchError, match="validation_data x"):
        fit(backend, (X, Y), validation_data=(X[:, :3], Y))


def test_sparse_crossentropy_on_a_single_output_suggests_binary(backend: str) -> None:
    with pytest.raises(unidl.ShapeMismatchError, match="binary_crossentropy"):
        fit(backend, (X, Y % 2), spec=mlp(64, 1, "sigmoid"))


def test_binary_targets_must_be_probabilities(backend: str) -> None:
    with pytest.raises(unidl.DataError, match=r"\[0, 1\]"):
        fit(backend, (X, Y), spec=mlp(64, 1, "sigmoid"), loss="binary_crossentropy")


def test_regression_target_shape_names_both_shapes(backend: str) -> None:
    with pytest.raises(unidl.ShapeMismatchError, match=r"\(40, 3\).*\(n, 2\)"):
        fit(backend, (X, np.zeros((40, 3))), spec=mlp(64, 2, None), loss="mse")


def test_missing_channel_axis_suggests_the_fix(backend: str) -> None:
    spec = unidl.Sequential([unidl.Input((8, 8, 1)), unidl.Flatten(), unidl.Dense(10)])
    with pytest.raises(unidl.ShapeMismatchError, match=r"x\[\.\.\., None\]"):
        unidl.build(spec, backend=backend).predict(np.zeros((2, 8, 8)))


@pytest.mark.parametrize(("kw", "error", "pattern"), [
    ({"batch_size": 0}, unidl.SpecError, "batch_size: must be an integer >= 1"),
    ({"epochs": -1}, unidl.SpecError, "epochs: must be an integer >= 0"),
    ({"loss": "msee"}, unidl.UnknownNameError, "Did you mean 'mse'"),
    ({"optimizer": "adamm"}, unidl.UnknownNameError, "Did you mean 'adam'"),
    ({"metrics": ["acuracy"]}, unidl.UnknownNameError, "Did you mean 'accuracy'"),
    ({"metrics": ["accuracy"], "loss": "mse", "spec": mlp(64, 1, None)}, unidl.SpecError,
     "needs a classification loss"),
    ({"device": "cuda:7"}, unidl.DeviceError, "not available.*available: "),
    ({"device": "tpu"}, unidl.DeviceError, "malformed device"),
    ({"seed": -3}, unidl.SpecError, "seed"),
    ({"validation_split": 1.5}, unidl.DataError, "validation_split"),
    ({"loss": unidl.Loss("sparse_categorical_crossentropy", from_logits=True)},
     unidl.SpecError, "softmax twice"),
])
def test_bad_arguments(backend: str, kw: dict[str, Any], error: type, pattern: str) -> None:
    kind = str(kw.get("device", "cpu")).split(":")[0]
    if kind in DEVICE_KINDS and kind not in get_backend(backend).capabilities.device_kinds:
        # a backend that does not declare the device kind at all (e.g. CPU-only)
        error, pattern = unidl.NotSupportedError, f"does not run on '{kind}' devices"
    with pytest.raises(error, match=pattern):
        fit(backend, (X, Y), **kw)


def test_unknown_backend_lists_installed_ones(backend: str) -> None:
    with pytest.raises(unidl.BackendNotFoundError, match=f"installed backends: .*{backend}"):
        unidl.fit(mlp(), (X, Y), backend="nonexistent", loss="mse")


def test_errors_are_unidl_errors_and_builtin_kinds(backend: str) -> None:
    with pytest.raises(ValueError):
        fit(backend, (X, Y), batch_size=0)
    with pytest.raises(unidl.UnidlError):
        fit(backend, (X, Y), device="cuda:9")


def test_a_failed_fit_leaves_the_model_untouched(backend: str) -> None:
    model = unidl.build(mlp(), backend=backend, seed=0)
    model.compile("sparse_categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(unidl.DataError):
        model.fit((X, Y + 5), epochs=1, verbose=0)
    assert model.history == {} and model.epochs_trained == 0
    assert all(np.array_equal(before[k], v) for k, v in model.get_weights().items())


def test_evaluate_without_loss_says_how(backend: str) -> None:
    model = unidl.build(mlp(), backend=backend, seed=0)
    with pytest.raises(unidl.SpecError, match="compile"):
        model.evaluate((X, Y))
    with pytest.raises(unidl.SpecError, match="compile"):
        model.fit((X, Y))


def test_export_to_an_unknown_format(backend: str, tmp_path: Any) -> None:
    model = unidl.build(mlp(), backend=backend, seed=0)
    with pytest.raises(unidl.NotSupportedError, match="cannot export format 'onnx'"):
        model.export(tmp_path / "m.onnx", format="onnx")


def test_embedding_index_out_of_range_is_a_clear_error(backend: str) -> None:
    spec = unidl.Sequential([unidl.Input((3,), dtype="int64"), unidl.Embedding(10, 4),
                             unidl.Flatten(), unidl.Dense(1)])
    require_spec(backend, spec)
    x = np.array([[1, 2, 3], [4, 10, 0]])
    with pytest.raises(unidl.DataError, match=r"index 10, outside \[0, 10\) of Embedding"):
        unidl.build(spec, backend=backend).predict(x)
    with pytest.raises(unidl.DataError, match="index -1"):
        unidl.build(spec, backend=backend).predict(-x)
