"""``UnidlClassifier``: any unidl model as a scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Tags
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import validate_data

from .. import DataError, Loss, Optimizer, ShapeMismatchError, SpecError
from ._base import Array, UnidlEstimator, sample_weights
from ._specs import SpecIO, SpecLike, spec_io

__all__ = ["UnidlClassifier"]

_TINY = np.finfo(np.float64).tiny


class UnidlClassifier(ClassifierMixin, UnidlEstimator):  # type: ignore[misc]
    """A unidl model trained as a scikit-learn classifier, on any installed backend.

    Without ``spec`` the model is a multi-layer perceptron like ``MLPClassifier``'s:
    ``hidden_layer_sizes`` Dense layers with ``activation``, then one logit for two classes
    or one logit per class, trained with (binary or sparse categorical) cross-entropy from
    logits. ``spec`` takes any unidl spec (or its dict form) whose output has one unit per
    class (softmax, or no activation: logits) or, for two classes, one unit (sigmoid, or a
    logit); or a function ``spec(n_features, n_classes)`` returning one, called by ``fit``.

    Training runs ``epochs`` epochs of ``optimizer`` (``learning_rate`` replaces its rate)
    on mini-batches of ``batch_size`` (``"auto"``: ``min(200, n_samples)``), stopping early
    when the training loss has not improved by ``tol`` for ``n_iter_no_change`` epochs
    (``tol=None``: never). ``seed`` fixes the initial weights and batch order, so a fit is
    repeatable; ``None`` draws a fresh one. ``backend`` and ``device`` are unidl's.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (for
    DataFrames with string column names), ``model_`` (the trained :class:`unidl.Model`),
    ``n_iter_`` (epochs trained), ``loss_curve_`` (training loss per epoch).
    """

    def __init__(self, spec: SpecLike = None, *, hidden_layer_sizes: Sequence[int] = (100,),
                 activation: str = "relu", loss: str | Loss | dict[str, Any] | None = None,
                 optimizer: str | Optimizer | dict[str, Any] = "adam",
                 learning_rate: float | None = None, epochs: int = 200,
                 batch_size: int | str = "auto", tol: float | None = 1e-4,
                 n_iter_no_change: int = 10, shuffle: bool = True,
                 class_weight: dict[Any, float] | str | None = None,
                 callbacks: Sequence[Any] | None = None, backend: str | None = None,
                 device: str = "auto", seed: int | None = 0, verbose: int = 0) -> None:
        super().__init__(spec, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         loss=loss, optimizer=optimizer, learning_rate=learning_rate,
                         epochs=epochs, batch_size=batch_size, tol=tol,
                         n_iter_no_change=n_iter_no_change, shuffle=shuffle,
                         callbacks=callbacks, backend=backend, device=device, seed=seed,
                         verbose=verbose)
        self.class_weight = class_weight

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    # -- training --------------------------------------------------------------------------
    def fit(self, X: object, y: object, sample_weight: object = None) -> UnidlClassifier:
        """Train a new model on ``X`` (n_samples, n_features) and the labels ``y`` (any
        type scikit-learn accepts: ints, strings, ...)."""
        x, labels = validate_data(self, X, y, dtype="numeric")
        encoder = LabelEncoder().fit(_class_labels(labels))
        self.classes_ = encoder.classes_
        self._fit_labels(x, encoder.transform(labels), sample_weight, self.epochs,
                         reset=True)
        return self

    def partial_fit(self, X: object, y: object, classes: object = None,
                    sample_weight: object = None) -> UnidlClassifier:
        """One epoch on ``(X, y)``, continuing from the current model (the first call
        builds it and must name every class with ``classes``)."""
        first = not self.__sklearn_is_fitted__()
        if first and classes is None:
            raise DataError("the first call to partial_fit needs classes=, every class y "
                            "may hold (later batches may lack some)")
        x, labels = validate_data(self, X, y, dtype="numeric", reset=first)
        if first:
            self.classes_ = LabelEncoder().fit(_class_labels(np.asarray(classes))).classes_
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                        self.classes_):
            raise DataError(f"classes={np.unique(np.asarray(classes)).tolist()} differs from "
                            f"those of the first partial_fit call, {self.classes_.tolist()}")
        _check_classification(labels)
        unknown = np.setdiff1d(labels, self.classes_)
        if unknown.size:
            raise DataError(f"y holds labels {unknown[:5].tolist()} that are not among the "
                            f"classes {self.classes_.tolist()[:20]}")
        index = np.searchsorted(self.classes_, labels)
        self._fit_labels(x, index, sample_weight, 1, reset=first)
        return self

    def _fit_labels(self, x: Array, index: Array, sample_weight: object, epochs: int,
                    reset: bool) -> None:
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise DataError(f"a classifier needs samples of at least 2 classes; y holds 1 "
                            f"class ({self.classes_[0]!r})")
        sw = sample_weights(sample_weight, len(x))
        if self.class_weight is not None:
            per_class = compute_sample_weight(self.class_weight, self.classes_[index])
            sw = per_class if sw is None else sw * per_class
        if sw is not None and np.unique(index[sw > 0]).size < 2 and reset:
            raise DataError("after sample_weight, only 1 class has weight > 0; a classifier "
                            "needs samples of at least 2 classes")
        self._train(x, index, sample_weight=sw, epochs=epochs, reset=reset,
                    spec_outputs=n_classes, default_outputs=1 if n_classes == 2 else n_classes,
                    targets=self._targets)

    def _targets(self, index: Array, loss: Loss, io: SpecIO) -> Array:
        """Class indices in the form ``loss`` takes: indices, 0/1 or one-hot rows."""
        if loss.kind.target == "class_index":
            return index.astype(np.int64)
        if io.output_shape == (1,):
            return index.reshape(-1, 1).astype(np.float32)
        return np.eye(len(self.classes_), dtype=np.float32)[index]

    def _check_output(self, io: SpecIO) -> None:
        n_classes = len(self.classes_)
        width = io.output_shape
        if width == (1,) and n_classes == 2:
            if io.final_activation not in ("sigmoid", "linear"):
                raise SpecError(f"a 1-unit output for 2 classes must end in sigmoid or no "
                                f"activation (a logit), not {io.final_activation!r}", "spec")
            return
        if width == (n_classes,):
            if io.final_activation not in ("softmax", "linear"):
                raise SpecError(f"an output of one unit per class must end in softmax or no "
                                f"activation (logits), not {io.final_activation!r}", "spec")
            return
        hint = f"Dense({n_classes})" + (" or Dense(1)" if n_classes == 2 else "")
        raise ShapeMismatchError(f"the spec's output has shape {width} but y has {n_classes} "
                                 f"classes; end the model with {hint}")

    def _default_loss(self, io: SpecIO) -> Loss:
        logits = io.final_activation == "linear"
        if io.output_shape == (1,):
            return Loss("binary_crossentropy", from_logits=logits)
        return Loss("sparse_categorical_crossentropy", from_logits=logits)

    # -- inference -------------------------------------------------------------------------
    def _scores(self, X: object) -> tuple[Array, bool]:
        """The model's outputs and whether they are logits (else probabilities)."""
        return self._outputs(X), spec_io(self.model_.spec).final_activation == "linear"

    def decision_function(self, X: object) -> Array:
        """Logits: shape (n_samples,) for two classes (positive: ``classes_[1]``), else
        (n_samples, n_classes). For a model ending in softmax or sigmoid, the log-odds or
        log-probabilities of its outputs."""
        out, logits = self._scores(X)
        if not logits and out.shape[1] == 1:  # sigmoid output: its log-odds
            p = np.clip(out, 1e-15, 1 - 1e-15)
            out = np.log(p) - np.log1p(-p)
        elif not logits:  # softmax output: log-probabilities
            out = np.log(np.clip(out, _TINY, None))
        if out.shape[1] == 1:
            return out[:, 0]
        return out[:, 1] - out[:, 0] if out.shape[1] == 2 else out

    def predict_proba(self, X: object) -> Array:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_``
        order."""
        out, logits = self._scores(X)
        if out.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-out[:, 0])) if logits else np.clip(out[:, 0], 0.0, 1.0)
            return np.column_stack([1.0 - p1, p1])
        if logits:
            out = np.exp(out - out.max(axis=1, keepdims=True))
        total = out.sum(axis=1, keepdims=True)
        return np.asarray(out / np.where(total > 0, total, 1.0))

    def predict_log_proba(self, X: object) -> Array:
        return np.asarray(np.log(np.clip(self.predict_proba(X), _TINY, None)))

    def predict(self, X: object) -> Array:
        """The most probable class of each sample (labels from ``classes_``)."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])


def _check_classification(labels: Array) -> str:
    check_classification_targets(labels)
    kind = str(type_of_target(labels, input_name="y"))
    if kind not in ("binary", "multiclass"):
        raise DataError(f"y is {kind}; UnidlClassifier fits one label per sample "
                        "(binary or multiclass)")
    return kind


def _class_labels(labels: Array) -> Array:
    _check_classification(labels)
    return labels
