"""The spec: validation with field paths, naming, shapes, summary, JSON/YAML round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest

import unidl
from unidl.spec import from_dict, from_json, from_yaml


def cnn() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((28, 28, 1)),
        unidl.Conv2D(8, 3, padding="same", activation="relu"),
        unidl.MaxPool2D(),
        unidl.Conv2D(16, (3, 3), strides=2, padding="valid"),
        unidl.BatchNorm(),
        unidl.Activation("relu"),
        unidl.AvgPool2D(2, padding="same"),
        unidl.Flatten(),
        unidl.Dropout(0.25),
        unidl.Dense(10, activation="softmax"),
    ])


def test_shapes_and_param_counts_match_keras_arithmetic() -> None:
    spec = cnn()
    shapes = [ls.output_shape for ls in spec.layer_shapes]
    assert shapes == [(28, 28, 8), (14, 14, 8), (6, 6, 16), (6, 6, 16), (6, 6, 16),
                      (3, 3, 16), (144,), (144,), (10,)]
    assert spec.params["conv2d/kernel"].shape == (3, 3, 1, 8)
    assert spec.params["conv2d_1/kernel"].shape == (3, 3, 8, 16)
    assert spec.params["dense/kernel"].shape == (144, 10)
    # 80 + 1168 + 64 (BN, 32 of them moving statistics) + 1450
    assert spec.count_params() == 80 + 1168 + 64 + 1450
    assert spec.count_params(trainable_only=True) == 80 + 1168 + 32 + 1450


def test_generated_names_are_keras_like_and_skip_user_names() -> None:
    spec = unidl.Sequential([
        unidl.Input((4,)), unidl.Dense(3, name="dense_1"), unidl.Dense(3), unidl.Dense(2),
    ])
    assert [layer.name for layer in spec.layers] == ["input", "dense_1", "dense", "dense_2"]


def test_summary_lists_layers_shapes_and_totals() -> None:
    text = cnn().summary()
    assert "conv2d (Conv2D)" in text and "(None, 28, 28, 8)" in text
    assert "Total params: 2,762" in text and "Non-trainable params: 32" in text


@pytest.mark.parametrize("fmt", ["json", "yaml", "dict"])
def test_round_trip(fmt: str) -> None:
    spec = cnn()
    back = {"json": lambda: from_json(spec.to_json()), "yaml": lambda: from_yaml(spec.to_yaml()),
            "dict": lambda: from_dict(spec.to_dict())}[fmt]()
    assert back == spec
    assert back.layer_shapes == spec.layer_shapes


def test_specs_are_frozen() -> None:
    layer = unidl.Dense(3)
    with pytest.raises(AttributeError):
        layer.units = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "path", "fragment"),
    [
        (lambda: unidl.Dense(0), "Dense.units", "positive integer"),
        (lambda: unidl.Dense(3, activation="rleu"), "Dense.activation", "Did you mean 'relu'"),
        (lambda: unidl.Dropout(1.0), "Dropout.rate", "[0, 1)"),
        (lambda: unidl.Dropout(-0.1), "Dropout.rate", "[0, 1)"),
        (lambda: unidl.Conv2D(4, 0), "Conv2D.kernel_size", "positive integer"),
        (lambda: unidl.Conv2D(4, 3, padding="full"), "Conv2D.padding", "valid"),
        (lambda: unidl.BatchNorm(momentum=1.5), "BatchNorm.momentum", "[0, 1)"),
        (lambda: unidl.Input((0, 3)), "Input.shape[0]", "positive integer"),
        (lambda: unidl.Input((3,), dtype="float16"), "Input.dtype", "unknown dtype"),
        (lambda: unidl.Adam(lr=-1), "Adam.lr", "> 0"),
        (lambda: unidl.SGD(momentum=1.0), "SGD.momentum", "[0, 1)"),
        (lambda: unidl.SGD(nesterov=True), "SGD.nesterov", "momentum > 0"),
        (lambda: unidl.Loss("mse", from_logits=True), "loss.from_logits", "cross-entropy"),
        (lambda: unidl.Loss("cross_entropy"), "loss", "unknown loss"),
        (lambda: unidl.Dense(3, kernel_initializer="xavier"), "Dense.kernel_initializer",
         "unknown initializer"),
    ],
)
def test_invalid_hyper_parameters_name_the_field(make, path: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(unidl.SpecError) as info:
        make()
    assert info.value.path == path
    assert fragment in str(info.value)


def test_sequential_structure_errors() -> None:
    with pytest.raises(unidl.SpecError, match=r"layers\[0\].*unidl.Input"):
        unidl.Sequential([unidl.Dense(3)])
    with pytest.raises(unidl.SpecError, match="is empty"):
        unidl.Sequential([])
    with pytest.raises(unidl.SpecError, match="forget to call it"):
        unidl.Sequential([unidl.Input((3,)), unidl.Flatten])  # type: ignore[list-item]
    with pytest.raises(unidl.SpecError, match="duplicate layer name 'a'"):
        unidl.Sequential([unidl.Input((3,)), unidl.Dense(2, name="a"), unidl.Dense(2, name="a")])
    with pytest.raises(unidl.SpecError, match=r"layers\[1\] \(conv2d\).*input shape \(8,\)"):
        unidl.Sequential([unidl.Input((8,)), unidl.Conv2D(4, 3)])
    with pytest.raises(unidl.SpecError, match="larger than its input"):
        unidl.Sequential([unidl.Input((2, 2, 1)), unidl.Conv2D(4, 3)])


def test_unknown_layer_in_config_suggests_the_close_one() -> None:
    config = cnn().to_dict()
    config["layers"][1]["class"] = "Conv2d"
    with pytest.raises(unidl.UnknownNameError) as info:
        from_dict(config)
    assert info.value.path == "spec.layers[1].class"
    assert "Did you mean 'Conv2D'" in str(info.value)


def test_unknown_field_in_config_names_the_layer() -> None:
    config = cnn().to_dict()
    config["layers"][1]["filterz"] = 3
    with pytest.raises(unidl.SpecError, match=r"spec.layers\[1\].*filterz"):
        from_dict(config)


def test_yaml_syntax_error_points_at_the_line() -> None:
    with pytest.raises(unidl.SpecError, match="line 3"):
        from_yaml("class: Sequential\nlayers:\n\t- {class: Input, shape: [3]}\n")


def test_import_unidl_imports_no_framework() -> None:
    import subprocess
    import sys

    code = ("import sys, unidl; unidl.backend_names(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sequence_layers_shapes_and_canonical_params() -> None:
    spec = unidl.Sequential([
        unidl.Input((20,), dtype="int64"), unidl.Embedding(50, 8),
        unidl.Conv1D(16, 3, padding="same"), unidl.MaxPool1D(2), unidl.LayerNorm(),
        unidl.LSTM(12, return_sequences=True), unidl.GRU(6), unidl.Reshape((2, 3)),
        unidl.SimpleRNN(4),
    ])
    assert [ls.output_shape for ls in spec.layer_shapes] == [
        (20, 8), (20, 16), (10, 16), (10, 16), (10, 12), (6,), (2, 3), (4,)]
    p = spec.params
    assert p["embedding/embeddings"].shape == (50, 8)
    assert p["conv1d/kernel"].shape == (3, 8, 16)
    assert p["lstm/kernel"].shape == (16, 48) and p["lstm/recurrent_kernel"].shape == (12, 48)
    assert p["gru/bias"].shape == (2, 18)
    assert from_yaml(spec.to_yaml()) == spec


def test_recurrent_initial_weights_follow_keras() -> None:
    from unidl.initializers import initial_weights

    spec = unidl.Sequential([unidl.Input((5, 3)), unidl.LSTM(4)])
    w = initial_weights(spec, 0)
    rec = w["lstm/recurrent_kernel"].astype(float)  # (4, 16): orthonormal rows
    np.testing.assert_allclose(rec @ rec.T, np.eye(4), atol=1e-6)
    np.testing.assert_array_equal(w["lstm/bias"], [0] * 4 + [1] * 4 + [0] * 8)


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: unidl.Sequential([unidl.Input((3,)), unidl.Embedding(5, 2)]), "integer"),
    (lambda: unidl.Sequential([unidl.Input((3,), dtype="int64"), unidl.Dense(2),
                               unidl.Embedding(5, 2)]), "right after"),
    (lambda: unidl.Sequential([unidl.Input((6,)), unidl.Reshape((4, -1))]), "cannot reshape"),
    (lambda: unidl.Reshape((2, -1, -1)), "at most one -1"),
    (lambda: unidl.Sequential([unidl.Input((6,)), unidl.LSTM(3)]), "(steps, features)"),
    (lambda: unidl.Sequential([unidl.Input((2, 3)), unidl.Conv1D(3, 5)]), "longer"),
])
def test_sequence_layer_errors(make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(unidl.SpecError, match=re.escape(fragment)):
        make()
