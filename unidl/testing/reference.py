"""The NumPy forward pass of a whole model, from each layer kind's own ``reference``.

It is the executable form of the spec's semantics: backends are checked against it (and
against each other). Written for clarity, not speed; float64 inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..spec.activations import reference_activation
from ..spec.graph import Graph
from ..spec.layers import Layer
from ..spec.model import Sequential

__all__ = ["activation", "forward", "layer_forward"]

Array = npt.NDArray[Any]


def activation(name: str, x: Array) -> Array:
    """The activation ``name`` applied to ``x`` (float64)."""
    return reference_activation(name, x)


def layer_forward(layer: Layer, weights: Mapping[str, Array], x: Any) -> Array:
    """``layer``'s reference on ``x`` with its own weights picked out of the model's
    canonical ``"<layer>/<param>"`` mapping."""
    prefix = f"{layer.layer_name}/"
    own = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    return np.asarray(layer.reference(x, own))


def _forward_graph(spec: Graph, w: Mapping[str, Array], xs: tuple[Array, ...]
                   ) -> tuple[Array, ...]:
    # integer inputs stay integer for a layer that takes indices; the rest sees float64
    env = {name: np.asarray(x) for name, x in zip(spec.input_names, xs, strict=True)}
    for node in spec.nodes:
        args = [env[r] for r in node.inputs]
        if not node.layer.takes_integers:
            args = [np.asarray(a, dtype=np.float64) for a in args]
        env[node.output] = layer_forward(node.layer, w, args if len(args) > 1 else args[0])
    return tuple(env[name] for name in spec.output_names)


def forward(spec: Sequential | Graph, weights: Mapping[str, Array], x: Any) -> Any:
    """Inference-mode output of ``spec`` with canonical ``weights`` on input ``x``.

    For a :class:`~unidl.Graph`, ``x`` is a tuple of arrays in ``spec.input_names`` order
    and the result a tuple in ``spec.output_names`` order.
    """
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    if isinstance(spec, Graph):
        return _forward_graph(spec, w, tuple(x))
    out = np.asarray(x, dtype=np.float64)
    for ls in spec.layer_shapes:
        out = layer_forward(ls.layer, w, out)
    return out
