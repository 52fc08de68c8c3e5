"""Device strings and the core's seeded initial weights."""

from __future__ import annotations

import numpy as np
import pytest

import unidl
from unidl.devices import canonical_device, resolve_device
from unidl.initializers import initial_weights


@pytest.mark.parametrize(("given", "canonical"), [
    ("cpu", "cpu"), ("CUDA", "cuda:0"), ("cuda:1", "cuda:1"), ("gpu", "cuda:0"),
    ("gpu:2", "cuda:2"), ("mps", "mps"), ("auto", "auto"),
])
def test_canonical_device(given: str, canonical: str) -> None:
    assert canonical_device(given) == canonical


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cpu:1", "", 3])
def test_malformed_device(bad: object) -> None:
    with pytest.raises(unidl.DeviceError, match="device"):
        canonical_device(bad)  # type: ignore[arg-type]


def test_auto_prefers_cuda_then_mps_then_cpu() -> None:
    assert resolve_device("auto", ["cpu", "mps", "cuda:0"], "x") == "cuda:0"
    assert resolve_device("auto", ["cpu", "mps"], "x") == "mps"
    assert resolve_device("auto", ["cpu"], "x") == "cpu"


def test_unavailable_device_lists_available_ones() -> None:
    with pytest.raises(unidl.DeviceError, match=r"'cuda' is not available.*available: cpu"):
        resolve_device("cuda", ["cpu"], "torch")


def test_initial_weights_are_deterministic_and_keras_scaled() -> None:
    spec = unidl.Sequential([unidl.Input((300,)), unidl.Dense(200), unidl.BatchNorm(),
                             unidl.Dense(100, kernel_initializer="he_normal")])
    a, b, c = initial_weights(spec, 0), initial_weights(spec, 0), initial_weights(spec, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["dense/kernel"], c["dense/kernel"])
    limit = np.sqrt(6 / 500)
    assert np.abs(a["dense/kernel"]).max() <= limit
    assert a["dense/kernel"].std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    assert a["dense_1/kernel"].std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    assert np.abs(a["dense_1/kernel"]).max() <= 2 * np.sqrt(2 / 200) / 0.8796 + 1e-6
    assert (a["dense/bias"] == 0).all() and (a["batch_normalization/gamma"] == 1).all()
    assert (a["batch_normalization/moving_variance"] == 1).all()


def test_adding_a_layer_keeps_the_other_layers_initial_weights() -> None:
    small = unidl.Sequential([unidl.Input((4,)), unidl.Dense(3, name="a")])
    big = unidl.Sequential([unidl.Input((4,)), unidl.Dense(3, name="a"), unidl.Dense(2)])
    assert np.array_equal(initial_weights(small, 7)["a/kernel"],
                          initial_weights(big, 7)["a/kernel"])
