"""Epoch time of two models (a small MLP and the MNIST MLP) on the same data held in
several ways: in-memory arrays, a memory-mapped ``.npy``, and map-style datasets whose
``__getitem__`` costs about 20 us per sample (an I/O-bound one that reads its row with
``os.pread`` and normalises it, and a pure-Python one that holds the GIL), read in the
training process, by the default number of worker threads, or of worker processes.

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
import unidl.data.processes
from unidl.registry import backend_names

CLASSES, BATCH = 10, 64
TARGET_US = 20.0


class PreadRows:
    """Reads sample ``i`` from a raw float32 file with ``os.pread`` (the GIL is released
    while the kernel copies), then standardises it: an I/O-bound ``__getitem__``."""

    def __init__(self, path: Path, y: np.ndarray, repeat: int, features: int) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.y, self.repeat = y, repeat
        self.row = features * 4

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


def epoch_seconds(spec: unidl.Sequential, backend: str, data: Any, **kw: Any) -> float:
    """The second epoch of a fresh model (every source starts from the same weights: a
    model trained longer can run slower on torch's CPU kernels, as Adam's second moments
    of unused inputs decay into subnormal floats, so sources must not share one model)."""
    model = unidl.build(spec, backend, seed=0)
    model.compile("sparse_categorical_crossentropy", unidl.Adam(lr=1e-3))
    model.fit(data, epochs=1, batch_size=BATCH, verbose=0, **kw)  # warm-up (compile, caches)
    start = time.perf_counter()
    model.fit(data, epochs=1, batch_size=BATCH, verbose=0, **kw)
    return time.perf_counter() - start


#: (name, features, hidden widths): the study notes' MNIST MLP costs about ten times more
#: per sample than the small one, so reading 20 us items overlaps with more training.
WORKLOADS = [("MLP 32-128-128-10", 32, (128, 128)), ("MNIST MLP 784-256-128-10", 784, (256, 128))]


def sources(tmp: Path, x: np.ndarray, y: np.ndarray) -> list[tuple[str, Any, dict[str, Any]]]:
    np.save(tmp / "x.npy", x)
    x.tofile(tmp / "x.raw")
    xm = np.load(tmp / "x.npy", mmap_mode="r")
    repeat = 1
    while per_sample_us(PreadRows(tmp / "x.raw", y, repeat, x.shape[1])) < TARGET_US * 0.9:
        repeat += 1
    pread = PreadRows(tmp / "x.raw", y, repeat, x.shape[1])
    busy = BusyRows(x, y, TARGET_US)
    io, py = (f"{per_sample_us(ds):.0f} us/sample" for ds in (pread, busy))
    default = unidl.data.default_workers()
    return [
        ("arrays", (x, y), {}),
        ('memory map (`np.load(mmap_mode="r")`)', (xm, y), {}),
        (f"Dataset, I/O-bound ({io}), workers=0", pread, {"workers": 0}),
        (f"Dataset, I/O-bound ({io}), {default} worker threads", pread,
         {"use_multiprocessing": False}),
        (f"Dataset, I/O-bound ({io}), {default} worker processes", pread,
         {"use_multiprocessing": True}),
        (f"Dataset, pure Python ({py}), workers=0", busy, {"workers": 0}),
        (f"Dataset, pure Python ({py}), {default} worker threads", busy,
         {"use_multiprocessing": False}),
        (f"Dataset, pure Python ({py}), {default} worker processes", busy,
         {"use_multiprocessing": True}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", nargs="+", default=None)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--workload", nargs="+", default=[w[0] for w in WORKLOADS],
                        choices=[w[0] for w in WORKLOADS])
    args = parser.parse_args()
    backends = args.backend or list(backend_names())
    print(f"{args.samples} samples, batch {BATCH}, Adam, one epoch after a warm-up epoch; "
          f"default workers = {unidl.data.default_workers()} "
          f"(processes by default: {unidl.data.processes.use_processes(None)})")
    for workload, features, hidden in WORKLOADS:
        if workload not in args.workload:
            continue
        rng = np.random.default_rng(0)
        x = rng.normal(size=(args.samples, features)).astype(np.float32)
        y = rng.integers(0, CLASSES, size=args.samples)
        spec = unidl.Sequential([unidl.Input((features,)),
                                 *(unidl.Dense(h, activation="relu") for h in hidden),
                                 unidl.Dense(CLASSES)])
        with tempfile.TemporaryDirectory() as tmp:
            rows = sources(Path(tmp), x, y)
            results: dict[str, list[float]] = {name: [] for name, _, _ in rows}
            for backend in backends:
                for name, data, kw in rows:
                    results[name].append(epoch_seconds(spec, backend, data, **kw))
        print(f"\n{workload}\n")
        print("| source | " + " | ".join(f"{b} s/epoch | {b} vs arrays" for b in backends)
              + " |")
        print("|---|" + "---:|---:|" * len(backends))
        base = results["arrays"]
        for name, secs in results.items():
            cells = " | ".join(f"{s:.3f} | {b / s:.2f}x" for s, b in zip(secs, base, strict=True))
            print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
