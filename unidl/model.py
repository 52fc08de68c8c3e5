"""``Model``: a spec built on one backend and device, with the same API everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import Backend, BackendModel, TrainingSetup, Weights, check_weights
from .capabilities import check_training
from .data import ArrayData, SampleSource
from .errors import NotSupportedError, SpecError, UnidlError
from .inputs import as_source, as_x, split_validation
from .metrics import resolve_metrics
from .spec.model import Sequential
from .spec.training import Loss, Optimizer, loss_from, optimizer_from
from .training import TrainingState, evaluate_arrays, run_epochs

__all__ = ["Model"]

Array = npt.NDArray[Any]

_FUSABLE = {
    "sparse_categorical_crossentropy": "softmax",
    "categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
}


def _positive_int(value: object, name: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (
        0 if allow_zero else 1
    ):
        bound = ">= 0" if allow_zero else ">= 1"
        raise SpecError(f"must be an integer {bound}, got {value!r}", name)
    return int(value)


def _backend_seed(seed: int) -> int:
    """The backend's own seed (dropout masks), derived so it differs from the others."""
    return int(np.random.default_rng([seed, 2]).integers(2**31 - 1))


class Model:
    """A model built from a spec on one backend: fit, evaluate, predict, save, export.

    Create one with :func:`unidl.fit`, :func:`unidl.build` or :func:`unidl.load`.
    """

    def __init__(self, spec: Sequential, backend: Backend, native: BackendModel,
                 seed: int) -> None:
        self.spec = spec
        self.backend = backend
        self._native = native
        self.seed = seed
        self.history: dict[str, list[float]] = {}
        self._state: TrainingState | None = None
        self._optimizer: Optimizer | None = None
        self._configured = False

    # -- description ------------------------------------------------------------------
    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def device(self) -> str:
        return self._native.device

    @property
    def native(self) -> BackendModel:
        """The backend's own model object (for people leaving unidl)."""
        return self._native

    @property
    def loss(self) -> Loss | None:
        return None if self._state is None else self._state.loss

    @property
    def optimizer(self) -> Optimizer | None:
        return self._optimizer

    @property
    def metrics(self) -> tuple[str, ...]:
        return () if self._state is None else self._state.metrics

    @property
    def epochs_trained(self) -> int:
        return 0 if self._state is None else self._state.epochs_trained

    def summary(self) -> str:
        return self.spec.summary()

    def __repr__(self) -> str:
        return (f"<unidl.Model {self.spec.name!r} on {self.backend_name}:{self.device}, "
                f"{self.spec.count_params():,} params, {self.epochs_trained} epochs trained>")

    # -- training ---------------------------------------------------------------------
    def compile(self, loss: str | Loss | dict[str, Any], optimizer: str | Optimizer |
                dict[str, Any] = "adam", metrics: Sequence[str] | None = None) -> Model:
        """Set the loss, optimizer and metrics (fresh optimizer state)."""
        loss_spec = loss_from(loss)
        opt = optimizer_from(optimizer)
        names = resolve_metrics(metrics, loss_spec)
        final = self.spec.final_activation
        if loss_spec.from_logits and final in ("softmax", "sigmoid"):
            raise SpecError(
                f"the model ends in {final} but the loss has from_logits=True, which would "
                f"apply {final} twice; drop the final activation or set from_logits=False",
                "loss.from_logits")
        check_training(self.backend.capabilities, self.spec, loss_spec, opt, self.backend_name)
        epochs = self.epochs_trained
        self._state = TrainingState(loss_spec, names, self.seed, epochs)
        self._optimizer = opt
        self._configured = False
        return self

    def _setup(self) -> TrainingSetup:
        assert self._state is not None and self._optimizer is not None
        loss = self._state.loss
        logits = not loss.from_logits and _FUSABLE.get(loss.name) == self.spec.final_activation
        return TrainingSetup(loss, self._optimizer, logits, _backend_seed(self.seed))

    def fit(self, data: object, *, epochs: int = 1, batch_size: int = 32,
            validation_data: object = None, validation_split: float | None = None,
            shuffle: bool = True, verbose: int = 1) -> Model:
        """Train for ``epochs`` more epochs; ``history`` grows by one entry per epoch.

        The optimizer state carries over between calls (as in Keras) until ``compile``.
        """
        if self._state is None:
            raise SpecError("the model has no loss yet; call model.compile(loss=..., "
                            "optimizer=...) or pass loss= to unidl.fit", "loss")
        epochs = _positive_int(epochs, "epochs", allow_zero=True)
        batch_size = _positive_int(batch_size, "batch_size")
        if validation_data is not None and validation_split is not None:
            raise SpecError("give validation_data or validation_split, not both",
                            "validation_split")
        train: SampleSource = as_source(data, self.spec, self._state.loss, "data")
        val: SampleSource | None = None
        if validation_split is not None:
            if not isinstance(train, ArrayData):
                raise SpecError("validation_split needs in-memory arrays; pass "
                                "validation_data for a Dataset", "validation_split")
            train, val = split_validation(train, validation_split)
        elif validation_data is not None:
            val = as_source(validation_data, self.spec, self._state.loss, "validation_data")
        if not self._configured:
            self._native.configure(self._setup())
            self._configured = True
        run_epochs(self._native, self._state, train, val, epochs, batch_size, shuffle,
                   verbose, self.history)
        return self

    # -- inference --------------------------------------------------------------------
    def evaluate(self, data: object, batch_size: int = 256) -> dict[str, float]:
        """Loss and metrics on ``data`` (``(x, y)`` or a Dataset), inference mode."""
        if self._state is None:
            raise SpecError("evaluate needs a loss; call model.compile(loss=...) first",
                            "loss")
        batch_size = _positive_int(batch_size, "batch_size")
        source = as_source(data, self.spec, self._state.loss, "data")
        return evaluate_arrays(self._native, self._state, source, batch_size)

    def predict(self, x: object, batch_size: int = 256) -> npt.NDArray[np.float32]:
        """Model outputs for ``x`` as a float32 NumPy array, inference mode."""
        batch_size = _positive_int(batch_size, "batch_size")
        return self._native.predict(as_x(x, self.spec, "x"), batch_size)

    # -- weights and files ------------------------------------------------------------
    def get_weights(self) -> dict[str, npt.NDArray[np.float32]]:
        """Canonical weights ``"<layer>/<param>"`` (Keras layout), as NumPy arrays."""
        return self._native.get_weights()

    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights; names and shapes are checked against the spec."""
        expected = {k: p.shape for k, p in self.spec.params.items()}
        self._native.set_weights(check_weights(expected, weights, "set_weights"))

    def save(self, path: str | Path) -> Path:
        """Save to the portable format (a directory; atomic). Returns the path."""
        from .io import save_model

        return save_model(self, Path(path))

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the backend's native artifact (e.g. a torch ``state_dict``, ``.keras``)."""
        formats = self.backend.native_formats
        fmt = format or (formats[0] if formats else "")
        if fmt not in formats:
            raise NotSupportedError(
                f"backend {self.backend_name!r} cannot export format {fmt!r}; it supports "
                f"{', '.join(formats) or 'none'}. Use model.save() for the portable format")
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UnidlError(f"cannot create {target.parent}: {e}") from e
        self._native.export(str(target), fmt)
        return target
