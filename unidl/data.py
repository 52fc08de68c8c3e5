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

__all__ = ["ArrayData", "Arrays", "Dataset", "EpochPlan", "MappedData", "SampleSource",
           "epoch_plan", "length", "stack", "take"]

Array = npt.NDArray[Any]
#: One array, or (a ``Graph``'s inputs or outputs) a tuple of arrays of equal length.
Arrays = Array | tuple[Array, ...]


def take(arrays: Arrays, indices: Array) -> Arrays:
    """``arrays[indices]``, for one array or each of a tuple."""
    if isinstance(arrays, tuple):
        return tuple(a[indices] for a in arrays)
    return arrays[indices]


def length(arrays: Arrays) -> int:
    return int((arrays[0] if isinstance(arrays, tuple) else arrays).shape[0])


@runtime_checkable
class Dataset(Protocol):
    """A map-style dataset, as in ``torch.utils.data.Dataset``: ``ds[i] -> (x, y)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


class SampleSource(Protocol):
    """What a backend trains on: a length and a batch gatherer (numpy in, numpy out).

    ``take`` returns ``(x, y)``; for a ``Graph`` each is a tuple of arrays (inputs and
    outputs in the spec's order). ``sample_weight`` is None or a float32 array ``(n,)``
    indexed like the samples.
    """

    @property
    def sample_weight(self) -> Array | None: ...

    def __len__(self) -> int: ...

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]: ...


@dataclass(frozen=True, eq=False)
class ArrayData:
    """Validated in-memory arrays: ``x`` float32 (or integer), ``y`` shaped for the loss;
    tuples of them for a ``Graph`` (one per input / output).

    ``sample_weight`` (float32, shape ``(n,)``) weights each sample's loss; None means 1.
    """

    x: Arrays
    y: Arrays | None = None
    sample_weight: Array | None = None

    def __len__(self) -> int:
        return length(self.x)

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]:
        return take(self.x, indices), (None if self.y is None else take(self.y, indices))


@dataclass(frozen=True, eq=False)
class MappedData:
    """A user's map-style dataset; ``prepare`` turns a stacked batch into model arrays."""

    dataset: Dataset
    prepare: Any  # Callable[[Array, Array], tuple[Array, Array | None]]
    sample_weight: Array | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]:
        items = [self.dataset[int(i)] for i in indices]
        result: tuple[Arrays, Arrays | None] = self.prepare(
            stack([item[0] for item in items]), stack([item[1] for item in items]))
        return result


def stack(samples: list[Any]) -> Any:
    """Samples -> a batch: arrays (and lists) stacked; a sample that is a dict (keyed by
    input/output name) or a tuple (one entry per input/output) is stacked per entry."""
    first = samples[0]
    if isinstance(first, dict):
        return {k: np.stack([np.asarray(s[k]) for s in samples]) for k in first}
    if isinstance(first, tuple):
        return tuple(np.stack([np.asarray(s[i]) for s in samples]) for i in range(len(first)))
    return np.stack([np.asarray(s) for s in samples])


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
