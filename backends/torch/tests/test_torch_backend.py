"""The plugin surface: entry point, devices, weights round trip, native export."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_refs import build
from unidl_torch import TorchBackend, torch_module

import unidl
from unidl.testing.reference import forward


def test_entry_point_returns_the_backend() -> None:
    (ep,) = [e for e in entry_points(group="unidl.backends") if e.name == "torch"]
    backend = ep.load()()
    assert backend.name == "torch"
    assert backend.version == torch.__version__
    assert backend.native_formats == ("torch",)
    devices = backend.available_devices()
    assert devices[-1] == "cpu" and len(set(devices)) == len(devices)


def test_import_unidl_does_not_import_torch() -> None:
    code = "import sys, unidl, unidl.spec, unidl.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_unavailable_device_is_a_device_error() -> None:
    spec = unidl.Sequential([unidl.Input((2,)), unidl.Dense(1)])
    with pytest.raises(unidl.DeviceError, match="cuda:99"):
        build(spec, device="cuda:99")


def _conv_spec() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((7, 7, 2)), unidl.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        unidl.BatchNorm(epsilon=0.01), unidl.AvgPool2D(2, padding="same"), unidl.Flatten(),
        unidl.Dense(3, activation="softmax"),
    ])


def _random_weights(spec: unidl.Sequential, rng: np.random.Generator) -> dict[str, np.ndarray]:
    w = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in spec.params.items()}
    w["batch_normalization/moving_variance"] = np.abs(w["batch_normalization/moving_variance"])
    return w


def test_weights_round_trip_exactly(rng: np.random.Generator) -> None:
    spec = _conv_spec()
    w = _random_weights(spec, rng)
    got = build(spec, weights=w).get_weights()
    assert list(got) == list(spec.params)
    for k, v in w.items():
        assert got[k].dtype == np.float32 and got[k].flags.c_contiguous
        np.testing.assert_array_equal(got[k], v)
    model = build(spec)
    model.set_weights(w)
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(v, w[k])
    got["dense/bias"][:] = 123  # returned arrays are copies, not views of live tensors
    assert not (model.get_weights()["dense/bias"] == 123).any()


def test_export_loads_into_stock_torch_modules(tmp_path: Path,
                                               rng: np.random.Generator) -> None:
    spec = _conv_spec()
    model = build(spec, weights=_random_weights(spec, rng))
    path = tmp_path / "deep" / "dir" / "model.pt"
    model.export(str(path), "torch")
    state = torch.load(path, weights_only=True)
    assert sorted(state) == sorted([
        "conv2d.weight", "conv2d.bias", "batch_normalization.weight",
        "batch_normalization.bias", "batch_normalization.running_mean",
        "batch_normalization.running_var", "dense.weight", "dense.bias"])

    def sub(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}

    conv, bn, fc = torch.nn.Conv2d(2, 4, 3, stride=2), torch.nn.BatchNorm2d(4, eps=0.01), \
        torch.nn.Linear(4 * 2 * 2, 3)
    conv.load_state_dict(sub("conv2d"))
    bn.load_state_dict(sub("batch_normalization"))  # strict: num_batches_tracked filled in
    fc.load_state_dict(sub("dense"))
    bn.eval()
    x = rng.standard_normal((5, 7, 7, 2)).astype(np.float32)
    with torch.no_grad():  # the rebuild recipe documented in unidl_torch.export
        h = torch.from_numpy(x).permute(0, 3, 1, 2)
        h = bn(torch.relu(conv(F.pad(h, (1, 1, 1, 1)))))  # 7 -> 4 with stride 2: pad 1/1
        h = F.avg_pool2d(F.pad(h, (0, 0, 0, 0)), 2)  # 4x4, window 2: "same" needs no pad
        h = torch.softmax(fc(h.permute(0, 2, 3, 1).flatten(1)), -1)
    np.testing.assert_allclose(h.numpy(), model.predict(x, 5), rtol=1e-5, atol=1e-6)

    rebuilt = torch_module(spec)
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    with torch.no_grad():
        out = rebuilt(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, model.predict(x, 5), rtol=1e-6, atol=1e-7)


def test_export_other_format_is_not_supported(tmp_path: Path) -> None:
    model = build(unidl.Sequential([unidl.Input((2,)), unidl.Dense(1)]))
    with pytest.raises(unidl.NotSupportedError, match="keras"):
        model.export(str(tmp_path / "m.keras"), "keras")
    assert not list(tmp_path.iterdir())


def test_backend_builds_on_every_available_device(rng: np.random.Generator) -> None:
    spec = _conv_spec()
    w = _random_weights(spec, rng)
    x = rng.standard_normal((3, 7, 7, 2)).astype(np.float32)
    want = build(spec, weights=w).predict(x, 3)
    for device in TorchBackend().available_devices():
        model = build(spec, weights=w, device=device)
        assert model.device == device
        np.testing.assert_allclose(model.predict(x, 2), want, rtol=1e-5, atol=1e-6)


def test_layer_names_that_are_module_attributes_are_stored_by_position(
        rng: np.random.Generator) -> None:
    """A layer may be named like the network's own attributes (``pre``, ``head``, ...):
    it is registered as ``layer<index>`` and the network keeps working."""
    spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(3, name="pre"),
                             unidl.Dense(3, name="head", activation="relu"),
                             unidl.Dense(2, name="spec", activation="softmax")])
    w = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in spec.params.items()}
    model = build(spec, weights=w)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, 5), forward(spec, w, x), rtol=1e-5, atol=1e-6)
    assert sorted(k.split(".")[0] for k in model.net.state_dict()) == [
        "layer1", "layer1", "layer2", "layer2", "layer3", "layer3"]
    a = unidl.Input((4,), name="a")
    graph = unidl.Graph(a, unidl.Dense(2, name="heads", activation="softmax")(
        unidl.Dense(3, name="pre")(a)))
    gw = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in graph.params.items()}
    (got,) = build(graph, weights=gw).predict(x, 5)
    np.testing.assert_allclose(got, forward(graph, gw, (x,))[0], rtol=1e-5, atol=1e-6)
