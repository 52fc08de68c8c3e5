"""Epoch time of one model on the same data held five ways: in-memory arrays, a
memory-mapped ``.npy``, and map-style datasets whose ``__getitem__`` costs about 20 us per
sample (an I/O-bound one that reads its row with ``os.pread`` and normalises it, and a
pure-Python one that holds the GIL), read with 0 or the default number of worker threads.

Run once: ``python benchmarks/bench_data.py [--backend torch keras] [--samples 20000]``.
Prints a Markdown table (epochs/s relative to arrays on the same backend, same process).
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
import unidl.data
from unidl.registry import backend_names

FEATURES, CLASSES, BATCH = 32, 10, 64
TARGET_US = 20.0


class PreadRows:
    """Reads sample ``i`` from a raw float32 file with ``os.pread`` (the GIL is released
    while the kernel copies), then standardises it: an I/O-bound ``__getitem__``."""

    def __init__(self, path: Path, y: np.ndarray, repeat: int) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.y, self.repeat = y, repeat
        self.row = FEATURES * 4

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        for _ in range(self.repeat):
            x = np.frombuffer(os.pread(self.fd, self.row, i * self.row), np.float32)
            x = (x - x.mean()) / (x.std() + 1.0) + x
        return x, int(self.y[i])


class BusyRows:
    """The same rows from memory after ``us`` microseconds of pure-Python work (the GIL is
    held throughout: threads cannot overlap it)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, us: float) -> None:
        self.x, self.y, self.us = x, y, us * 1e-6

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        end = time.perf_counter() + self.us
        while time.perf_counter() < end:
            pass
        return self.x[i], int(self.y[i])


def per_sample_us(ds: Any, n: int = 2000) -> float:
    start = time.perf_counter()
    for i in range(n):
        ds[i]
    return (time.perf_counter() - start) / n * 1e6


def epoch_seconds(model: unidl.Model, data: Any, **kw: Any) -> float:
    model.fit(data, epochs=1, batch_size=BATCH, verbose=0, **kw)  # warm-up (compile, caches)
    start = time.perf_counter()
    model.fit(data, epochs=1, batch_size=BATCH, verbose=0, **kw)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", nargs="+", default=None)
    parser.add_argument("--samples", type=int, default=20000)
    args = parser.parse_args()
    backends = args.backend or list(backend_names())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=args.samples)
    spec = unidl.Sequential([unidl.Input((FEATURES,)), unidl.Dense(128, activation="relu"),
                             unidl.Dense(128, activation="relu"), unidl.Dense(CLASSES)])
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        x.tofile(Path(tmp) / "x.raw")
        xm = np.load(Path(tmp) / "x.npy", mmap_mode="r")
        repeat = 1
        while per_sample_us(PreadRows(Path(tmp) / "x.raw", y, repeat)) < TARGET_US * 0.9:
            repeat += 1
        pread = PreadRows(Path(tmp) / "x.raw", y, repeat)
        busy = BusyRows(x, y, TARGET_US)
        cost = {"pread": per_sample_us(pread), "busy": per_sample_us(busy)}
        rows = [
            ("arrays", (x, y), {}),
            ("memory map", (xm, y), {}),
            (f"Dataset, I/O-bound ({cost['pread']:.0f} us/sample), workers=0", pread,
             {"workers": 0}),
            (f"Dataset, I/O-bound ({cost['pread']:.0f} us/sample), default workers", pread, {}),
            (f"Dataset, pure Python ({cost['busy']:.0f} us/sample), workers=0", busy,
             {"workers": 0}),
            (f"Dataset, pure Python ({cost['busy']:.0f} us/sample), default workers", busy, {}),
        ]
        print(f"{args.samples} samples x {FEATURES} features, MLP {FEATURES}-128-128-"
              f"{CLASSES}, batch {BATCH}, Adam, one epoch after a warm-up epoch; "
              f"default workers = {unidl.data.default_workers()}\n")
        print("| source | " + " | ".join(f"{b} s/epoch | {b} vs arrays" for b in backends)
              + " |")
        print("|---|" + "---:|---:|" * len(backends))
        results: dict[str, list[float]] = {name: [] for name, _, _ in rows}
        for backend in backends:
            model = unidl.build(spec, backend, seed=0)
            model.compile("sparse_categorical_crossentropy", unidl.Adam(lr=1e-3))
            for name, data, kw in rows:
                results[name].append(epoch_seconds(model, data, **kw))
        base = results["arrays"]
        for name, secs in results.items():
            cells = " | ".join(f"{s:.3f} | {b / s:.2f}x" for s, b in zip(secs, base, strict=True))
            print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
