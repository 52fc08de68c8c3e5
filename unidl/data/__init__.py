"""Data sources: arrays, memory maps, map-style datasets, loaders and streams; the seeded
batch plan, sharding and reading ahead. See docs/data.md for what each source means.

- :class:`ArrayData`: validated in-memory arrays (backends' fast path).
- :class:`LazyData`: memory maps and other array-likes, read by batch.
- :class:`MappedData`: a map-style ``Dataset`` (``__getitems__`` used when offered).
- :class:`StreamData`: batch iterables, consumed in their own order.

Indexable sources (the first three) follow :func:`epoch_plan`; a backend reads a plan's
batches with :func:`plan_batches` (or, for ``ArrayData``, slices its device copy).
"""

from __future__ import annotations

from .arrays import ArrayData, Arrays, Dataset, SampleSource, length, take
from .batches import Sharded, Subset, plan_batches, shard
from .lazy import LazyData, is_lazy
from .mapped import MappedData
from .plan import EpochPlan, epoch_plan, shard_batch
from .prefetch import default_workers
from .stream import StreamData, is_stream
from .tree import stack

__all__ = ["ArrayData", "Arrays", "Dataset", "EpochPlan", "LazyData", "MappedData",
           "SampleSource", "Sharded", "StreamData", "Subset", "default_workers", "epoch_plan",
           "is_lazy", "is_stream", "length", "plan_batches", "shard", "shard_batch",
           "stack", "take"]
