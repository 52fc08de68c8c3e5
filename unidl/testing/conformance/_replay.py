"""Replaying training of a linear model in float64 with the core's NumPy references.

The conformance rules about training (epoch loss, sample weights, every optimizer and
clipping, configure and optimizer state) compare a backend's run with this replay step by
step, so a failure can name the step and the parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

import unidl
from unidl.testing.optimizers import ReferenceOptimizer

__all__ = ["linear_data", "linear_spec", "mse_batch"]

F64 = npt.NDArray[np.float64]


def linear_spec(n_in: int = 3, n_out: int = 2) -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((n_in,)), unidl.Dense(n_out)])


def linear_data(n: int = 24, n_in: int = 3, n_out: int = 2,
                seed: int = 7) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    y = (x @ rng.normal(size=(n_in, n_out)) + rng.normal(size=n_out)).astype(np.float32)
    return x, y


def mse_batch(w: dict[str, F64], x: Any, y: Any, sw: Any = None
              ) -> tuple[float, dict[str, F64]]:
    """Batch loss ``sum(w_i * loss_i) / batch size`` of mse and its gradients (float64)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    weights = np.ones(len(x)) if sw is None else np.asarray(sw, np.float64)
    err = x @ w["dense/kernel"] + w["dense/bias"] - y
    loss = float((weights * (err ** 2).mean(axis=1)).sum() / len(x))
    dout = 2 * weights[:, None] * err / (len(x) * y.shape[1])
    return loss, {"dense/kernel": x.T @ dout, "dense/bias": dout.sum(axis=0)}


def batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def replay_epoch(opt: ReferenceOptimizer, w: dict[str, F64], x: Any, y: Any,
                 batch_size: int, sw: Any = None) -> tuple[dict[str, F64], float]:
    """One unshuffled epoch: the new weights and ``sum(batch_loss * size) / n``."""
    total = 0.0
    for s in batches(len(x), batch_size):
        loss, grads = mse_batch(w, x[s], y[s], None if sw is None else sw[s])
        total += loss * (s.stop - s.start)
        w = opt.step(w, grads)
    return w, total / len(x)
