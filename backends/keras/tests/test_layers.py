"""Forward passes of every layer type and activation against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
from keras_helpers import build, one_batch_epoch, setup

import unidl
from unidl.spec import ACTIVATION_KINDS
from unidl.testing.reference import forward

ATOL = 1e-5


@pytest.mark.parametrize("act", ACTIVATION_KINDS.builtins())
def test_dense_activation(act: str, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((6,)), unidl.Dense(5, activation=act)])
    model = build(spec)
    w = model.get_weights()
    w["dense/bias"] = rng.standard_normal(5).astype(np.float32)
    model.set_weights(w)
    x = (rng.standard_normal((7, 6)) * 2).astype(np.float32)
    got = model.predict(x, batch_size=4)
    assert got.dtype == np.float32 and got.shape == (7, 5)
    np.testing.assert_allclose(got, forward(spec, w, x), atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("act", ACTIVATION_KINDS.builtins())
def test_activation_layer(act: str, rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((4, 3)), unidl.Activation(act)])
    x = (rng.standard_normal((5, 4, 3)) * 3).astype(np.float32)
    np.testing.assert_allclose(build(spec).predict(x, 8), forward(spec, {}, x), atol=ATOL,
                               rtol=1e-5)


@pytest.mark.parametrize(("size", "k", "s", "padding"), [
    ((7, 9), 3, 2, "same"), ((8, 8), 3, 2, "same"), ((7, 9), (2, 3), (2, 1), "same"),
    ((7, 9), 3, 1, "valid"), ((7, 9), 3, 2, "valid"), ((5, 6), 1, 1, "same"),
])
def test_conv2d(size: tuple[int, int], k: object, s: object, padding: str,
                rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((*size, 3)),
                             unidl.Conv2D(4, k, strides=s, padding=padding)])  # type: ignore[arg-type]
    model = build(spec)
    w = model.get_weights()
    w["conv2d/bias"] = rng.standard_normal(4).astype(np.float32)
    model.set_weights(w)
    x = rng.standard_normal((2, *size, 3)).astype(np.float32)
    got = model.predict(x, 2)
    assert got.shape == (2, *spec.output_shape)
    np.testing.assert_allclose(got, forward(spec, w, x), atol=ATOL, rtol=1e-5)


POOLS = [((7, 9), 3, 2, "same"), ((7, 9), 2, None, "same"), ((8, 8), 3, 2, "same"),
         ((7, 9), 2, None, "valid"), ((7, 9), 3, 2, "valid"), ((5, 5), (2, 3), 1, "same")]


@pytest.mark.parametrize(("size", "k", "s", "padding"), POOLS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools(kind: str, size: tuple[int, int], k: object, s: object, padding: str,
               rng: np.random.Generator) -> None:
    cls = unidl.MaxPool2D if kind == "max" else unidl.AvgPool2D
    layer = cls(k, strides=s, padding=padding)  # type: ignore[arg-type]
    spec = unidl.Sequential([unidl.Input((*size, 2)), layer])
    x = rng.standard_normal((3, *size, 2)).astype(np.float32) - 2.0  # negative: -inf pads
    got = build(spec).predict(x, 3)
    assert got.shape == (3, *spec.output_shape)
    np.testing.assert_allclose(got, forward(spec, {}, x), atol=ATOL, rtol=1e-5)


def test_flatten_is_channels_last(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3, 4, 2)), unidl.Flatten(), unidl.Dense(5)])
    model = build(spec)
    w = model.get_weights()
    x = rng.standard_normal((4, 3, 4, 2)).astype(np.float32)
    # the reference flattens row-major (H, W, C)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, w, x), atol=ATOL)


def _bn_model(momentum: float = 0.9, epsilon: float = 1e-3) -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((3,)),
                             unidl.BatchNorm(momentum=momentum, epsilon=epsilon)])


def test_batchnorm_inference(rng: np.random.Generator) -> None:
    spec = _bn_model(epsilon=1e-2)
    model = build(spec)
    w = {"batch_normalization/" + k: rng.uniform(0.5, 2, 3).astype(np.float32)
         for k in ("gamma", "beta", "moving_mean", "moving_variance")}
    model.set_weights(w)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, w, x), atol=ATOL)


def test_batchnorm_training_and_moving_stats(rng: np.random.Generator) -> None:
    model = build(_bn_model(momentum=0.9, epsilon=1e-3))
    before = model.get_weights()
    x = (rng.standard_normal((16, 3)) * 3 + 1).astype(np.float32)
    model.configure(setup("mse", unidl.SGD(lr=1e-9)))
    result = one_batch_epoch(model, x, np.zeros_like(x), collect=True)
    mean, var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)  # biased variance
    # training-mode outputs use the batch statistics
    np.testing.assert_allclose(result.outputs, (x - mean) / np.sqrt(var + 1e-3), atol=1e-5)
    after = model.get_weights()
    np.testing.assert_allclose(after["batch_normalization/moving_mean"],
                               0.9 * before["batch_normalization/moving_mean"] + 0.1 * mean,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(after["batch_normalization/moving_variance"],
                               0.9 * before["batch_normalization/moving_variance"] + 0.1 * var,
                               rtol=1e-6, atol=1e-6)


def test_weights_round_trip_exact(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([
        unidl.Input((6, 6, 2)), unidl.Conv2D(3, 3, padding="same", activation="relu"),
        unidl.BatchNorm(), unidl.MaxPool2D(), unidl.Flatten(), unidl.Dropout(0.1),
        unidl.Dense(4, activation="softmax"),
    ])
    model = build(spec)
    got = model.get_weights()
    assert list(got) == list(spec.params)
    new = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in got.items()}
    model.set_weights(new)
    back = model.get_weights()
    for k in new:
        assert back[k].dtype == np.float32
        np.testing.assert_array_equal(back[k], new[k])
    # get_weights returns copies, not views of the variables
    back["dense/bias"][:] = 7
    assert not np.any(model.get_weights()["dense/bias"] == 7)
