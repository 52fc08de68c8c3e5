"""Every registered kind against its NumPy reference, forward and gradients: each layer
kind that offers ``examples()`` (built in or yours), and every activation and loss
registered in the process (import the module that registers yours in a ``conftest.py``).
A backend without a builder for a kind skips it with the reason."""

from __future__ import annotations

import pytest

from unidl.spec import ACTIVATION_KINDS, LAYER_KINDS, LOSS_KINDS
from unidl.testing.kinds import check_activation, check_layer, check_loss

from ._support import require

LAYER_CASES = [pytest.param(kind, i, id=f"{kind}-{i}")
               for kind in LAYER_KINDS for i in range(len(LAYER_KINDS[kind].examples()))]


@pytest.mark.parametrize(("kind", "index"), LAYER_CASES)
def test_layer_matches_its_reference_forward_and_gradient(backend: str, kind: str,
                                                          index: int) -> None:
    require(backend, layers=kind)
    layer, input_shape = LAYER_KINDS[kind].examples()[index]
    check_layer(layer, input_shape, backend)


@pytest.mark.parametrize("name", list(ACTIVATION_KINDS))
def test_activation_matches_its_reference_forward_and_gradient(backend: str,
                                                               name: str) -> None:
    require(backend, activations=name, losses="mse", optimizers="SGD")
    check_activation(name, backend)


@pytest.mark.parametrize("name", list(LOSS_KINDS))
def test_loss_matches_its_reference_value_and_gradient(backend: str, name: str) -> None:
    require(backend, losses=name, optimizers="SGD")
    check_loss(name, backend)
