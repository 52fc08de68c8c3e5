"""Training data as the core hands it to a backend, and the seeded batch plan.

Users pass a tuple ``(x, y)`` of arrays, a pandas object, or any map-style ``Dataset``
(``__len__`` and ``__getitem__(i) -> (x, y)``). The core validates it once and wraps it:

- :class:`ArrayData` holds whole arrays in memory. Backends take a fast path: copy them to
  the device once and slice batches there, with no per-sample Python.
- :class:`MappedData` wraps a ``Dataset``; batches are gathered sample by sample.

Both expose ``take(indices) -> (x, y)`` so a backend always has a generic path.
The order of samples in every epoch comes from :func:`epoch_plan`, seeded by the core.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayData", "Dataset", "EpochPlan", "MappedData", "SampleSource", "epoch_plan"]

Array = npt.NDArray[Any]


@runtime_checkable
class Dataset(Protocol):
    """A map-style dataset, as in ``torch.utils.data.Dataset``: ``ds[i] -> (x, y)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


class SampleSource(Protocol):
    """What a backend trains on: a length and a batch gatherer (numpy in, numpy out).

    ``sample_weight`` is None or a float32 array ``(n,)`` indexed like the samples.
    """

    @property
    def sample_weight(self) -> Array | None: ...

    def __len__(self) -> int: ...

    def take(self, indices: Array) -> tuple[Array, Array | None]: ...


@dataclass(frozen=True, eq=False)
class ArrayData:
    """Validated in-memory arrays: ``x`` float32 (or integer), ``y`` shaped for the loss.

    ``sample_weight`` (float32, shape ``(n,)``) weights each sample's loss; None means 1.
    """

    x: Array
    y: Array | None = None
    sample_weight: Array | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, indices: Array) -> tuple[Array, Array | None]:
        return self.x[indices], (None if self.y is None else self.y[indices])


@dataclass(frozen=True, eq=False)
class MappedData:
    """A user's map-style dataset; ``prepare`` turns a stacked batch into model arrays."""

    dataset: Dataset
    prepare: Any  # Callable[[Array, Array], tuple[Array, Array | None]]
    sample_weight: Array | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def take(self, indices: Array) -> tuple[Array, Array | None]:
        items = [self.dataset[int(i)] for i in indices]
        xs = np.stack([np.asarray(item[0]) for item in items])
        ys = np.stack([np.asarray(item[1]) for item in items])
        result: tuple[Array, Array | None] = self.prepare(xs, ys)
        return result


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
