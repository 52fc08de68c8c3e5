"""What ``fit`` makes of its data arguments: the training and validation sources, with
``validation_split``, ``class_weight``, ``sample_weight``, ``batch_size``, ``shuffle`` and
``steps_per_epoch`` each checked against the kind of source it applies to (docs/data.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from ..capabilities import Capabilities, require_feature
from ..data import ArrayData, LazyData, MappedData, SampleSource, StreamData
from ..errors import DataError, SpecError
from ..heads import Head
from ..inputs import DataSource, as_source, as_tuple, class_weights, labels_of, split_validation
from ..metrics import target_kind
from ..spec import Loss
from ..spec.serialize import ModelSpec

__all__ = ["training_sources"]

Array = npt.NDArray[Any]


def _sample_weights(train: SampleSource, loss: Loss, class_weight: dict[int, float] | None,
                    sample_weight: object) -> Array:
    """Per-sample loss weights from ``class_weight`` and/or ``sample_weight``."""
    n = len(train)
    weights = np.ones(n, dtype=np.float32)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if sw.shape != (n,):
            raise DataError(f"sample_weight has {sw.size} values but the "
                            f"training data has {n} samples; give one weight per sample")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise DataError("sample_weight must be finite and >= 0")
        weights *= sw.astype(np.float32)
    if class_weight is not None:
        kind = target_kind(loss)
        if kind == "regression":
            raise SpecError("class_weight needs a classification loss; use sample_weight",
                            "class_weight")
        y = as_tuple(labels_of(train))[0]
        labels = (y.reshape(-1) if kind == "sparse" else
                  y.argmax(-1) if kind == "categorical" else (y.reshape(n, -1)[:, 0] > 0.5))
        labels = np.asarray(labels, dtype=np.int64)
        checked = class_weights(class_weight)
        lookup = np.array([checked.get(c, 1.0) for c in range(int(labels.max()) + 1)],
                          dtype=np.float32)
        weights *= lookup[labels]
    return weights


def training_sources(spec: ModelSpec, heads: tuple[Head, ...], capabilities: Capabilities,
                     backend_name: str, data: object, validation_data: object,
                     validation_split: float | None, class_weight: dict[int, float] | None,
                     sample_weight: object, batch_size: int | None, shuffle: bool | None,
                     steps_per_epoch: int | None, epochs: int, workers: int | None,
                     use_multiprocessing: bool | None = None
                     ) -> tuple[SampleSource | StreamData, SampleSource | StreamData | None]:
    """The training and validation sources of a fit, each option checked against the kind
    of source it applies to (docs/data.md)."""
    train: DataSource | SampleSource = as_source(data, spec, heads, "data", workers,
                                                 use_multiprocessing)
    val: SampleSource | StreamData | None = None
    if isinstance(train, StreamData):
        _stream_options(train, batch_size, shuffle, validation_split, sample_weight,
                        steps_per_epoch, epochs)
    elif steps_per_epoch is not None:
        raise SpecError("applies to batch iterables (a DataLoader, a tf.data pipeline, a "
                        f"generator), but data is {_kind(train)}, whose epoch is every "
                        "sample once; leave steps_per_epoch out", "steps_per_epoch")
    if validation_split is not None:
        assert not isinstance(train, StreamData)
        train, val = split_validation(train, validation_split)
    elif validation_data is not None:
        val = as_source(validation_data, spec, heads, "validation_data", workers,
                        use_multiprocessing)
        if isinstance(val, StreamData) and val.one_pass and epochs > 1:
            raise DataError("validation_data is a one-pass iterator (a generator), but it is "
                            f"read after each of the {epochs} epochs; pass a re-iterable or a "
                            "function that returns a fresh generator")
    if class_weight is not None or sample_weight is not None:
        require_feature(capabilities, "sample_weight", backend_name,
                        "class_weight / sample_weight")
        if class_weight is not None and len(heads) > 1:
            raise SpecError("class_weight applies to a single output; weight samples "
                            "with sample_weight instead", "class_weight")
        if isinstance(train, StreamData):
            assert class_weight is not None
            return dataclasses.replace(train, weigh=_class_weigher(heads[0].loss,
                                                                   class_weight)), val
        weights = _sample_weights(train, heads[0].loss, class_weight, sample_weight)
        train = dataclasses.replace(train, sample_weight=weights)  # type: ignore[type-var]
    return train, val


def _kind(source: object) -> str:
    return {ArrayData: "in-memory arrays", LazyData: "a memory map or array-like",
            MappedData: "a map-style Dataset"}.get(type(source), type(source).__name__)


def _stream_options(train: StreamData, batch_size: int | None, shuffle: bool | None,
                    validation_split: float | None, sample_weight: object,
                    steps_per_epoch: int | None, epochs: int) -> None:
    """Refuse the options a batch iterable cannot honour, naming the option and the fix."""
    name = f"data is a batch iterable ({type(train.source).__name__})"
    if batch_size is not None:
        raise SpecError(f"does not apply: {name}, whose batches are the batches it yields; "
                        "leave batch_size out (or batch the stream itself)", "batch_size")
    if shuffle:
        raise SpecError(f"does not apply: {name}, consumed in its own order; shuffle the "
                        "stream itself (DataLoader(shuffle=True), dataset.shuffle(n)) and "
                        "leave shuffle out", "shuffle")
    if validation_split is not None:
        raise SpecError(f"cannot split {name}: it has no index; pass validation_data",
                        "validation_split")
    if sample_weight is not None:
        raise SpecError(f"cannot index {name} by sample; yield (x, y, sample_weight) "
                        "batches instead", "sample_weight")
    if train.one_pass and epochs > 1 and steps_per_epoch is None:
        raise DataError(f"{name} is a one-pass iterator (a generator) but epochs={epochs}; "
                        "pass a re-iterable (a list, a DataLoader, a tf.data.Dataset), a "
                        "function that returns a fresh generator, or steps_per_epoch")


def _class_weigher(loss: Loss, class_weight: dict[int, float]) -> Any:
    """``labels -> per-sample weights`` for ``class_weight`` (a stream's batches)."""
    kind = target_kind(loss)
    if kind == "regression":
        raise SpecError("class_weight needs a classification loss; use sample_weight",
                        "class_weight")
    checked = class_weights(dict(class_weight.items()))

    def weigh(y: Any) -> Array:
        y = as_tuple(y)[0]
        n = len(y)
        labels = (y.reshape(-1) if kind == "sparse" else
                  y.argmax(-1) if kind == "categorical" else (y.reshape(n, -1)[:, 0] > 0.5))
        return np.array([checked.get(int(c), 1.0) for c in np.asarray(labels)],
                        dtype=np.float32)
    return weigh
