"""Forward passes of every layer and activation against NumPy, given canonical weights."""

from __future__ import annotations

import numpy as np
import pytest
from torch_refs import build

import unidl
from unidl.spec import ACTIVATIONS
from unidl.testing.reference import forward

ATOL = 1e-5


def _weights(spec: unidl.Sequential, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {k: rng.standard_normal(p.shape).astype(np.float32) * 0.5
            for k, p in spec.params.items()}


@pytest.mark.parametrize("name", ACTIVATIONS.builtins())
def test_activation_layer(name: str, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3, 7)), unidl.Activation(name)])
    x = (rng.standard_normal((5, 3, 7)) * 3).astype(np.float32)
    np.testing.assert_allclose(build(spec).predict(x, 4), forward(spec, {}, x), atol=ATOL,
                               rtol=1e-5)


@pytest.mark.parametrize("name", ACTIVATIONS.builtins())
def test_dense_activation_mid_network_and_final(name: str, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((6,)), unidl.Dense(5, activation=name),
                             unidl.Dense(4, activation=name)])
    w = _weights(spec, rng)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    np.testing.assert_allclose(build(spec, weights=w).predict(x, 4), forward(spec, w, x),
                               atol=ATOL, rtol=1e-5)


def test_dense_on_last_axis_of_any_rank(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((2, 3, 4)), unidl.Dense(5, use_bias=False)])
    w = _weights(spec, rng)
    x = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(build(spec, weights=w).predict(x, 2), forward(spec, w, x),
                               atol=ATOL)


CONV_CASES = [
    # (input hw, kernel, stride, padding): "same" with even/odd totals, strides > 1
    ((8, 8), (3, 3), (2, 2), "same"),   # total pad 1: TF puts it bottom/right
    ((7, 9), (3, 3), (2, 2), "same"),
    ((5, 5), (4, 4), (1, 1), "same"),   # total 3 -> (1, 2)
    ((7, 7), (3, 3), (1, 1), "same"),   # symmetric
    ((6, 7), (2, 3), (1, 2), "same"),
    ((9, 8), (3, 2), (2, 3), "valid"),
]


@pytest.mark.parametrize(("hw", "kernel", "stride", "padding"), CONV_CASES)
def test_conv2d(hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                padding: str, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((*hw, 3)),
                             unidl.Conv2D(4, kernel, strides=stride, padding=padding)])
    w = _weights(spec, rng)
    x = rng.standard_normal((2, *hw, 3)).astype(np.float32)
    got = build(spec, weights=w).predict(x, 2)
    assert got.shape == (2, *spec.output_shape)
    np.testing.assert_allclose(got, forward(spec, w, x), atol=ATOL, rtol=1e-5)


POOL_CASES = [
    ((5, 5), (2, 2), None, "same"),     # total 1: asymmetric, explicit pad
    ((6, 6), (3, 3), (2, 2), "same"),   # asymmetric
    ((5, 5), (3, 3), (1, 1), "same"),   # symmetric, torch's own padding
    ((4, 4), (4, 4), (1, 1), "same"),   # (1, 2)
    ((4, 4), (5, 5), (1, 1), "same"),   # (2, 2): pad == window // 2
    ((7, 6), (3, 2), (2, 1), "valid"),
    ((6, 6), (2, 2), None, "valid"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("hw", "window", "stride", "padding"), POOL_CASES)
def test_pool(kind: str, hw: tuple[int, int], window: tuple[int, int],
              stride: tuple[int, int] | None, padding: str, rng: np.random.Generator) -> None:
    cls = unidl.MaxPool2D if kind == "max" else unidl.AvgPool2D
    layer = cls(window, strides=stride, padding=padding)
    spec = unidl.Sequential([unidl.Input((*hw, 2)), layer])
    # all-negative inputs: a zero-padded max pool would wrongly return 0 at the border
    x = -np.abs(rng.standard_normal((3, *hw, 2))).astype(np.float32) - 0.1
    got = build(spec).predict(x, 2)
    assert got.shape == (3, *spec.output_shape)
    np.testing.assert_allclose(got, forward(spec, {}, x), atol=ATOL, rtol=1e-5)


def test_flatten_after_conv_is_channels_last(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((5, 4, 2)), unidl.Conv2D(3, 2, padding="same"),
                             unidl.Flatten(), unidl.Dense(2)])
    w = _weights(spec, rng)
    x = rng.standard_normal((4, 5, 4, 2)).astype(np.float32)
    # the reference flattens row-major (H, W, C), as Keras does
    np.testing.assert_allclose(build(spec, weights=w).predict(x, 3), forward(spec, w, x),
                               atol=ATOL, rtol=1e-5)


def test_image_output_is_channels_last_and_softmax_on_channels(
        rng: np.random.Generator) -> None:
    # softmax inside a conv stretch runs channels-first (dim 1) and must match the last axis
    spec = unidl.Sequential([unidl.Input((4, 4, 2)),
                             unidl.Conv2D(3, 3, padding="same", activation="softmax"),
                             unidl.MaxPool2D(2), unidl.Conv2D(2, 1, activation="softmax")])
    w = _weights(spec, rng)
    x = rng.standard_normal((2, 4, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(build(spec, weights=w).predict(x, 2), forward(spec, w, x),
                               atol=ATOL)


@pytest.mark.parametrize("shape", [(6,), (3, 6), (4, 5, 6)])
def test_batchnorm_inference_uses_moving_stats(shape: tuple[int, ...],
                                               rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input(shape), unidl.BatchNorm(epsilon=0.01)])
    w = {"batch_normalization/gamma": rng.standard_normal(6).astype(np.float32),
         "batch_normalization/beta": rng.standard_normal(6).astype(np.float32),
         "batch_normalization/moving_mean": rng.standard_normal(6).astype(np.float32),
         "batch_normalization/moving_variance": rng.uniform(0.5, 2, 6).astype(np.float32)}
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    np.testing.assert_allclose(build(spec, weights=w).predict(x, 2), forward(spec, w, x),
                               atol=ATOL, rtol=1e-5)


def test_dropout_is_identity_in_inference(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((10,)), unidl.Dropout(0.5)])
    x = rng.standard_normal((4, 10)).astype(np.float32)
    np.testing.assert_array_equal(build(spec).predict(x, 4), x)


def test_predict_accepts_integer_input_and_any_batch_size(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,), dtype="int64"), unidl.Dense(2)])
    model = build(spec)
    x = rng.integers(-5, 5, (7, 3))
    full = model.predict(x, 7)
    assert full.dtype == np.float32 and full.shape == (7, 2)
    # GPU BLAS may pick another kernel for another batch size: equal up to rounding
    np.testing.assert_allclose(model.predict(x, 3), full, rtol=1e-6, atol=1e-6)
    assert model.predict(x[:0], 3).shape == (0, 2)
