"""Reading a plan's batches from any indexable source, and sharding sources by rank.

:func:`plan_batches` is what a backend's generic path iterates: the batches of the plan,
in order, read ahead by the source's ``workers``. :func:`shard` splits any source by
``(rank, world_size)``: rank ``r`` keeps part ``r`` of every global batch (the contiguous
split of :func:`~unidl.data.plan.shard_batch`), so the shards are disjoint, cover every
epoch exactly once, and ``batch_size`` stays the global batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .arrays import Arrays, SampleSource
from .mapped import MappedData
from .plan import EpochPlan, check_shard, shard_batch
from .prefetch import read_ahead
from .processes import read_in_processes
from .stream import StreamData

__all__ = ["Sharded", "Subset", "plan_batches", "shard"]

Array = npt.NDArray[Any]
Indices = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Sharded:
    """Part ``rank`` of ``world_size`` of an indexable ``source`` (see the module)."""

    source: SampleSource
    rank: int
    world_size: int

    @property
    def sample_weight(self) -> Array | None:
        return self.source.sample_weight

    @property
    def workers(self) -> int:
        return int(getattr(self.source, "workers", 0))

    def __len__(self) -> int:
        return len(self.source)

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]:
        return self.source.take(indices)

    def part(self, indices: Indices) -> Indices:
        return indices[shard_batch(len(indices), self.rank, self.world_size)]


@dataclass(frozen=True, eq=False)
class Subset:
    """The samples ``indices`` of an indexable ``source``, renumbered from 0 (what
    ``validation_split`` makes of a memory map or a dataset: no copy)."""

    source: SampleSource
    indices: Indices

    @property
    def sample_weight(self) -> Array | None:
        w = self.source.sample_weight
        return None if w is None else w[self.indices]

    @property
    def workers(self) -> int:
        return int(getattr(self.source, "workers", 0))

    @property
    def targets_of(self) -> Any:
        read = getattr(self.source, "targets_of", None)
        if read is None:
            return None
        return lambda idx: read(self.indices[np.asarray(idx, dtype=np.int64)])

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]:
        return self.source.take(self.indices[np.asarray(indices, dtype=np.int64)])


def shard(source: Any, rank: int, world_size: int) -> Any:
    """``source`` split by ``(rank, world_size)``: a :class:`Sharded` view of an indexable
    source, or a stream that keeps part ``rank`` of each of its batches."""
    r, w = check_shard(rank, world_size)
    if isinstance(source, StreamData):
        return dataclasses.replace(source, shard=(r, w))
    if isinstance(source, Sharded):
        source = source.source
    return Sharded(source, r, w)


def plan_batches(data: SampleSource, plan: EpochPlan, depth: int | None = None
                 ) -> Iterator[tuple[Indices, Arrays, Arrays | None]]:
    """``(indices, x, y)`` of every batch of ``plan`` read from ``data``, in order, read
    ahead by ``data.workers`` threads, or processes for a dataset that asks for them, when
    it has any (at most ``depth`` batches ahead, default twice the workers). On a
    :class:`Sharded` source each batch is this rank's part of the plan's batch (an empty
    part is skipped)."""
    batches: Iterator[Indices] = plan.batches()
    if isinstance(data, Sharded):
        parts = (data.part(b) for b in plan.batches())
        batches = (p for p in parts if len(p))

    in_processes = _read_by_processes(data)
    if in_processes is not None:
        mapped, translate = in_processes
        tasks = ((b, [int(i) for i in translate(b)]) for b in batches)
        return read_in_processes(mapped, tasks, mapped.workers, depth)

    def fetch(indices: Indices) -> tuple[Indices, Arrays, Arrays | None]:
        x, y = data.take(indices)
        return indices, x, y

    return read_ahead(fetch, batches, int(getattr(data, "workers", 0)), depth)


def _read_by_processes(data: SampleSource
                       ) -> tuple[MappedData, Callable[[Indices], Indices]] | None:
    """The dataset under ``data``'s views (shards, subsets) when worker processes read it,
    with the map from the view's indices to the dataset's; None otherwise."""
    maps: list[Indices] = []
    while isinstance(data, (Sharded, Subset)):
        if isinstance(data, Subset):
            maps.append(data.indices)
        data = data.source
    if not isinstance(data, MappedData) or not data.processes or data.workers <= 0:
        return None

    def translate(indices: Indices) -> Indices:
        for inner in maps:  # outermost view first
            indices = inner[np.asarray(indices, dtype=np.int64)]
        return indices

    return data, translate
