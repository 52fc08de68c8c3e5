"""A catalogue of small specs that together use every layer type, option and activation,
with random canonical weights and inputs for forward-pass checks (used by the conformance
suite and by unidl's own cross-backend tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import unidl
from unidl.spec import ACTIVATIONS

__all__ = ["FORWARD_SPECS", "GRAPH_SPECS", "Pairs", "linear_problem", "random_input",
           "random_weights", "tabular_graph"]

Array = npt.NDArray[Any]


def _conv_stack(*layers: unidl.spec.Layer,
                shape: tuple[int, ...] = (7, 9, 3)) -> unidl.Sequential:
    return unidl.Sequential([unidl.Input(shape), *layers])


FORWARD_SPECS: dict[str, unidl.Sequential] = {
    **{f"dense_{a}": unidl.Sequential([unidl.Input((7,)), unidl.Dense(5, activation=a)])
       for a in ACTIVATIONS},
    **{f"activation_{a}": unidl.Sequential([unidl.Input((3, 4)), unidl.Activation(a)])
       for a in ACTIVATIONS},
    "dense_rank3_no_bias": unidl.Sequential([unidl.Input((3, 4)),
                                             unidl.Dense(5, use_bias=False)]),
    "conv_valid": _conv_stack(unidl.Conv2D(4, 3)),
    "conv_same_stride2_rect": _conv_stack(unidl.Conv2D(4, (3, 2), strides=2, padding="same",
                                                       activation="relu", use_bias=False)),
    "conv_valid_stride_2x1": _conv_stack(unidl.Conv2D(2, (2, 3), strides=(2, 1))),
    "maxpool_valid": _conv_stack(unidl.MaxPool2D()),
    "maxpool_same_3_stride2": _conv_stack(unidl.MaxPool2D(3, strides=2, padding="same")),
    "avgpool_valid_stride1": _conv_stack(unidl.AvgPool2D(2, strides=1)),
    "avgpool_same": _conv_stack(unidl.AvgPool2D(2, padding="same"), shape=(5, 5, 2)),
    "batchnorm_dense": unidl.Sequential([unidl.Input((6,)), unidl.BatchNorm(epsilon=1e-2)]),
    "batchnorm_conv": _conv_stack(unidl.Conv2D(4, 3, padding="same"), unidl.BatchNorm()),
    "conv1d_same_stride2": unidl.Sequential([
        unidl.Input((9, 3)), unidl.Conv1D(4, 3, strides=2, padding="same", activation="relu")]),
    "conv1d_valid_pools": unidl.Sequential([
        unidl.Input((9, 3)), unidl.Conv1D(4, 2), unidl.MaxPool1D(3, strides=2, padding="same"),
        unidl.AvgPool1D(2, padding="same")]),
    "global_pools_1d": unidl.Sequential([unidl.Input((7, 3)), unidl.GlobalAvgPool1D()]),
    "global_max_1d": unidl.Sequential([unidl.Input((7, 3)), unidl.GlobalMaxPool1D()]),
    "global_pools_2d": _conv_stack(unidl.Conv2D(4, 3), unidl.GlobalAvgPool2D()),
    "global_max_2d": _conv_stack(unidl.GlobalMaxPool2D()),
    "embedding_flatten": unidl.Sequential([
        unidl.Input((5,), dtype="int64"), unidl.Embedding(11, 4), unidl.Flatten(),
        unidl.Dense(3)]),
    "permute_dense": unidl.Sequential([
        unidl.Input((3, 4)), unidl.Permute((2, 1)), unidl.Dense(2)]),
    "permute_conv": _conv_stack(unidl.Permute((3, 1, 2)), unidl.Conv2D(2, 2), shape=(4, 5, 3)),
    "reshape_layernorm": unidl.Sequential([
        unidl.Input((12,)), unidl.Reshape((3, -1)), unidl.LayerNorm(epsilon=1e-2),
        unidl.Dense(2)]),
    "simple_rnn_sequences": unidl.Sequential([
        unidl.Input((6, 3)), unidl.SimpleRNN(4, return_sequences=True)]),
    "lstm_last": unidl.Sequential([unidl.Input((6, 3)), unidl.LSTM(5)]),
    "gru_stack": unidl.Sequential([
        unidl.Input((6, 3)), unidl.GRU(4, return_sequences=True), unidl.GRU(3)]),
    "cnn_flatten_dense": _conv_stack(
        unidl.Conv2D(4, 3, padding="same", activation="relu"), unidl.MaxPool2D(),
        unidl.BatchNorm(), unidl.Flatten(), unidl.Dropout(0.5),
        unidl.Dense(3, activation="softmax")),
}


def tabular_graph(n_categories: tuple[int, ...] = (7, 5), n_numeric: int = 4,
                  n_classes: int = 3, dim: int | tuple[int, ...] = 3,
                  hidden: tuple[int, ...] = (16,), dropout: float = 0.0,
                  batchnorm: bool = True, embedding_dropout: float = 0.0) -> unidl.Graph:
    """Seed 002's model: one Embedding per categorical column (an int64 Input each, of
    ``dim`` or ``dim[i]`` dimensions), concatenated (then ``embedding_dropout``) with the
    numeric features (if ``n_numeric``), then Dense -> ReLU -> BatchNorm -> Dropout blocks
    and a softmax over the classes."""
    dims = dim if isinstance(dim, tuple) else (dim,) * len(n_categories)
    cats = [unidl.Input((1,), dtype="int64", name=f"cat{i}") for i in range(len(n_categories))]
    parts: list[Any] = [unidl.Flatten()(unidl.Embedding(k, d)(c))
             for k, d, c in zip(n_categories, dims, cats, strict=True)]
    if embedding_dropout:  # on the embeddings only, as the seed's model does
        joined = unidl.Concatenate()(parts) if len(parts) > 1 else parts[0]
        parts = [unidl.Dropout(embedding_dropout)(joined)]
    inputs = list(cats)
    if n_numeric:
        num = unidl.Input((n_numeric,), name="numeric")
        inputs.append(num)
        parts.append(num)
    h = unidl.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for units in hidden:
        h = unidl.Dense(units, activation="relu")(h)
        if batchnorm:
            h = unidl.BatchNorm()(h)
        if dropout:
            h = unidl.Dropout(dropout)(h)
    out = unidl.Dense(n_classes, activation="softmax", name="label")(h)
    return unidl.Graph(inputs=inputs, outputs=out, name="tabular")


def _two_towers() -> unidl.Graph:
    """Two inputs, a shared Dense applied to both, every merge layer, two outputs."""
    a, b = unidl.Input((5,), name="a"), unidl.Input((5,), name="b")
    shared = unidl.Dense(4, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    merged = unidl.Concatenate()([unidl.Add()([ha, hb]), unidl.Subtract()([ha, hb]),
                                  unidl.Multiply()([ha, hb]), unidl.Average()([ha, hb])])
    reg = unidl.Dense(2, name="reg")(merged)
    cls = unidl.Dense(3, activation="softmax", name="cls")(unidl.Dense(6, activation="relu")(
        merged))
    return unidl.Graph(inputs=[a, b], outputs=[reg, cls], name="two_towers")


def _sequence_graph() -> unidl.Graph:
    """Permute and Concatenate on a non-final axis, a Conv1D branch and an LSTM branch."""
    x = unidl.Input((6, 4), name="seq")
    t = unidl.Permute((2, 1))(x)  # (4, 6)
    c = unidl.Conv1D(3, 2, padding="same", activation="relu")(x)  # (6, 3)
    joined = unidl.Concatenate(axis=1)([unidl.Permute((2, 1))(c), t])  # (7, 6)
    h = unidl.LSTM(5)(unidl.Permute((2, 1))(joined))  # (6, 7) -> (5,)
    return unidl.Graph(inputs=x, outputs=unidl.Dense(2)(h), name="sequence")


def _image_graph() -> unidl.Graph:
    """A residual block: Conv2D -> BatchNorm added back to a 1x1 projection."""
    x = unidl.Input((6, 6, 2), name="image")
    h = unidl.BatchNorm()(unidl.Conv2D(4, 3, padding="same", activation="relu")(x))
    skip = unidl.Conv2D(4, 1)(x)
    r = unidl.Activation("relu")(unidl.Add()([h, skip]))
    pooled = unidl.GlobalAvgPool2D()(unidl.MaxPool2D()(r))
    return unidl.Graph(inputs=x, outputs=unidl.Dense(3, activation="softmax")(pooled),
                       name="residual")


GRAPH_SPECS: dict[str, unidl.Graph] = {
    "tabular_embeddings": tabular_graph(),
    "two_towers_shared": _two_towers(),
    "sequence_permute_concat": _sequence_graph(),
    "residual_image": _image_graph(),
}


def random_weights(spec: unidl.Sequential | unidl.Graph, seed: int = 0) -> dict[str, Array]:
    """Random canonical weights; BatchNorm statistics far from their initial values."""
    rng = np.random.default_rng(seed)
    out: dict[str, Array] = {}
    for name, info in spec.params.items():
        if name.endswith("moving_variance"):
            v = rng.uniform(0.5, 2.0, info.shape)
        elif len(info.shape) > 1:
            v = rng.normal(size=info.shape) / np.sqrt(np.prod(info.shape[:-1]))
        else:
            v = rng.normal(scale=0.5, size=info.shape)
        out[name] = v.astype(np.float32)
    return out


def random_input(spec: unidl.Sequential | unidl.Graph, n: int = 6, seed: int = 1) -> Any:
    """Standard-normal inputs (x2), or valid indices for a model starting with Embedding;
    for a Graph a tuple, one array per input (indices below every consuming Embedding's
    ``input_dim``)."""
    rng = np.random.default_rng(seed)
    if isinstance(spec, unidl.Graph):
        xs: list[Array] = []
        for layer in spec.input_layers:
            if layer.dtype.startswith("int"):
                dims = [n.layer.input_dim for n in spec.consumers(layer.layer_name)
                        if isinstance(n.layer, unidl.spec.Embedding)] or [10]
                xs.append(rng.integers(0, min(dims), size=(n, *layer.shape)).astype(np.int64))
            else:
                xs.append((rng.normal(size=(n, *layer.shape)) * 2).astype(np.float32))
        return tuple(xs)
    first = spec.layers[1] if len(spec.layers) > 1 else None
    if isinstance(first, unidl.spec.Embedding):
        return rng.integers(0, first.input_dim, size=(n, *spec.input_shape)).astype(np.int64)
    return (rng.normal(size=(n, *spec.input_shape)) * 2).astype(np.float32)


class Pairs:
    """A map-style dataset over two arrays, as the seed notes write for torch's DataLoader:
    ``ds[i] -> (x[i], y[i])``. Training on it must equal training on the arrays."""

    def __init__(self, x: Array, y: Array) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Array, Array]:
        return self.x[i], self.y[i]


def linear_problem(n: int = 40) -> tuple[Array, Array]:
    """``y = x @ [1, -2, 0.5] + 0.3`` on 3 standard-normal features (float32)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
