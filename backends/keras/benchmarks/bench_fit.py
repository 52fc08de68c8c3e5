"""Throughput of unidl_keras ``train_epoch`` vs hand-written ``keras.Model.fit``.

Both run in this one process on the same device, the same data and the same batch size;
each epoch is timed and the median of the epochs after the first (tracing) is reported.

    python bench_fit.py [--epochs 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from unidl_keras import KerasBackend
from unidl_keras._runtime import keras, tf
from unidl_keras.devices import tf_device

import unidl
from unidl.backend import TrainingSetup
from unidl.data import ArrayData, epoch_plan
from unidl.initializers import initial_weights


class _Timer(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.times.append(time.perf_counter() - self._t)


def native(units: list[int], acts: list[str], x: Any, y: Any, loss: str, bs: int,
           epochs: int, device: str, jit: Any = "auto") -> float:
    with tf.device(tf_device(device)):
        layers = [keras.layers.Dense(u, activation=a) for u, a in zip(units, acts, strict=True)]
        model = keras.Sequential([keras.Input(x.shape[1:]), *layers])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit)
        timer = _Timer()
        model.fit(x, y, batch_size=bs, epochs=epochs, shuffle=True, verbose=0,
                  callbacks=[timer])
    return statistics.median(timer.times[1:])


def ours(units: list[int], acts: list[str], x: Any, y: Any, loss: str, bs: int,
         epochs: int, device: str, logits_loss: bool) -> float:
    dense = [unidl.Dense(u, activation=a) for u, a in zip(units, acts, strict=True)]
    spec = unidl.Sequential([unidl.Input(x.shape[1:]), *dense])
    model = KerasBackend().build(spec, initial_weights(spec, 0), device)
    model.configure(TrainingSetup(unidl.Loss(loss), unidl.Adam(lr=1e-3), logits_loss, 0))
    data = ArrayData(x, y)
    times = []
    for e in range(epochs):
        plan = epoch_plan(len(x), bs, 0, e)
        t = time.perf_counter()
        model.train_epoch(data, plan, False)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    workloads = [
        ("mnist-mlp 784-256-128-10, 60k, bs128, Adam",
         [256, 128, 10], ["relu", "relu", "softmax"],
         rng.standard_normal((60000, 784)).astype(np.float32),
         rng.integers(0, 10, 60000).astype(np.int64),
         "sparse_categorical_crossentropy", 128, True),
        ("california-mlp 8-30-15-1, 20640, bs32, Adam",
         [30, 15, 1], ["relu", "relu", "linear"],
         rng.standard_normal((20640, 8)).astype(np.float32),
         rng.standard_normal((20640, 1)).astype(np.float32),
         "mse", 32, False),
    ]
    for name, units, acts, x, y, loss, bs, fused in workloads:
        t_native = native(units, acts, x, y, loss, bs, args.epochs, args.device)
        t_xla = native(units, acts, x, y, loss, bs, args.epochs, args.device, jit=True)
        t_ours = ours(units, acts, x, y, loss, bs, args.epochs, args.device, fused)
        print(f"{name}:\n"
              f"  native fit (compile defaults)  {len(x) / t_native:>10,.0f} samples/s"
              f"  {t_native:.3f} s/epoch\n"
              f"  native fit (jit_compile=True)  {len(x) / t_xla:>10,.0f} samples/s"
              f"  {t_xla:.3f} s/epoch\n"
              f"  unidl_keras train_epoch        {len(x) / t_ours:>10,.0f} samples/s"
              f"  {t_ours:.3f} s/epoch\n"
              f"  ratio vs defaults {t_native / t_ours:.2f}x, vs jit {t_xla / t_ours:.2f}x")


if __name__ == "__main__":
    main()
