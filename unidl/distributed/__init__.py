"""Data-parallel training: what it means, defined once for every backend.

``batch_size`` is the global batch. Each of ``world_size`` workers trains on its part of
every global batch of the one-process seeded plan (:func:`unidl.data.shard_batch`), the
gradients are summed over the workers with each part's loss weighted by its share of the
global batch (so a step follows the one-process mean over the global batch even when the
parts differ in size), BatchNorm takes its statistics over the global batch, and the epoch's
loss and metrics are those of the global batches, the same on every worker. Callbacks that
write (checkpoints, logs, progress) run on rank 0 only; the others see the same logs, so
they decide the same. A backend runs it through its engine (:class:`Launcher`).
"""

from .callbacks import on_rank, writes
from .contract import PICKLING_ERRORS, Launcher, launcher_of, not_picklable
from .ranks import Rank, check_devices, check_launch, launcher_rank
from .worker import Job, run_worker

__all__ = ["PICKLING_ERRORS", "Job", "Launcher", "Rank", "check_devices", "check_launch",
           "launcher_of", "launcher_rank", "not_picklable", "on_rank", "run_worker", "writes"]
