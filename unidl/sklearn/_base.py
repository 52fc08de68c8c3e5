"""What the classifier and the regressor share: the parameters, the training run, input
validation, tags and pickling through the portable format."""

from __future__ import annotations

import copy
import dataclasses
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .. import DataError, EarlyStopping, Loss, Model, Optimizer, SpecError, build
from ..spec import ModelSpec, loss_from, optimizer_from
from ._portable import model_from_bytes, model_to_bytes
from ._specs import SpecIO, SpecLike, mlp, resolve_spec, spec_io

__all__ = ["UnidlEstimator"]

Array = npt.NDArray[Any]

#: Rows per block of ``Model.predict`` (see ``UnidlEstimator._outputs``).
PREDICT_BATCH = 256


class UnidlEstimator(BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    """Base of :class:`UnidlClassifier` and :class:`UnidlRegressor` (not used directly)."""

    def __init__(self, spec: SpecLike = None, *, hidden_layer_sizes: Sequence[int] = (100,),
                 activation: str = "relu", loss: str | Loss | dict[str, Any] | None = None,
                 optimizer: str | Optimizer | dict[str, Any] = "adam",
                 learning_rate: float | None = None, epochs: int = 200,
                 batch_size: int | str = "auto", tol: float | None = 1e-4,
                 n_iter_no_change: int = 10, shuffle: bool = True,
                 callbacks: Sequence[Any] | None = None, backend: str | None = None,
                 device: str = "auto", seed: int | None = 0, verbose: int = 0) -> None:
        self.spec = spec
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.callbacks = callbacks
        self.backend = backend
        self.device = device
        self.seed = seed
        self.verbose = verbose

    # -- scikit-learn protocol -----------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.seed is None  # a fixed seed repeats a fit exactly
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    def __getstate__(self) -> dict[str, Any]:
        """The parameters and fitted attributes, with the trained model as the bytes of its
        portable-format directory (no framework object is pickled)."""
        state: dict[str, Any] = dict(super().__getstate__())
        model = state.pop("model_", None)
        if isinstance(model, Model):
            state["_portable_model"] = (model_to_bytes(model), model.backend_name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        portable = state.pop("_portable_model", None)
        super().__setstate__(state)
        if portable is not None:
            data, backend = portable
            self.model_ = model_from_bytes(data, backend, self.device)

    # -- subclass hooks --------------------------------------------------------------------
    def _default_spec(self, n_features: int, io_outputs: int) -> ModelSpec:
        return mlp(n_features, io_outputs, self.hidden_layer_sizes, self.activation)

    def _default_loss(self, io: SpecIO) -> Loss:
        raise NotImplementedError

    def _check_output(self, io: SpecIO) -> None:
        raise NotImplementedError

    # -- training --------------------------------------------------------------------------
    def _train(self, x: Array, y: Array, *, sample_weight: Array | None, epochs: int,
               reset: bool, spec_outputs: int, default_outputs: int,
               targets: Callable[[Array, Loss, SpecIO], Array]) -> None:
        """Build the model (``reset``) or continue with ``model_``, then train it for
        ``epochs`` epochs on ``x`` and ``targets(y, loss, spec_io)``, ``y`` in the form the
        loss takes.

        ``spec_outputs`` is what a spec function is told (classes or targets),
        ``default_outputs`` the width of the default MLP's last layer.
        """
        n_features = x.shape[1]
        if reset:
            spec = resolve_spec(self.spec, n_features, spec_outputs,
                                lambda: self._default_spec(n_features, default_outputs))
            io = spec_io(spec)
            io.check_features(n_features)
            self._check_output(io)
            model = build(spec, backend=self.backend, seed=self.seed, device=self.device)
            model.compile(self._default_loss(io) if self.loss is None
                          else loss_from(self.loss), self._optimizer())
        else:
            model = self.model_
        loss = model.loss
        assert isinstance(loss, Loss)  # one output
        model.fit((self._model_input(x, model.spec), targets(y, loss, spec_io(model.spec))),
                  epochs=epochs, batch_size=self._batch_size(len(x)), shuffle=self.shuffle,
                  verbose=self.verbose, callbacks=self._callbacks(epochs),
                  sample_weight=sample_weight)
        self.model_ = model
        self.n_iter_ = model.epochs_trained
        self.loss_curve_ = list(model.history.get("loss", []))

    def _optimizer(self) -> Optimizer:
        opt = optimizer_from(self.optimizer, "optimizer")
        if self.learning_rate is None:
            return opt
        what = "a number > 0 or None (the optimizer's own rate)"
        rate = _real(self.learning_rate, "learning_rate", what)
        if not rate > 0:
            raise SpecError(f"must be {what}, got {rate!r}", "learning_rate")
        return dataclasses.replace(opt, lr=rate)

    def _batch_size(self, n_samples: int) -> int:
        size: object = self.batch_size
        if size == "auto":  # MLPClassifier's rule
            return max(1, min(200, n_samples))
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise SpecError(f"must be 'auto' or an integer >= 1, got {size!r:.80}",
                            "batch_size")
        return int(size)  # unidl checks >= 1

    def _callbacks(self, epochs: int) -> list[Any]:
        """The user's callbacks (copies: a parameter is never changed by ``fit``) and, with
        ``tol``, early stopping on the training loss."""
        given: object = self.callbacks
        if given is None:
            given = []
        if isinstance(given, (str, bytes)) or not isinstance(given, (list, tuple)):
            raise SpecError(f"must be a list of unidl callbacks or None, got "
                            f"{type(given).__name__}", "callbacks")
        callbacks = copy.deepcopy(list(given))
        if self.tol is not None and epochs > 1:
            what = "a number >= 0 or None (no early stopping)"
            tol = _real(self.tol, "tol", what)
            if not tol >= 0:
                raise SpecError(f"must be {what}, got {tol!r}", "tol")
            patience: object = self.n_iter_no_change
            if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) \
                    or patience < 1:
                raise SpecError(f"must be an integer >= 1, got {patience!r:.80}",
                                "n_iter_no_change")
            callbacks.append(EarlyStopping(monitor="loss", patience=int(patience),
                                           min_delta=tol))
        return callbacks

    # -- data ------------------------------------------------------------------------------
    def _validate_x(self, x: object) -> Array:
        """``X`` for predicting: checked like at ``fit`` (features, names, finite)."""
        check_is_fitted(self)
        checked: Array = validate_data(self, x, reset=False, dtype="numeric")
        return checked

    @staticmethod
    def _model_input(x: Array, spec: ModelSpec) -> Array:
        """Rows of ``X`` as the spec's Input takes them: its shape and dtype."""
        io = spec_io(spec)
        if io.input_dtype.startswith("int"):
            if not np.array_equal(x, np.round(x)):
                raise DataError(f"the spec's Input has dtype {io.input_dtype!r} (indices), "
                                "but X holds non-integer values")
            return x.astype(io.input_dtype).reshape(len(x), *io.input_shape)
        return x.astype(np.float32, copy=False).reshape(len(x), *io.input_shape)

    def _outputs(self, x: object) -> Array:
        """The model's outputs for ``X`` as float64, shape ``(n_samples, width)``.

        ``X`` is predicted in blocks of exactly ``PREDICT_BATCH`` rows (the last one padded
        with zeros), so a sample's prediction never depends on the other samples of the
        call: a matrix product's rounding can depend on its number of rows, and scikit-learn
        expects predicting a subset, or the rows in another order, to give the same
        numbers. One block shape also means one compiled function on backends that compile.
        """
        checked = self._validate_x(x)
        n = len(checked)
        rows = self._model_input(checked, self.model_.spec)
        padded = -(-n // PREDICT_BATCH) * PREDICT_BATCH
        if padded != n:
            rows = np.concatenate([rows, np.zeros((padded - n, *rows.shape[1:]), rows.dtype)])
        out = self.model_.predict(rows, batch_size=PREDICT_BATCH, verbose=self.verbose)
        return np.asarray(out, dtype=np.float64).reshape(padded, -1)[:n]


def _real(value: object, path: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SpecError(f"must be {what}, got {value!r:.80}", path)
    return float(value)


def sample_weights(sample_weight: object, n_samples: int) -> Array | None:
    """``sample_weight`` checked: one finite weight >= 0 per sample, not all zero."""
    if sample_weight is None:
        return None
    sw: Array = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                            input_name="sample_weight")
    if sw.ndim != 1 or len(sw) != n_samples:
        raise DataError(f"sample_weight has shape {sw.shape} but X has {n_samples} "
                        f"samples; give one weight per sample, shape ({n_samples},)")
    if (sw < 0).any():
        raise DataError("sample_weight holds negative values; weights must be >= 0")
    if not sw.any():
        raise DataError("Sample weights must contain at least one non-zero number "
                        "(all sample_weight values are zero)")
    return sw
