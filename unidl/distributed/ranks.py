"""Which worker this process is, from the launcher's environment, and ``devices``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError, short

__all__ = ["Rank", "check_devices", "check_launch", "launcher_rank"]


@dataclass(frozen=True)
class Rank:
    """This process's place in a data-parallel run: ``rank`` of ``world_size`` workers,
    ``local_rank`` on its machine (the device index it uses)."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world_size


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise SpecError(f"the launcher's environment variable {name} must be an integer, "
                        f"got {short(value)}", name) from None


def launcher_rank() -> Rank | None:
    """The rank a launcher (``torchrun``, or ``fit(devices=N)``'s own workers) gave this
    process through ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; None when the process runs
    alone (no ``WORLD_SIZE``, or ``WORLD_SIZE=1``)."""
    world = _env_int("WORLD_SIZE")
    if world is None or world == 1:
        return None
    rank, local = _env_int("RANK"), _env_int("LOCAL_RANK")
    if world < 1 or rank is None or not 0 <= rank < world:
        raise SpecError(f"the launcher set WORLD_SIZE={world} but RANK={rank}; a worker needs "
                        "0 <= RANK < WORLD_SIZE (run the script under torchrun, or unset "
                        "WORLD_SIZE to train in one process)", "RANK")
    return Rank(rank, world, rank if local is None else local)


def check_devices(devices: object) -> int | None:
    """``devices`` validated: None (one process, or the launcher's workers) or an integer
    >= 1, the number of local workers to train on."""
    if devices is None:
        return None
    if isinstance(devices, bool) or not isinstance(devices, (int, np.integer)) or devices < 1:
        raise SpecError(f"must be an integer >= 1 (the number of workers, one per device), "
                        f"got {short(devices)}", "devices")
    return int(devices)


def check_launch(devices: int | None, launched: Rank | None) -> None:
    """Refuse ``devices=N`` inside a launcher that started a different number of workers."""
    if launched is not None and devices is not None and devices != launched.world_size:
        raise SpecError(f"is {devices} but this process is rank {launched.rank} of "
                        f"{launched.world_size} workers started by a launcher (WORLD_SIZE); "
                        f"drop devices= under torchrun, or pass devices="
                        f"{launched.world_size}", "devices")
