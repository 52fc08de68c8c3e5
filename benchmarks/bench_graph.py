"""Training throughput of a functional graph: seed 002's embedding model, ``unidl.fit``
against the same model written natively, in one process.

    python benchmarks/bench_graph.py [--backend torch,keras] [--epochs 3] [--repeats 3]
                                     [--device cpu]

Workload: 4 categorical columns (4, 4, 3, 6 categories; embeddings of 2, 2, 2, 3
dimensions) and 2 numeric features, 50,000 samples, batch 128; dropout 0.4 on the joined
embeddings, then Linear -> ReLU -> BatchNorm -> Dropout(0.4) blocks of 200, 100 and 50
units, 4 classes, Adam, cross-entropy on logits. Native contenders: the seed's torch
``nn.Module`` (``nn.ModuleList`` of embeddings, ``torch.cat``) in a hand-written loop with
fused Adam (what unidl-torch uses), and a Keras functional model with ``Model.fit``.
Runs are interleaved and the best of ``--repeats`` kept. Ratio = unidl / native speed.
"""

from __future__ import annotations

import argparse
import platform
from typing import Any

import numpy as np
from bench_fit import Runner, best_time

import unidl

SIZES = (4, 4, 3, 6)
DIMS = (2, 2, 2, 3)
HIDDEN = (200, 100, 50)
N, BATCH, CLASSES, P = 50_000, 128, 4, 0.4


def data() -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    cats = [rng.integers(0, k, size=(N, 1)) for k in SIZES]
    num = rng.normal(size=(N, 2)).astype(np.float32)
    return [*cats, num], rng.integers(0, CLASSES, N)


def spec() -> unidl.Graph:
    cols = [unidl.Input((1,), dtype="int64", name=f"cat{i}") for i in range(len(SIZES))]
    num = unidl.Input((2,), name="numeric")
    emb = [unidl.Flatten()(unidl.Embedding(k, d)(c)) for k, d, c in zip(SIZES, DIMS, cols,
                                                                         strict=True)]
    x = unidl.Concatenate()([unidl.Dropout(P)(unidl.Concatenate()(emb)), num])
    for units in HIDDEN:
        x = unidl.Dropout(P)(unidl.BatchNorm()(unidl.Dense(units, activation="relu")(x)))
    return unidl.Graph([*cols, num], unidl.Dense(CLASSES)(x))


def unidl_runner(backend: str, device: str, epochs: int) -> Runner:
    x, y = data()
    model = unidl.build(spec(), backend=backend, seed=0, device=device)
    model.compile(unidl.Loss("sparse_categorical_crossentropy", from_logits=True),
                  unidl.Adam(lr=1e-3))
    model.fit(([a[:256] for a in x], y[:256]), epochs=1, verbose=0)  # warm-up
    return lambda: model.fit((x, y), epochs=epochs, batch_size=BATCH, verbose=0) and None


def torch_runner(device: str, epochs: int) -> Runner:
    import torch
    from torch import nn

    class Seed002(nn.Module):  # the seed's Model, with the numeric columns appended
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = nn.ModuleList(nn.Embedding(k, d) for k, d in zip(SIZES, DIMS,
                                                                               strict=True))
            self.embedding_dropout = nn.Dropout(P)
            layers: list[nn.Module] = []
            size = sum(DIMS) + 2
            for units in HIDDEN:
                layers += [nn.Linear(size, units), nn.ReLU(inplace=True),
                           nn.BatchNorm1d(units), nn.Dropout(P)]
                size = units
            layers.append(nn.Linear(size, CLASSES))
            self.layers = nn.Sequential(*layers)

        def forward(self, cats: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
            e = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.embeddings)], 1)
            return self.layers(torch.cat([self.embedding_dropout(e), num], 1))

    x, y = data()
    dev = torch.device(device if device != "auto" else "cpu")
    cats = torch.as_tensor(np.concatenate(x[:-1], axis=1), device=dev)
    num = torch.as_tensor(x[-1], device=dev)
    yt = torch.as_tensor(y, device=dev)
    model = Seed002().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(N, device=dev)
            total = torch.zeros((), device=dev)
            for i in range(0, N, BATCH):
                idx = perm[i:i + BATCH]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(cats[idx], num[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
            float(total)

    return run


def keras_runner(device: str, epochs: int) -> Runner:
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    x, y = data()
    cols = [keras.Input((1,), dtype="int64") for _ in SIZES]
    num = keras.Input((2,))
    emb = [keras.layers.Flatten()(keras.layers.Embedding(k, d)(c))
           for k, d, c in zip(SIZES, DIMS, cols, strict=True)]
    h: Any = keras.layers.Concatenate()([keras.layers.Dropout(P)(
        keras.layers.Concatenate()(emb)), num])
    for units in HIDDEN:
        h = keras.layers.Dense(units, activation="relu")(h)
        h = keras.layers.Dropout(P)(keras.layers.BatchNormalization()(h))
    model = keras.Model([*cols, num], keras.layers.Dense(CLASSES)(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit([a[:256] for a in x], y[:256], batch_size=BATCH, epochs=1, verbose=0)
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0) and None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(unidl.backend_names()))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    lines = ["| contender | samples/s | unidl / native |", "|---|---:|---:|"]
    for backend in (b for b in args.backend.split(",") if b):
        runners: dict[str, Runner] = {}
        if backend == "torch":
            runners["torch nn.Module loop, fused Adam"] = torch_runner(args.device,
                                                                      args.epochs)
        elif backend == "keras":
            runners["keras functional Model.fit"] = keras_runner(args.device, args.epochs)
        ours = f"unidl.fit on {backend}"
        runners[ours] = unidl_runner(backend, args.device, args.epochs)
        times = best_time(runners, args.repeats)
        for name, t in times.items():
            ratio = "" if name == ours else f"{t / times[ours]:.2f}x"
            lines.append(f"| {name} | {N * args.epochs / t:,.0f} | {ratio} |")
            print(lines[-1], flush=True)
    print(f"\n{platform.machine()}, device {args.device}; {args.epochs} epochs per run, best "
          f"of {args.repeats}\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
