"""The benchmarked workloads: their data, the unidl spec, and the same model written natively.

Every contender trains the same architecture on the same synthetic arrays. Images are
channels-last (N, H, W, C) for unidl and Keras, as they take them; the torch contenders get
the (N, C, H, W) copy a torch user would hold, made once outside the timed runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import unidl

__all__ = ["WORKLOADS", "Workload", "workload"]

MSE = "mse"
SPARSE_CE = "sparse_categorical_crossentropy"


@dataclass(frozen=True)
class Workload:
    """An MLP (``sizes``: input width, hidden widths, outputs) or, with ``image`` set, a
    CNN: per entry of ``filters`` a Conv2D(filters, 3, ``padding``, relu) and a
    MaxPool2D(2), then Flatten and the Dense layers of ``sizes`` (the flattened width,
    hidden widths with relu, outputs). The last layer is linear everywhere: the
    cross-entropy takes logits."""

    key: str  # the name --workloads selects it by
    name: str
    sizes: tuple[int, ...]
    n: int
    batch_size: int
    loss: str
    image: tuple[int, int, int] | None = None  # (H, W, C)
    filters: tuple[int, ...] = ()
    padding: str = "same"

    @property
    def outputs(self) -> int:
        return self.sizes[-1]

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Channels-last inputs and targets: class indices, or a linear function for MSE."""
        rng = np.random.default_rng(0)
        shape = self.image if self.image is not None else (self.sizes[0],)
        x = rng.normal(size=(self.n, *shape)).astype(np.float32)
        if self.loss == MSE:
            y = (x.reshape(self.n, -1) @ rng.normal(size=x[0].size)).astype(np.float32)
        else:
            y = rng.integers(0, self.outputs, self.n)
        return x, y

    def torch_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``data()`` as torch code holds it: images (N, C, H, W), MSE targets (N, 1)."""
        x, y = self.data()
        if self.image is not None:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x, (y.reshape(-1, 1) if self.loss == MSE else y)

    def spec(self) -> unidl.Sequential:
        dense = [unidl.Dense(u, activation="relu") for u in self.sizes[1:-1]]
        if self.image is None:
            return unidl.Sequential([unidl.Input((self.sizes[0],)), *dense,
                                     unidl.Dense(self.outputs)])
        convs: list[Any] = []
        for f in self.filters:
            convs += [unidl.Conv2D(f, 3, padding=self.padding, activation="relu"),
                      unidl.MaxPool2D(2)]
        return unidl.Sequential([unidl.Input(self.image), *convs, unidl.Flatten(), *dense,
                                 unidl.Dense(self.outputs)])

    def torch_module(self) -> Any:
        """The model as a torch user writes it (``nn.Sequential``, NCHW convolutions)."""
        from torch import nn

        layers: list[Any] = []
        if self.image is not None:
            channels = self.image[2]
            for f in self.filters:
                layers += [nn.Conv2d(channels, f, 3, padding=int(self.padding == "same")),
                           nn.ReLU(), nn.MaxPool2d(2)]
                channels = f
            layers.append(nn.Flatten())
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(self.sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def keras_model(self) -> Any:
        """The model in Keras 3, on whichever backend ``keras`` was imported with."""
        import keras

        L = keras.layers
        layers: list[Any] = [keras.Input(self.image or (self.sizes[0],))]
        for f in self.filters:
            layers += [L.Conv2D(f, 3, padding=self.padding, activation="relu"),
                       L.MaxPooling2D(2)]
        if self.image is not None:
            layers.append(L.Flatten())
        layers += [L.Dense(u, activation="relu") for u in self.sizes[1:-1]]
        layers.append(L.Dense(self.outputs))
        return keras.Sequential(layers)


WORKLOADS = (
    Workload("mlp", "MLP 784-256-128-10, 60k, batch 128", (784, 256, 128, 10), 60_000, 128,
             SPARSE_CE),
    Workload("california", "California MLP 8-30-15-1, 20,640, batch 32", (8, 30, 15, 1),
             20_640, 32, MSE),
    # examples/mnist_cnn.py: Conv2D(16) / Conv2D(32), "same", Flatten, Dense(64), Dense(10)
    Workload("cnn", "MNIST CNN 16/32 same + Dense 64, 28x28x1, 2,048, batch 128",
             (32 * 7 * 7, 64, 10), 2_048, 128, SPARSE_CE, image=(28, 28, 1), filters=(16, 32)),
    # the scenarios' MNIST CNN: Conv2D(32) / Conv2D(64), "valid", Flatten, Dense(10)
    Workload("cnn-scenario", "MNIST CNN 32/64 valid (scenarios), 28x28x1, 2,048, batch 128",
             (64 * 5 * 5, 10), 2_048, 128, SPARSE_CE, image=(28, 28, 1), filters=(32, 64),
             padding="valid"),
)


def workload(key: str) -> Workload:
    for w in WORKLOADS:
        if w.key == key:
            return w
    raise KeyError(f"no workload {key!r}; there are {', '.join(w.key for w in WORKLOADS)}")
