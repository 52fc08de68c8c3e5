"""What a backend implements to train data-parallel: the :class:`Launcher`."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import DistributedError, NotSupportedError
from .ranks import Rank

__all__ = ["PICKLING_ERRORS", "Launcher", "launcher_of", "not_picklable"]

#: What starting a spawned worker raises when the job it is sent does not pickle.
PICKLING_ERRORS = (pickle.PicklingError, AttributeError, TypeError)


def not_picklable(error: BaseException) -> DistributedError:
    """The error of a launcher whose job (model, data, callbacks) did not pickle."""
    return DistributedError(
        f"cannot send the model, data and callbacks to the workers ({error}); each must "
        "pickle: define callbacks at module level and pass arrays or a dataset that "
        "pickles")


class Launcher(Protocol):
    """A backend's data-parallel engine, the object its ``distributed`` attribute holds.

    ``launch`` starts ``world_size`` local workers, each calling ``target(job)`` with the
    launcher's environment set (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, the rendezvous
    address), waits for all of them, and raises :class:`~unidl.DistributedError` naming
    the rank when one dies or fails (stopping the others). ``join`` makes this process
    rank ``rank.rank`` of its group for a model on ``device`` (collectives time out after
    ``timeout_s``). The backend's model, configured with ``TrainingSetup.shard``, trains
    on its part of every global batch and averages gradients over the group."""

    def launch(self, world_size: int, target: Callable[[Any], None], job: Any,
               timeout_s: float) -> None: ...

    def join(self, rank: Rank, device: str, timeout_s: float) -> None: ...


def launcher_of(backend: Any) -> Launcher:
    """``backend``'s :class:`Launcher`, or NotSupportedError naming the backend."""
    launcher = getattr(backend, "distributed", None)
    if launcher is None:
        raise NotSupportedError(
            f"backend {backend.name!r} does not implement data-parallel training yet "
            f"(devices=N or a launcher such as torchrun); train in one process "
            f"(devices=None or 1), or on a backend that does (docs/distributed.md)")
    result: Launcher = launcher
    return result
