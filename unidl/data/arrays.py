"""In-memory arrays, what every source hands a backend, and the map-style protocol.

:class:`ArrayData` holds whole validated arrays in memory. Backends take a fast path on
it: copy them to the device once and slice batches there, with no per-sample Python.
Every other indexable source (memory maps, map-style datasets) is a :class:`SampleSource`
too: a length and ``take(indices) -> (x, y)``, read batch by batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy.typing as npt

__all__ = ["ArrayData", "Arrays", "Dataset", "SampleSource", "length", "take"]

Array = npt.NDArray[Any]
#: One array, or (a ``Graph``'s inputs or outputs) a tuple of arrays of equal length.
Arrays = Array | tuple[Array, ...]


def take(arrays: Arrays, indices: Any) -> Arrays:
    """``arrays[indices]``, for one array or each of a tuple."""
    if isinstance(arrays, tuple):
        return tuple(a[indices] for a in arrays)
    part: Array = arrays[indices]
    return part


def length(arrays: Arrays) -> int:
    return int((arrays[0] if isinstance(arrays, tuple) else arrays).shape[0])


@runtime_checkable
class Dataset(Protocol):
    """A map-style dataset, as in ``torch.utils.data.Dataset``: ``ds[i] -> (x, y)``.

    A dataset may also offer ``__getitems__(indices) -> list of samples`` (as torch's
    batched fetch does); unidl then reads a batch with one call."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


class SampleSource(Protocol):
    """What a backend trains on: a length and a batch gatherer (numpy in, numpy out).

    ``take`` returns ``(x, y)``; for a ``Graph`` each is a tuple of arrays (inputs and
    outputs in the spec's order). ``sample_weight`` is None or a float32 array ``(n,)``
    indexed like the samples. Read the batches of a plan with
    :func:`unidl.data.plan_batches`, which reads ahead with the source's workers.
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
