"""The Backend object and a built model honour the Protocols and the core's plan."""

from __future__ import annotations

import numpy as np
import pytest

import unidl
from unidl.capabilities import Capabilities
from unidl.devices import canonical_device
from unidl.initializers import initial_weights
from unidl.registry import get_backend
from unidl.testing.cases import FORWARD_SPECS, random_input, random_weights

from ._support import require_spec


def test_backend_describes_itself(backend: str) -> None:
    b = get_backend(backend)
    assert b.name == backend
    assert isinstance(b.version, str) and b.version
    assert isinstance(b.native_formats, tuple)
    assert all(isinstance(f, str) for f in b.native_formats)
    assert isinstance(b.capabilities, Capabilities)
    assert {"Input", "Dense"} <= b.capabilities.layers


def test_devices_are_canonical_and_include_cpu(backend: str) -> None:
    devices = get_backend(backend).available_devices()
    assert devices and "cpu" in devices
    for d in devices:
        assert canonical_device(d) == d, f"{d!r} is not a canonical device string"
        assert d.split(":")[0] in get_backend(backend).capabilities.device_kinds


@pytest.mark.parametrize("case", sorted(FORWARD_SPECS))
def test_build_honours_the_cores_initial_weights_and_shapes(backend: str, case: str) -> None:
    spec = FORWARD_SPECS[case]
    require_spec(backend, spec)
    model = unidl.build(spec, backend=backend, seed=17, device="cpu")
    expected = initial_weights(spec, 17)
    got = model.get_weights()
    assert list(got) == list(expected), "canonical weight names/order differ from spec.params"
    for k, v in expected.items():
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    out = model.predict(random_input(spec, n=3))
    assert out.shape == (3, *spec.output_shape) and out.dtype == np.float32


@pytest.mark.parametrize("case", sorted(FORWARD_SPECS))
def test_set_then_get_weights_round_trips_exactly(backend: str, case: str) -> None:
    spec = FORWARD_SPECS[case]
    require_spec(backend, spec)
    model = unidl.build(spec, backend=backend, device="cpu")
    weights = random_weights(spec, seed=5)
    model.set_weights(weights)
    got = model.get_weights()
    for k, v in weights.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_predict_does_not_depend_on_batch_size(backend: str) -> None:
    spec = FORWARD_SPECS["dense_relu"]
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    x = random_input(spec, n=37)
    np.testing.assert_allclose(model.predict(x, batch_size=5), model.predict(x, batch_size=64),
                               rtol=1e-6, atol=1e-7)
