"""``UnidlRegressor``: any unidl model as a scikit-learn regressor."""

from __future__ import annotations

from sklearn.base import RegressorMixin
from sklearn.utils import Tags
from sklearn.utils.validation import validate_data

from .. import Loss, ShapeMismatchError
from ._base import Array, UnidlEstimator, sample_weights
from ._specs import SpecIO

__all__ = ["UnidlRegressor"]


class UnidlRegressor(RegressorMixin, UnidlEstimator):  # type: ignore[misc]
    """A unidl model trained as a scikit-learn regressor, on any installed backend.

    Without ``spec`` the model is a multi-layer perceptron like ``MLPRegressor``'s:
    ``hidden_layer_sizes`` Dense layers with ``activation`` and a linear output with one
    unit per target column, trained on the mean squared error (``loss`` takes any unidl
    regression loss: ``"mae"``, ``unidl.Loss("huber", delta=2.0)``, ...). ``spec`` takes any
    unidl spec (or its dict form) with one output unit per target column, or a function
    ``spec(n_features, n_targets)`` returning one, called by ``fit``.

    ``y`` of shape (n_samples,) gives predictions of that shape; (n_samples, n_targets)
    (multi-output regression) gives (n_samples, n_targets). The other parameters and the
    fitted attributes are :class:`UnidlClassifier`'s, less ``classes_`` and
    ``class_weight``, plus ``n_outputs_`` (target columns).

    Targets are fitted as given: scale large ones (for example with
    ``TransformedTargetRegressor(regressor, transformer=StandardScaler())``) so that the
    optimizer's default step suits them.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def fit(self, X: object, y: object, sample_weight: object = None) -> UnidlRegressor:
        """Train a new model on ``X`` (n_samples, n_features) and ``y`` (n_samples,) or
        (n_samples, n_targets)."""
        x, target = validate_data(self, X, y, dtype="numeric", multi_output=True,
                                  y_numeric=True)
        self._y_ndim = target.ndim
        self.n_outputs_ = 1 if target.ndim == 1 else target.shape[1]
        self._fit_targets(x, target, sample_weight, self.epochs, reset=True)
        return self

    def partial_fit(self, X: object, y: object,
                    sample_weight: object = None) -> UnidlRegressor:
        """One epoch on ``(X, y)``, continuing from the current model (the first call
        builds it)."""
        first = not self.__sklearn_is_fitted__()
        x, target = validate_data(self, X, y, dtype="numeric", multi_output=True,
                                  y_numeric=True, reset=first)
        n_outputs = 1 if target.ndim == 1 else target.shape[1]
        if first:
            self._y_ndim, self.n_outputs_ = target.ndim, n_outputs
        elif n_outputs != self.n_outputs_:
            raise ShapeMismatchError(f"y has {n_outputs} target column(s) but the model was "
                                     f"fitted on {self.n_outputs_}")
        self._fit_targets(x, target, sample_weight, 1, reset=first)
        return self

    def _fit_targets(self, x: Array, target: Array, sample_weight: object, epochs: int,
                     reset: bool) -> None:
        self._train(x, target, sample_weight=sample_weights(sample_weight, len(x)),
                    epochs=epochs, reset=reset, spec_outputs=self.n_outputs_,
                    default_outputs=self.n_outputs_, targets=self._targets)

    def _targets(self, target: Array, loss: Loss, io: SpecIO) -> Array:
        return target.reshape(len(target), -1).astype("float32")

    def _check_output(self, io: SpecIO) -> None:
        if io.output_shape != (self.n_outputs_,):
            raise ShapeMismatchError(
                f"the spec's output has shape {io.output_shape} but y has "
                f"{self.n_outputs_} target column(s); end the model with "
                f"Dense({self.n_outputs_})")

    def _default_loss(self, io: SpecIO) -> Loss:
        return Loss("mse")

    def predict(self, X: object) -> Array:
        """Predictions: shape (n_samples,) when ``y`` was 1-D at fit, else (n_samples,
        n_targets)."""
        out = self._outputs(X)
        return out[:, 0] if self._y_ndim == 1 else out
