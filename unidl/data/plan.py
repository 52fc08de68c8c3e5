"""The seeded batch plan of an epoch, and how a plan splits by ``(rank, world_size)``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import DataError

__all__ = ["EpochPlan", "check_shard", "epoch_plan", "shard_batch"]


@dataclass(frozen=True)
class EpochPlan:
    """The samples of (part of) one epoch and how they are cut into batches.

    Batches are consecutive slices of ``order`` of ``batch_size`` samples; the last one may
    be smaller (never dropped), as in Keras and in torch's default DataLoader.

    ``epoch`` is the epoch index and ``first_batch`` the index, within that epoch, of this
    plan's first batch: the core may hand an epoch over in several consecutive chunks (for
    progress bars and batch callbacks). Backends seed their own randomness (dropout) from
    ``(TrainingSetup.seed, epoch)`` when ``first_batch == 0`` and continue it across the
    chunks, so resuming at an epoch boundary reproduces an uninterrupted run.

    ``learning_rates``, when not None, holds the learning rate of every batch of this plan
    (float64, one per batch): the backend applies ``learning_rates[i]`` to step ``i``. When
    None the optimizer's own ``lr`` applies.
    """

    order: npt.NDArray[np.int64]
    batch_size: int
    epoch: int = 0
    first_batch: int = 0
    learning_rates: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def batches(self) -> Iterator[npt.NDArray[np.int64]]:
        for start in range(0, len(self.order), self.batch_size):
            yield self.order[start:start + self.batch_size]


_SHUFFLE_STREAM = 1


def epoch_plan(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> EpochPlan:
    """The batch plan of ``epoch``: a permutation drawn from ``(seed, epoch)`` alone.

    Depending only on the seed and the epoch index (not on earlier draws) makes resumed
    training (``initial_epoch``) see exactly the batches an uninterrupted run would.
    """
    if shuffle:
        rng = np.random.default_rng([seed, _SHUFFLE_STREAM, epoch])
        order = rng.permutation(n).astype(np.int64)
    else:
        order = np.arange(n, dtype=np.int64)
    return EpochPlan(order, batch_size, epoch)


def check_shard(rank: object, world_size: object) -> tuple[int, int]:
    """``(rank, world_size)`` validated: integers with ``0 <= rank < world_size``."""
    for name, value in (("world_size", world_size), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(f"shard: {name} must be an integer, got {type(value).__name__}")
    r, w = int(rank), int(world_size)  # type: ignore[call-overload]
    if w < 1 or not 0 <= r < w:
        raise DataError(f"shard: need 0 <= rank < world_size, got rank={r}, world_size={w}")
    return r, w


def shard_batch(size: int, rank: int, world_size: int) -> slice:
    """The part of a global batch of ``size`` samples that ``rank`` of ``world_size``
    takes: ``np.array_split``'s contiguous split (the first ``size % world_size`` ranks
    take one sample more), so the ranks' parts are disjoint and cover the batch."""
    base, extra = divmod(size, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))
