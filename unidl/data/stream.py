"""Batch iterables: a re-iterable of ``(x, y)`` batches (a list, a torch ``DataLoader``,
a ``tf.data.Dataset``), a function returning a fresh iterator, or a one-pass iterator (a
generator). They are consumed in their own order; the core's batch plan does not apply.

An epoch is one full pass, unless ``steps_per_epoch`` is given: then each epoch takes the
next ``steps_per_epoch`` batches of one continuing pass (a new pass starts only at an
epoch boundary, and only for a re-iterable), and a stream that ends inside an epoch is a
:class:`~unidl.DataError` naming the batch. A batch is ``(x, y)`` or ``(x, y,
sample_weight)``; each must keep the structure, per-sample shapes and dtypes of the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import DataError
from .arrays import Arrays
from .mapped import Prepare
from .plan import shard_batch
from .prefetch import stream_ahead
from .tree import Signature, describe, inputs_of, signature, slice_tree, to_numpy_tree

__all__ = ["Batch", "StreamData", "is_stream"]

Array = npt.NDArray[Any]
#: One validated batch: (x, y or None, sample weights or None).
Batch = tuple[Arrays, Arrays | None, Array | None]


def is_stream(value: object) -> bool:
    """An iterable, iterator or zero-argument function that is not an array, a tensor, a
    mapping or a pair: something only iteration can read."""
    if isinstance(value, list) and value and all(isinstance(b, tuple) for b in value):
        return True  # a list of (x, y) batches (a pair is a tuple, or a list of arrays)
    if isinstance(value, (tuple, list, dict, str, bytes, np.ndarray)) or hasattr(value, "shape"):
        return False
    return hasattr(value, "__iter__") or hasattr(value, "__next__") or callable(value)


def _rows(tree: Any) -> set[int]:
    leaves = (tree.values() if isinstance(tree, dict) else tree if isinstance(tree, tuple)
              else [tree])
    return {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}


@dataclass(eq=False)
class _State:
    iterator: Iterator[Any] | None = None
    spent: bool = False  # a one-pass iterator ran to its end
    expected: Signature | None = None


@dataclass(frozen=True, eq=False)
class StreamData:
    """A batch iterable (see the module). ``targets``: batches are ``(x, y[, w])``; when
    False a batch is ``x`` or a tuple whose first entry is ``x`` (prediction).
    ``weigh``: labels -> per-sample weights (``class_weight``). ``shard``: ``(rank,
    world_size)``: this process keeps its part of every batch (see
    :func:`unidl.data.shard`)."""

    source: Any
    prepare: Prepare
    name: str = "data"
    targets: bool = True
    weigh: Callable[[Arrays], Array] | None = None
    shard: tuple[int, int] = (0, 1)
    prefetch: int = 2
    #: the model has one input (how a prediction batch's ``x`` is found: ``inputs_of``)
    single_input: bool = True
    _state: _State = field(default_factory=_State, repr=False)

    @property
    def one_pass(self) -> bool:
        """A bare iterator (a generator): it cannot start over."""
        return hasattr(self.source, "__next__")

    @property
    def sample_weight(self) -> None:
        return None

    def length(self) -> int | None:
        """Batches per pass, when the source knows (``len``), else None."""
        if self.one_pass or not hasattr(self.source, "__len__"):
            return None
        try:
            n = len(self.source)
        except (TypeError, ValueError):  # tf.data of unknown cardinality
            return None
        return int(n) if n >= 0 else None

    def _fresh(self) -> Iterator[Any]:
        source = self.source
        if self.one_pass:
            if self._state.spent:
                raise DataError(
                    f"{self.name} is a one-pass iterator (a generator) and the previous "
                    "epoch used it up; pass a re-iterable (a list, a DataLoader, a "
                    "tf.data.Dataset), a function that returns a fresh generator, or "
                    "steps_per_epoch with a stream long enough for every epoch")
            it: Iterator[Any] = source
        elif hasattr(source, "__iter__"):
            it = iter(source)
        else:
            made = source()
            if not hasattr(made, "__iter__"):
                raise DataError(f"{self.name} is a function, so it must return an iterator of "
                                f"batches, but it returned {type(made).__name__}")
            it = iter(made)
        return it

    def epoch(self, steps: int | None = None) -> Iterator[Batch]:
        """The validated batches of one epoch (see the module for ``steps``)."""
        if steps is None:
            raw = self._fresh()
            count = 0
            source = (stream_ahead(raw, self.prefetch) if self.prefetch > 0 else raw)
            try:
                for count, item in enumerate(source, 1):
                    batch = self.convert(item, count - 1)
                    if batch is not None:
                        yield batch
            finally:
                close = getattr(source, "close", None)
                if close is not None:
                    close()
            if self.one_pass:
                self._state.spent = True
            if count == 0:
                raise DataError(f"{self.name} yielded no batch in this epoch; an epoch needs "
                                "at least one")
            return
        state, taken, fresh = self._state, 0, False
        while taken < steps:
            if state.iterator is None:
                state.iterator, fresh = self._fresh(), True
            try:
                item = next(state.iterator)
            except StopIteration:
                state.iterator = None
                if self.one_pass:
                    state.spent = True
                if taken == 0 and not fresh and not self.one_pass:
                    continue  # the pass ended with the last epoch: start the next pass
                raise DataError(
                    f"{self.name} ended after {taken} of the {steps} batches of this epoch "
                    f"(steps_per_epoch={steps}); make the stream longer (e.g. repeat it) or "
                    "lower steps_per_epoch") from None
            fresh = False
            batch = self.convert(item, taken)
            taken += 1
            if batch is not None:
                yield batch

    def convert(self, item: Any, index: int) -> Batch | None:
        """Batch ``index`` of the stream, checked and validated (None: this shard's part
        of it is empty)."""
        name = f"{self.name}, batch {index}"
        w: Any = None
        if self.targets:
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                got = (f"a sequence of {len(item)} items" if isinstance(item, (tuple, list))
                       else type(item).__name__)
                raise DataError(f"{name}: a batch iterable must yield (x, y) or (x, y, "
                                f"sample_weight) tuples, got {got}")
            x, y = to_numpy_tree(item[0]), to_numpy_tree(item[1])
            if len(item) == 3:
                w = to_numpy_tree(item[2])
        else:
            x = to_numpy_tree(inputs_of(item, self.single_input))
            y = None
        tree = (x, y) if self.targets else x
        sig = signature(tree, "batch", batched=True)
        state = self._state
        if state.expected is None:
            state.expected = sig
        elif sig != state.expected:
            raise DataError(f"{name} {describe(sig, state.expected)} (per sample); every batch "
                            "must have the same structure, per-sample shapes and dtypes")
        counts = _rows(x) | (set() if y is None else _rows(y)) | (
            set() if w is None else {int(np.size(w))})
        if len(counts) != 1 or -1 in counts:
            raise DataError(f"{name}: x, y (and sample weights) must have the same number of "
                            f"rows, got {sorted(counts)}")
        rank, world = self.shard
        if world > 1:
            part = shard_batch(counts.pop(), rank, world)
            if part.stop == part.start:
                return None
            x = slice_tree(x, part)
            y = None if y is None else slice_tree(y, part)
            w = None if w is None else np.reshape(w, -1)[part]
        try:
            xb, yb = self.prepare(x, y)
        except DataError as e:
            raise type(e)(f"{name}: {e}") from None
        weights = None
        if w is not None:
            weights = np.asarray(w, dtype=np.float64).reshape(-1)
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise DataError(f"{name}: its sample weights must be finite and >= 0")
            weights = weights.astype(np.float32)
        if self.weigh is not None and yb is not None:
            cw = self.weigh(yb)
            weights = cw if weights is None else weights * cw
        return xb, yb, weights
