"""Data-parallel scaling: training samples/s of one process and of ``fit(devices=N)`` on
the same model, data and global batch: on torch N worker processes (gloo on CPU, NCCL on
CUDA), on keras one process of N replicas (``tf.distribute.MirroredStrategy`` over N
logical CPUs, or N GPUs).

Each run trains ``--epochs`` epochs; the rate is taken between the end of the first epoch
and the end of the last (rank 0 stamps the time), so neither starting the workers nor the
first epoch's warm-up counts. One process uses every core (torch's default threads); each
of N CPU workers uses cores/N threads (torch); the N keras replicas share TensorFlow's
thread pools.

Run once: ``python benchmarks/bench_distributed.py [--backend torch keras]
[--devices 1 2] [--samples 8192]``.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import unidl


class Stamp(unidl.Callback):
    """Appends ``time.perf_counter()`` to ``path`` at the end of every epoch (rank 0)."""

    rank_zero_only = True

    def __init__(self, path: str) -> None:
        self.path = path

    def on_epoch_end(self, model: Any, epoch: int, logs: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{time.perf_counter()}\n")


def spec() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((16, 16, 3)),
        unidl.Conv2D(16, 3, activation="relu"), unidl.BatchNorm(), unidl.MaxPool2D(2),
        unidl.Conv2D(32, 3, activation="relu"), unidl.BatchNorm(), unidl.Flatten(),
        unidl.Dense(64, activation="relu"), unidl.Dense(10, activation="softmax"),
    ])


def rate(backend: str, devices: int, x: np.ndarray, y: np.ndarray, batch: int, epochs: int,
         device: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        stamps = Path(tmp, "stamps")
        unidl.fit(spec(), (x, y), backend=backend, device=device,
                  loss="sparse_categorical_crossentropy", optimizer="adam", epochs=epochs,
                  batch_size=batch, seed=0, verbose=0, callbacks=[Stamp(str(stamps))],
                  devices=None if devices == 1 else devices)
        times = [float(t) for t in stamps.read_text().split()]
    return len(x) * (len(times) - 1) / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", default=["torch", "keras"])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 10, args.samples)
    print(f"{args.device}, {os.cpu_count()} cores, {args.samples} samples of 16x16x3, "
          f"global batch {args.batch_size}, Conv/BatchNorm/Dense, Adam\n")
    print("| backend | workers (replicas) | samples/s | vs 1 |\n|---|---|---|---|")
    for backend in args.backend:
        base = None
        for n in args.devices:
            r = rate(backend, n, x, y, args.batch_size, args.epochs, args.device)
            base = base or r
            print(f"| {backend} | {n} | {r:,.0f} | {r / base:.2f}x |", flush=True)

if __name__ == "__main__":
    main()
