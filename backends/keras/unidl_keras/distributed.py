"""Data-parallel training on ``tf.distribute``: ``MirroredStrategy`` over N replicas.

:class:`KerasLauncher` is the keras backend's ``distributed`` engine (the
``unidl.distributed.Launcher`` contract). TensorFlow's single-machine engine is one process
driving N devices, so ``launch`` starts one spawned process, splits its device into
``world_size`` replicas (N logical CPU devices on CPU, the first N GPUs on CUDA) and makes
a ``tf.distribute.MirroredStrategy`` over them the engine of every model built there
(:func:`strategy`); that process runs the same ``fit``. Each step splits the global batch
of the one-process plan into the replicas' parts (``unidl.data.shard_batch``), each part's
loss is its share of the global mean, the replicas' gradients are summed with the
strategy's all-reduce, and every replica applies the same update to its copy of the
variables. BatchNorm is built ``synchronized`` (statistics of the global batch).

A launcher that starts one process per worker (``torchrun``) would need
``MultiWorkerMirroredStrategy``, which this backend does not run yet: ``join`` refuses it.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from unidl import DistributedError, NotSupportedError
from unidl.distributed import PICKLING_ERRORS, Rank, not_picklable

from ._runtime import tf

__all__ = ["KerasLauncher", "strategy"]

#: The MirroredStrategy of this process, set only in a process :class:`KerasLauncher`
#: started; every model built in it trains on the strategy's replicas.
_STRATEGY: Any = None


def strategy() -> Any:
    """This process's ``MirroredStrategy`` (None outside a launched worker)."""
    return _STRATEGY


def _replica_devices(world_size: int, kind: str) -> list[str]:
    """The devices of ``world_size`` replicas of a model on ``kind`` (``cpu``: logical
    CPUs, configured here, before TensorFlow starts its runtime)."""
    if kind == "cpu":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(world_size)])
        return [f"/cpu:{i}" for i in range(world_size)]
    return [f"/gpu:{i}" for i in range(world_size)]


def _run(conn: Connection, world_size: int, kind: str, target: Callable[[Any], None],
         job: Any) -> None:
    """The launched process: the replicas' strategy, then ``target(job)``; sends None, or
    the failure's last line, to the parent."""
    global _STRATEGY
    try:
        _STRATEGY = tf.distribute.MirroredStrategy(_replica_devices(world_size, kind))
        target(job)
        conn.send(None)
    except BaseException as e:  # everything must reach the parent
        traceback.print_exc()
        conn.send(f"{type(e).__name__}: {e}")
    finally:
        conn.close()


def _device_kind(job: Any) -> str:
    return str(getattr(job, "device", "cpu")).split(":")[0]


class KerasLauncher:
    """Starts the replicas' process and refuses multi-process launchers (see the module)."""

    def launch(self, world_size: int, target: Callable[[Any], None], job: Any,
               timeout_s: float) -> None:
        kind = _device_kind(job)
        if kind == "cuda":
            gpus = len(tf.config.list_physical_devices("GPU"))
            if gpus < world_size:
                raise DistributedError(f"devices={world_size} needs {world_size} GPUs for "
                                       f"MirroredStrategy, TensorFlow sees {gpus}; pass "
                                       f"devices={max(gpus, 1)} or fewer")
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=_run, args=(child, world_size, kind, target, job),
                                  name="unidl-keras-replicas", daemon=True)
        try:
            process.start()
        except PICKLING_ERRORS as e:
            raise not_picklable(e) from None
        finally:
            child.close()
        what = f"the keras worker process ({world_size} replicas, MirroredStrategy)"
        try:
            failure = parent.recv()  # returns when the process sends, or ends without
        except EOFError:
            process.join()
            code = process.exitcode
            how = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exit code {code}")
            raise DistributedError(f"{what} died ({how}) before it finished") from None
        finally:
            parent.close()
        process.join()
        if failure is not None:
            raise DistributedError(f"{what} failed: {failure}")

    def join(self, rank: Rank, device: str, timeout_s: float) -> None:
        raise NotSupportedError(
            f"this process is rank {rank.rank} of {rank.world_size} started by a launcher "
            "(WORLD_SIZE), but the keras backend trains data-parallel in one process "
            "(MirroredStrategy, fit(devices=N)) and not across processes "
            "(MultiWorkerMirroredStrategy); run the script without the launcher and pass "
            "devices=N, or use the torch backend under torchrun (docs/distributed.md)")
