"""Kinds of one's own on the torch backend: capabilities are read from the registered
builders, and a kind without a torch builder, or a builder that holds its parameters
wrong, is a clear error naming the kind and the backend before any training."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import torch_kinds
from torch_kinds import TorchTestMisbuilt, TorchTestUnbuilt, TorchTestUnbuiltOpt, setup
from torch_refs import build
from unidl_torch import TorchBackend, torch_module

import unidl

Array = Any


@pytest.fixture(scope="module", autouse=True)
def _register_kinds() -> None:
    torch_kinds.register()  # when these tests run, not at import (see torch_kinds)


# -- capabilities and missing builders -------------------------------------------------
def test_capabilities_are_read_from_the_builders() -> None:
    caps = TorchBackend().capabilities
    assert {"TorchTestScale", "TorchTestMax", "TorchTestProject"} <= caps.layers
    assert "TorchTestUnbuilt" not in caps.layers
    assert {"torch_test_softsign", "torch_test_l1_normalise"} <= caps.activations
    assert "torch_test_unbuilt_act" not in caps.activations
    assert {"torch_test_log_cosh", "torch_test_nll"} <= caps.losses
    assert "torch_test_unbuilt_loss" not in caps.losses
    assert "TorchTestSignSGD" in caps.optimizers
    assert "TorchTestUnbuiltOpt" not in caps.optimizers
    for family, names in (("layer", unidl.spec.LAYER_KINDS.builtins()),
                          ("activation", unidl.spec.ACTIVATION_KINDS.builtins()),
                          ("loss", unidl.spec.LOSS_KINDS.builtins()),
                          ("optimizer", unidl.spec.OPTIMIZER_KINDS.builtins())):
        missing = [n for n in names if unidl.spec.builder_for(family, n, "torch") is None]
        assert not missing, (family, missing)


def test_a_layer_without_a_torch_builder_fails_at_build() -> None:
    spec = unidl.Sequential([unidl.Input((3,)), TorchTestUnbuilt(name="nope")])
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'TorchTestUnbuilt'"):
        build(spec)
    with pytest.raises(unidl.NotSupportedError, match="TorchTestUnbuilt") as info:
        unidl.build(spec, backend="torch", device="cpu")
    assert "torch" in str(info.value)
    a = unidl.Input((3,), name="a")
    graph = unidl.Graph(inputs=a, outputs=TorchTestUnbuilt(name="nope")(a))
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'TorchTestUnbuilt'"):
        build(graph)
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'TorchTestUnbuilt'"):
        torch_module(spec)


def test_an_activation_without_a_torch_builder_fails_at_build() -> None:
    spec = unidl.Sequential([unidl.Input((3,)),
                             unidl.Dense(2, activation="torch_test_unbuilt_act")])
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'torch_test_unbuilt_act'"):
        build(spec)
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(2),  # not the final one
                             unidl.Activation("torch_test_unbuilt_act"), unidl.Dense(1)])
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'torch_test_unbuilt_act'"):
        build(spec)
    a = unidl.Input((3,), name="a")
    graph = unidl.Graph(inputs=a, outputs=unidl.Activation("torch_test_unbuilt_act")(a))
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'torch_test_unbuilt_act'"):
        build(graph)


def test_a_loss_or_optimizer_without_a_torch_builder_fails_before_training() -> None:
    model = build(unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)]))
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'torch_test_unbuilt_loss'"):
        model.configure(setup("torch_test_unbuilt_loss"))
    with pytest.raises(unidl.NotSupportedError, match=r"torch.*'TorchTestUnbuiltOpt'"):
        model.configure(setup("mse", TorchTestUnbuiltOpt()))
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)])
    data = (np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(unidl.NotSupportedError, match="torch_test_unbuilt_loss") as info:
        unidl.fit(spec, data, backend="torch", loss="torch_test_unbuilt_loss", device="cpu",
                  verbose=0)
    assert "torch" in str(info.value)


@pytest.mark.parametrize(("mistake", "message"), [
    ("name", r"'mis'.*no tensor attribute 'scale'.*gain"),
    ("shape", r"'mis'.*'scale' in shape \(4,\).*\(3,\)"),
    ("buffer", r"'mis'.*'scale' as an nn.Parameter"),
])
def test_a_builder_must_hold_each_parameter_canonically(mistake: str, message: str) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), TorchTestMisbuilt(mistake, name="mis")])
    with pytest.raises(unidl.NotSupportedError, match=message):
        build(spec)


def test_a_builder_must_return_a_module() -> None:
    @unidl.register_layer
    @dataclass(frozen=True)
    class TorchTestNotAModule(unidl.Layer):
        name: str | None = None
        kind: ClassVar[str] = "TorchTestNotAModule"

        def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
            return x

    unidl.register_builder(TorchTestNotAModule, "torch", lambda layer, ctx: torch.relu)
    with pytest.raises(unidl.BackendError, match=r"TorchTestNotAModule.*not a torch\.nn\.Module"):
        build(unidl.Sequential([unidl.Input((3,)), TorchTestNotAModule()]))
