"""A user's map-style dataset (``__len__`` and ``__getitem__``), read by batch.

A batch of the plan is read with one ``__getitems__(indices)`` call when the dataset
offers it (torch's batched fetch: a list of samples back), else one ``__getitem__`` per
sample. Every sample is checked against the first one (same structure, shapes and
dtypes), so an item that changes mid-epoch is named by its index, not found later as a
confusing stacking or dtype error. ``workers`` threads or processes read batches ahead of
training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import DataError, short
from .arrays import Arrays, Dataset
from .tree import Signature, describe, inputs_of, quick, signature, stack, to_numpy_tree

__all__ = ["MappedData", "Prepare"]

Array = npt.NDArray[Any]
#: Stacked raw ``(x, y)`` (``y`` None when there are no targets) -> validated model arrays.
Prepare = Callable[[Any, Any], tuple[Arrays, Arrays | None]]


@dataclass(frozen=True, eq=False)
class MappedData:
    """A map-style dataset; ``prepare`` turns a stacked batch into model arrays.

    ``targets``: items are ``(x, y)`` pairs (training, evaluation); when False an item is
    ``x``, or a tuple whose first entry is ``x`` (prediction). ``expected``: the signature
    every item must have (that of item 0); None checks each batch against its first item.
    ``workers``: threads, or with ``processes`` worker processes, reading batches ahead
    (0: read in the training thread; see :mod:`unidl.data.processes`).
    """

    dataset: Dataset
    prepare: Prepare
    sample_weight: Array | None = None
    workers: int = 0
    processes: bool = False
    name: str = "data"
    targets: bool = True
    expected: Signature | None = None
    #: the model has one input (how a prediction item's ``x`` is found: ``inputs_of``)
    single_input: bool = True
    #: :func:`~unidl.data.tree.quick` of item 0 (what each item is compared with)
    first_quick: Any = None

    @property
    def _quick(self) -> Any:
        return self.first_quick if self.expected is not None else None

    def __len__(self) -> int:
        return len(self.dataset)

    def items(self, indices: list[int]) -> list[Any]:
        """The raw items at ``indices``, errors in the user's code named by index."""
        ds, name = self.dataset, self.name
        getitems = getattr(ds, "__getitems__", None)
        if getitems is not None:
            try:
                got = list(getitems(indices))
            except Exception as e:
                raise DataError(f"{name}.__getitems__({short(indices)}) failed: "
                                f"{type(e).__name__}: {e}") from e
            if len(got) != len(indices):
                raise DataError(f"{name}.__getitems__ returned {len(got)} items for "
                                f"{len(indices)} indices; it must return one sample per index "
                                "(a list, as torch's batched fetch does)")
            return got
        out = []
        for i in indices:
            try:
                out.append(ds[i])
            except Exception as e:
                raise DataError(f"{name}[{i}] failed: {type(e).__name__}: {e}") from e
        return out

    def split(self, item: Any, index: int) -> tuple[Any, Any]:
        """An item as converted ``(x, y)`` (``y`` None without targets)."""
        if self.targets:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                got = (f"a sequence of {len(item)} items" if isinstance(item, (tuple, list))
                       else type(item).__name__)
                raise DataError(f"{self.name}[{index}] must return a pair (x, y), got {got}")
            return to_numpy_tree(item[0]), to_numpy_tree(item[1])
        return to_numpy_tree(inputs_of(item, self.single_input)), None

    def gather(self, indices: list[int]) -> tuple[Any, Any]:
        """The items at ``indices`` checked against item 0 and stacked, before ``prepare``
        (what a worker process computes: the user's code, and nothing that needs the
        model)."""
        items = self.items(indices)
        simple = self._gather_simple(items)
        if simple is not None:
            return simple
        xs: list[Any] = []
        ys: list[Any] = []
        targets, expected, first = self.targets, self._quick, None
        for i, item in zip(indices, items, strict=True):
            x, y = self.split(item, i)
            sig = quick((x, y) if targets else x)
            if expected is None:
                expected, first = sig, (x, y)
            elif sig != expected:
                was = signature(first if targets else first[0], "item") \
                    if first is not None else self.expected or ()
                got = signature((x, y) if targets else x, "item")
                raise DataError(f"{self.name}[{i}] {describe(got, was)}; every item must "
                                "have the same structure, shapes and dtypes (cast or pad in "
                                "__getitem__)")
            xs.append(x)
            ys.append(y)
        return stack(xs), (stack(ys) if targets else None)

    def _gather_simple(self, items: list[Any]) -> tuple[Array, Array] | None:
        """The common case in one cheap pass: every item an ``(array, array or Python
        number)`` pair matching item 0. None when any item is not, and the general path
        converts, checks and names it (this one only skips its per-leaf conversions)."""
        expected = self._quick
        if not (self.targets and isinstance(expected, tuple) and len(expected) == 2
                and all(isinstance(e, tuple) and len(e) == 2 and isinstance(e[1], np.dtype)
                        for e in expected)):
            return None
        (shape_x, dtype_x), (shape_y, dtype_y) = expected
        number = _PYTHON_NUMBER.get(dtype_y) if shape_y == () else None
        xs: list[Array] = []
        ys: list[Any] = []
        for item in items:
            if type(item) not in (tuple, list) or len(item) != 2:
                return None
            x, y = item
            if type(x) is not np.ndarray or x.shape != shape_x or x.dtype != dtype_x:
                return None
            if type(y) is np.ndarray:
                if y.shape != shape_y or y.dtype != dtype_y:
                    return None
            elif type(y) is not number:
                return None
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.array(ys, dtype=dtype_y)

    def finish(self, indices: list[int], stacked: tuple[Any, Any]
               ) -> tuple[Arrays, Arrays | None]:
        """``prepare`` of a :meth:`gather`-ed batch, its errors named by the items."""
        try:
            return self.prepare(*stacked)
        except DataError as e:
            raise type(e)(f"{self.name}, the batch of items {short(indices)}: {e}") from None

    def take(self, indices: Array) -> tuple[Arrays, Arrays | None]:
        idx = [int(i) for i in indices]
        return self.finish(idx, self.gather(idx))

#: The dtype NumPy gives each Python number type (what ``to_numpy`` makes of a label).
_PYTHON_NUMBER: dict[np.dtype[Any], type] = {np.asarray(kind(1)).dtype: kind
                                             for kind in (bool, int, float)}


def first_signature(item: Any, targets: bool, single_input: bool = True
                    ) -> tuple[Signature, Any]:
    """The signature item 0 sets for the others, and its quick form (see
    :class:`MappedData`)."""
    probe = MappedData(_One(item), lambda x, y: (x, y), targets=targets,
                       single_input=single_input)
    x, y = probe.split(item, 0)
    tree = (x, y) if targets else x
    return signature(tree, "item"), quick(tree)


class _One:
    def __init__(self, item: Any) -> None:
        self.item = item

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Any:
        return self.item

