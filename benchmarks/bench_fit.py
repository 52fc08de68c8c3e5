"""Training throughput: ``unidl.fit`` against hand-written native code, in one process.

    python benchmarks/bench_fit.py [--backend torch,keras] [--epochs 3] [--repeats 3]
                                   [--device cpu] [--markdown docs/benchmarks.md]

Workloads (issue 2): (a) MLP 784-256-128-10 on 60,000 synthetic samples, batch 128, Adam,
sparse cross-entropy; (b) the seed notes' California-housing MLP 8-30-15-1 on 20,640
samples, batch 32, Adam, MSE. Each contender trains the same number of epochs from the same
data; runs are interleaved and the best of ``--repeats`` is kept, which filters out noise
from other processes. Reported: samples/s and the ratio unidl / native (higher is better).

Native contenders:
- torch loop: the hand-written loop a careful torch user writes (tensors on the device,
  a permutation per epoch, slicing, zero_grad/backward/step, loss accumulated on device),
  with torch's default Adam and with its fused Adam kernel (what unidl-torch uses);
- torch DataLoader: the seed notes' loop (a Dataset + DataLoader(shuffle=True), loss.item());
- keras fit: ``keras.Model.fit`` on the same arrays.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import unidl


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    n: int
    batch_size: int
    loss: str

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(self.n, self.sizes[0])).astype(np.float32)
        if self.loss == "mse":
            y = (x @ rng.normal(size=self.sizes[0])).astype(np.float32)
        else:
            y = rng.integers(0, self.sizes[-1], self.n)
        return x, y

    def spec(self) -> unidl.Sequential:
        hidden = [unidl.Dense(u, activation="relu") for u in self.sizes[1:-1]]
        return unidl.Sequential([unidl.Input((self.sizes[0],)), *hidden,
                                 unidl.Dense(self.sizes[-1])])


WORKLOADS = (
    Workload("MLP 784-256-128-10, 60k, batch 128", (784, 256, 128, 10), 60_000, 128,
             "sparse_categorical_crossentropy"),
    Workload("California MLP 8-30-15-1, 20,640, batch 32", (8, 30, 15, 1), 20_640, 32, "mse"),
)

Runner = Callable[[], None]


def unidl_runner(w: Workload, backend: str, device: str, epochs: int) -> Runner:
    x, y = w.data()
    loss = unidl.Loss(w.loss, from_logits=w.loss != "mse")
    model = unidl.build(w.spec(), backend=backend, seed=0, device=device)
    model.compile(loss, unidl.Adam(lr=1e-3))
    model.fit((x[:256], y[:256]), epochs=1, verbose=0)  # warm-up: kernels, compilation
    return lambda: model.fit((x, y), epochs=epochs, batch_size=w.batch_size, verbose=0) and None


def torch_module(w: Workload) -> Any:
    import torch

    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(w.sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_loop_runner(w: Workload, device: str, epochs: int, fused: bool = False) -> Runner:
    import torch

    x, y = w.data()
    dev = torch.device(device if device != "auto" else "cpu")
    xt = torch.as_tensor(x, device=dev)
    yt = torch.as_tensor(y, device=dev)
    if w.loss == "mse":
        yt = yt.reshape(-1, 1)
    model = torch_module(w).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=fused or None)
    loss_fn = torch.nn.MSELoss() if w.loss == "mse" else torch.nn.CrossEntropyLoss()

    def run() -> None:
        for _ in range(epochs):
            perm = torch.randperm(len(xt), device=dev)
            total = torch.zeros((), device=dev)
            for i in range(0, len(xt), w.batch_size):
                idx = perm[i:i + w.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
            float(total)

    return run


def torch_dataloader_runner(w: Workload, device: str, epochs: int) -> Runner:
    import torch
    from torch.utils.data import DataLoader, Dataset

    x, y = w.data()
    dev = torch.device(device if device != "auto" else "cpu")

    class Pairs(Dataset[tuple[Any, Any]]):  # the seed notes' DatasetCalifornia
        def __init__(self) -> None:
            self.x = torch.tensor(x, dtype=torch.float32)
            self.y = torch.tensor(y).reshape(-1, 1).float() if w.loss == "mse" else \
                torch.tensor(y)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return self.x[i], self.y[i]

    loader = DataLoader(Pairs(), batch_size=w.batch_size, shuffle=True)
    model = torch_module(w).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.MSELoss() if w.loss == "mse" else torch.nn.CrossEntropyLoss()

    def run() -> None:
        for _ in range(epochs):
            for xb, yb in loader:
                xb, yb = xb.to(dev), yb.to(dev)
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                loss.item()

    return run


def keras_fit_runner(w: Workload, device: str, epochs: int) -> Runner:
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    x, y = w.data()
    layers: list[Any] = [keras.Input((w.sizes[0],))]
    layers += [keras.layers.Dense(u, activation="relu") for u in w.sizes[1:-1]]
    layers.append(keras.layers.Dense(w.sizes[-1]))
    model = keras.Sequential(layers)
    loss = "mse" if w.loss == "mse" else keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(x[:256], y[:256], batch_size=w.batch_size, epochs=1, verbose=0)
    return lambda: model.fit(x, y, batch_size=w.batch_size, epochs=epochs, verbose=0,
                             shuffle=True) and None


def best_time(runners: dict[str, Runner], repeats: int) -> dict[str, float]:
    best = {k: float("inf") for k in runners}
    for _ in range(repeats):  # interleaved, so background load hits every contender alike
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(unidl.backend_names()))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    args = parser.parse_args()
    backends = [b for b in args.backend.split(",") if b]

    lines = ["| workload | contender | samples/s | unidl / native |",
             "|---|---|---:|---:|"]
    for w in WORKLOADS:
        for backend in backends:
            runners: dict[str, Runner] = {}
            if backend == "torch":
                runners["torch loop (hand-written)"] = torch_loop_runner(w, args.device,
                                                                         args.epochs)
                runners["torch loop, fused Adam"] = torch_loop_runner(w, args.device,
                                                                      args.epochs, fused=True)
                runners["torch DataLoader (seed notes)"] = torch_dataloader_runner(
                    w, args.device, args.epochs)
            elif backend == "keras":
                runners["keras Model.fit"] = keras_fit_runner(w, args.device, args.epochs)
            runners[f"unidl.fit on {backend}"] = unidl_runner(w, backend, args.device,
                                                              args.epochs)
            times = best_time(runners, args.repeats)
            ours = times[f"unidl.fit on {backend}"]
            for name, t in times.items():
                rate = w.n * args.epochs / t
                ratio = "" if name.startswith("unidl") else f"{t / ours:.2f}x"
                lines.append(f"| {w.name} | {name} | {rate:,.0f} | {ratio} |")
                print(lines[-1], flush=True)
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, device {args.device}"
    table = "\n".join(lines)
    print(f"\n{machine}; {args.epochs} epochs per run, best of {args.repeats}\n\n{table}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"<!-- generated by benchmarks/bench_fit.py -->\n{table}\n")


if __name__ == "__main__":
    main()
