"""``fit(devices=N)``: the calling process hands the model to N workers and takes the
trained one back.

The model travels as plain data (:class:`unidl.distributed.Job`: spec, weights, training
section, optimizer state, history) with the ``fit`` call; the backend's launcher starts
the workers, each rebuilds the model and runs the same ``fit`` on its part, and rank 0
saves the result in the portable format, which the calling process reads back into the
model the user holds: an ordinary model with the trained weights, optimizer state and
history.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .distributed import Job, Launcher, launcher_rank, run_worker
from .errors import DistributedError
from .io import read_model_files
from .registry import get_backend
from .spec.serialize import from_dict

__all__ = ["TIMEOUT_S", "adopt", "fit_on_workers", "restore"]

#: Seconds a collective (or the start of the group) waits for a silent worker.
TIMEOUT_S = 60.0


def fit_on_workers(model: Any, launcher: Launcher, world_size: int, data: object,
                   options: dict[str, Any]) -> None:
    """Train ``model`` (a compiled :class:`unidl.Model`) on ``world_size`` local workers
    with ``model.fit(data, **options)``; on return ``model`` holds the result."""
    job = Job(type(model), model.backend_name, model.device, model.seed,
              model.spec.to_dict(), dict(model.get_weights()), model._training_config(),
              dict(model.optimizer_state()), {k: list(v) for k, v in model.history.items()},
              data, options)
    with tempfile.TemporaryDirectory(prefix="unidl-workers-") as tmp:
        job.out = str(Path(tmp) / "model")
        launcher.launch(world_size, run_worker, job, TIMEOUT_S)
        if not Path(job.out).exists():
            raise DistributedError("the workers finished but rank 0 saved no model")
        adopt(model, job.out)


def adopt(model: Any, path: str) -> None:
    """Load the model rank 0 saved at ``path`` into ``model``: weights, optimizer state,
    epochs trained, plateau state, history."""
    shapes = {k: p.shape for k, p in model.spec.params.items()}
    files = read_model_files(path, lambda doc: (model.spec, shapes))
    model.set_weights(files.weights)
    training = files.spec_doc.get("training") or {}
    model._adopt_training(training)
    if files.optimizer_state:
        model.restore_optimizer_state(files.optimizer_state, "the workers' model")
    history = files.meta.get("history") or {}
    model.history = {str(k): [float(v) for v in vs] for k, vs in history.items()}


def restore(cls: Any, job: Job) -> Any:
    """The model of ``job`` rebuilt in a worker (class ``cls``), on this worker's device
    (``cuda:LOCAL_RANK`` for a model on CUDA)."""
    rank = launcher_rank()
    backend = get_backend(job.backend)
    kind = job.device.split(":")[0]
    device = job.device if kind == "cpu" or rank is None else f"{kind}:{rank.local_rank}"
    spec = from_dict(job.spec)
    model = cls(spec, backend, backend.build(spec, job.weights, device), job.seed)
    if job.training:
        model._resume(job.training, job.optimizer_state or None, "the calling process")
    model.history = {k: list(v) for k, v in job.history.items()}
    return model
