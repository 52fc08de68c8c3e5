"""Every declared layer and activation, and the graph cases, against the NumPy reference
(atol/rtol 1e-5)."""

from __future__ import annotations

import pytest

import unidl
from unidl.testing.cases import FORWARD_SPECS, GRAPH_SPECS, random_input, random_weights
from unidl.testing.expect import expect_close
from unidl.testing.reference import forward

from ._support import require_spec


def _semantics(spec: unidl.Sequential | unidl.Graph) -> str:
    """The layer kinds and activations a forward case exercises, for the failure message."""
    parts = []
    for layer in spec.layers:
        act = getattr(layer, "activation", None)
        parts.append(f"{layer.kind}({act})" if act not in (None, "linear") else layer.kind)
    return ", ".join(dict.fromkeys(parts))


@pytest.mark.parametrize("case", sorted(FORWARD_SPECS))
def test_forward_matches_numpy_reference(backend: str, case: str) -> None:
    spec = FORWARD_SPECS[case]
    require_spec(backend, spec)
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    weights = random_weights(spec)
    model.set_weights(weights)
    x = random_input(spec)
    got = model.predict(x, batch_size=4)
    want = forward(spec, weights, x)
    assert got.shape == want.shape == (len(x), *spec.output_shape)
    expect_close(got, want, rtol=1e-5, atol=1e-5, rule=f"forward pass of {case!r} equals the "
                 f"NumPy reference ({_semantics(spec)})")


@pytest.mark.parametrize("case", sorted(GRAPH_SPECS))
def test_graph_forward_matches_numpy_reference(backend: str, case: str) -> None:
    spec = GRAPH_SPECS[case]
    require_spec(backend, spec)
    model = unidl.build(spec, backend=backend, seed=0, device="cpu")
    weights = random_weights(spec)
    model.set_weights(weights)
    xs = random_input(spec, n=7)
    got = model.predict(dict(zip(spec.input_names, xs, strict=True)), batch_size=4)
    got = got if isinstance(got, list) else [got]
    want = forward(spec, weights, xs)
    assert len(got) == len(want) == len(spec.output_names)
    for g, w, shape in zip(got, want, spec.output_shapes, strict=True):
        assert g.shape == w.shape == (len(xs[0]), *shape)
        expect_close(g, w, rtol=1e-5, atol=1e-5, rule=f"forward pass of graph {case!r} "
                     f"equals the NumPy reference ({_semantics(spec)})")
