"""Data-parallel training on ``torch.distributed``: the launcher and the collectives.

:class:`TorchLauncher` is the torch backend's ``distributed`` engine (the
``unidl.distributed.Launcher`` contract): ``launch`` starts local workers with
``torch.multiprocessing.start_processes`` (spawn) after setting the environment
``torchrun`` sets, and ``join`` makes a process a member of the default process group
(gloo on CPU, NCCL on CUDA; ``env://`` rendezvous, so the same code runs under
``torchrun``). :class:`Group` holds the collectives a model uses while it trains: one
all-reduce of the flattened gradients per step (what DistributedDataParallel does with its
buckets, here in one bucket, since the core already weights each rank's loss by its share
of the global batch), one of the per-batch losses per epoch, and one gather of the outputs
when metrics need them.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import (
    ProcessExitedException,
    ProcessRaisedException,
    start_processes,
)

from unidl import DistributedError
from unidl.data import shard_batch
from unidl.distributed import PICKLING_ERRORS, Rank, not_picklable

__all__ = ["Group", "TorchLauncher"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _worker(index: int, world_size: int, port: int, target: Callable[[Any], None],
            job: Any) -> None:
    """One spawned worker: the environment torchrun would set, then ``target(job)``."""
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(index), "LOCAL_RANK": str(index),
                       "WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": str(world_size)})
    # the machine's cores are shared by the workers
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    try:
        target(job)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "an error"


class TorchLauncher:
    """Starts and joins data-parallel workers on torch (see the module)."""

    def launch(self, world_size: int, target: Callable[[Any], None], job: Any,
               timeout_s: float) -> None:
        try:
            context = start_processes(  # type: ignore[no-untyped-call]
                _worker, args=(world_size, _free_port(), target, job), nprocs=world_size,
                join=False, start_method="spawn")
        except PICKLING_ERRORS as e:
            raise not_picklable(e) from None
        try:
            while not context.join(grace_period=1.0):
                pass
        except ProcessExitedException as e:
            how = f"signal {e.signal_name}" if e.signal_name else f"exit code {e.exit_code}"
            raise DistributedError(f"worker rank {e.error_index} of {world_size} died "
                                   f"({how}); the other workers were stopped") from None
        except ProcessRaisedException as e:
            raise DistributedError(f"worker rank {e.error_index} of {world_size} failed: "
                                   f"{_last_line(str(e))}") from None

    def join(self, rank: Rank, device: str, timeout_s: float) -> None:
        if dist.is_initialized():
            if dist.get_world_size() != rank.world_size or dist.get_rank() != rank.rank:
                raise DistributedError(
                    f"this process is already rank {dist.get_rank()} of "
                    f"{dist.get_world_size()} in a torch process group, but the launcher "
                    f"says rank {rank.rank} of {rank.world_size}")
            return
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(torch.device(device))
        try:
            dist.init_process_group("nccl" if cuda else "gloo", init_method="env://",
                                    rank=rank.rank, world_size=rank.world_size,
                                    timeout=datetime.timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as e:
            raise DistributedError(f"rank {rank.rank} of {rank.world_size} could not join "
                                   f"the process group: {e}") from None


@dataclass(frozen=True)
class Group:
    """The collectives of rank ``rank`` of ``world_size`` while a model trains."""

    rank: int
    world_size: int

    def part(self, size: int) -> slice:
        """This rank's rows of a global batch of ``size``."""
        return shard_batch(size, self.rank, self.world_size)

    def _failed(self, e: Exception) -> DistributedError:
        return DistributedError(f"rank {self.rank} of {self.world_size}: a collective "
                                f"failed, another worker died or stopped answering ({e})")

    def sum_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient over the group (one flat all-reduce)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        try:
            dist.all_reduce(flat)
        except RuntimeError as e:
            raise self._failed(e) from None
        offset = 0
        for p, g in zip(params, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(g)
            offset += n

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the group."""
        total = values.clone()
        try:
            dist.all_reduce(total)
        except RuntimeError as e:
            raise self._failed(e) from None
        return total

    def gather_rows(self, local: npt.NDArray[np.float32], sizes: Sequence[int]
                    ) -> npt.NDArray[np.float32]:
        """The global batches' rows in plan order, from each rank's parts of the batches
        of ``sizes`` (``local``: this rank's parts, concatenated)."""
        parts: list[Any] = [None] * self.world_size
        try:
            dist.all_gather_object(parts, local)
        except RuntimeError as e:
            raise self._failed(e) from None
        offsets = [0] * self.world_size
        rows: list[npt.NDArray[np.float32]] = []
        for size in sizes:
            for r in range(self.world_size):
                part = shard_batch(size, r, self.world_size)
                n = part.stop - part.start
                rows.append(parts[r][offsets[r]:offsets[r] + n])
                offsets[r] += n
        return np.concatenate(rows)
