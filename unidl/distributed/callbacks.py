"""Which callbacks run on which rank: those that write run on rank 0 only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["on_rank", "writes"]


def writes(callback: object) -> bool:
    """Whether ``callback`` writes (files, logs, the screen) rather than decides: it says so
    with a true ``rank_zero_only`` attribute (the built-in ``ModelCheckpoint``, ``CSVLogger``
    and ``TensorBoard`` do)."""
    return bool(getattr(callback, "rank_zero_only", False))


def on_rank(callbacks: Sequence[Any], rank: int) -> list[Any]:
    """The callbacks rank ``rank`` runs: all of them on rank 0, those that do not write on
    the others (they see the same logs, so they decide the same)."""
    return [cb for cb in callbacks if rank == 0 or not writes(cb)]
