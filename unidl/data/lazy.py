"""Memory maps and other array-likes (``h5py``/``zarr`` datasets), read batch by batch.

Nothing is copied whole: each batch of the plan reads its rows, then is validated (shape,
dtype, finiteness, labels) like an in-memory batch. Reading a memory map makes its pages
part of the process' resident memory until the kernel needs them back; so that training on
a map larger than memory keeps the resident set at a few batches, the pages read are
handed back (``madvise(MADV_DONTNEED)``; the data stays in the page cache, and a shared
map's writes are kept) every :data:`RELEASE_BYTES` read. A copy-on-write map (mode
``"c"``) keeps its pages: dropping them would drop the changes.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import DataError, short
from .arrays import Arrays
from .mapped import Prepare
from .tree import gather

__all__ = ["RELEASE_BYTES", "LazyData", "is_lazy"]

Array = npt.NDArray[Any]

#: Bytes of a memory map read between two hand-backs of its pages.
RELEASE_BYTES = 16 << 20
#: What one row read at random may map: the kernel maps pages around a faulting one (Linux'
#: ``fault_around_bytes``, 64 KiB by default), so a row costs at least that much.
_FAULT = 16 * mmap.PAGESIZE


def is_lazy(value: object) -> bool:
    """A memory map, or an array-like that is not in memory (has ``shape``, ``dtype`` and
    ``__getitem__`` but is neither a NumPy array nor a framework tensor nor pandas)."""
    if isinstance(value, np.memmap):
        return True
    if isinstance(value, np.ndarray):
        return False
    return (hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__")
            and not any(hasattr(value, a) for a in ("numpy", "to_numpy", "detach",
                                                    "__array_namespace__")))


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return list(tree.values())
    if isinstance(tree, (tuple, list)):
        return list(tree)
    return [tree]


class _Pages:
    """Counts the bytes read from each memory map and hands its pages back."""

    def __init__(self) -> None:
        self._read: dict[int, int] = {}
        self._lock = threading.Lock()

    def read(self, leaf: Any, count: int) -> None:
        mm = getattr(leaf, "_mmap", None)
        if mm is None or getattr(leaf, "mode", "c") == "c" or leaf.ndim == 0:
            return
        row = max(abs(int(leaf.strides[0])), _FAULT)
        with self._lock:
            total = self._read.get(id(mm), 0) + count * row
            if total < RELEASE_BYTES:
                self._read[id(mm)] = total
                return
            self._read[id(mm)] = 0
        with contextlib.suppress(AttributeError, ValueError, OSError):  # closed, or no madvise
            mm.madvise(mmap.MADV_DONTNEED)


@dataclass(frozen=True, eq=False)
class LazyData:
    """``(x, y)`` whose leaves include array-likes read lazily (see the module).

    ``x`` and ``y`` keep the user's structure (an array-like, or a dict/tuple of them for a
    ``Graph``); ``prepare`` validates each batch read. ``workers``: reader threads ahead
    of training (0: read in the training thread).
    """

    x: Any
    y: Any
    prepare: Prepare
    n: int
    sample_weight: Array | None = None
    workers: int = 1
    name: str = "data"
    #: Validates targets alone (for reading every label without the inputs).
    prepare_y: Callable[[Any], Arrays] | None = None
    _pages: _Pages = field(default_factory=_Pages, repr=False)

    def __len__(self) -> int:
        return self.n

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]:
        idx = np.asarray(indices, dtype=np.int64)
        xb = gather(self.x, idx)
        yb = None if self.y is None else gather(self.y, idx)
        for leaf in _leaves(self.x) + ([] if self.y is None else _leaves(self.y)):
            self._pages.read(leaf, len(idx))
        try:
            return self.prepare(xb, yb)
        except DataError as e:
            raise type(e)(f"{self.name}, the batch of samples {short(idx.tolist())}: {e}"
                          ) from None


    @property
    def targets_of(self) -> Callable[[Array], Arrays] | None:
        """``indices -> validated targets``, reading only the targets (None: no targets
        or no target validation)."""
        prepare_y, y = self.prepare_y, self.y
        if prepare_y is None or y is None:
            return None

        def read(indices: Array) -> Arrays:
            idx = np.asarray(indices, dtype=np.int64)
            try:
                return prepare_y(gather(y, idx))
            finally:
                for leaf in _leaves(y):
                    self._pages.read(leaf, len(idx))
        return read


def lazy_length(x: Any, y: Any, what: str) -> int:
    """The common number of samples of every leaf of ``x`` and ``y``."""
    lengths = {len(leaf) for leaf in _leaves(x) + ([] if y is None else _leaves(y))}
    if len(lengths) != 1:
        raise DataError(f"{what}: the arrays have different numbers of samples "
                        f"({sorted(lengths)}); x and y must have the same length")
    n = lengths.pop()
    if n == 0:
        raise DataError(f"{what} is empty (0 samples)")
    return int(n)
