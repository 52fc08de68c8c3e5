"""What a worker started by ``fit(devices=N)`` receives and does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .ranks import launcher_rank

__all__ = ["Job", "run_worker"]


class _Trainable(Protocol):
    def fit(self, data: object, **options: Any) -> Any: ...

    def save(self, path: Any) -> Any: ...


class _Restorer(Protocol):
    def _from_job(self, job: Job) -> _Trainable: ...


@dataclass
class Job:
    """A model to rebuild in a worker (its class, spec, weights, training section,
    optimizer state, history) and the ``fit`` call to run there; rank 0 saves the trained
    model to ``out`` (the portable format) for the calling process."""

    model_class: Any
    backend: str
    device: str
    seed: int
    spec: dict[str, Any]
    weights: dict[str, Any]
    training: dict[str, Any] | None
    optimizer_state: dict[str, Any]
    history: dict[str, list[float]]
    data: object
    fit: dict[str, Any] = field(default_factory=dict)
    out: str = ""


def run_worker(job: Job) -> None:
    """Rebuild the model, run the same ``fit`` (the launcher's environment makes it this
    worker's part), and on rank 0 save the result."""
    rank = launcher_rank()
    restorer: _Restorer = job.model_class
    model = restorer._from_job(job)
    model.fit(job.data, **job.fit)
    if rank is None or rank.rank == 0:
        model.save(job.out)
