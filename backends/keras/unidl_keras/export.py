"""Native export: a ``.keras`` file written by Keras' own saving, loadable without unidl.

The model is saved with every seeded Dropout swapped back for a plain
``keras.layers.Dropout`` (:func:`plain_dropouts`). A model holding a Keras layer or
activation function that Keras cannot reload by name (a custom kind's, not registered with
``keras.saving.register_keras_serializable``) is refused before anything is written:
Keras would save it and then fail, or run other code, when loading.
"""

from __future__ import annotations

import os
from typing import Any

from unidl.errors import NotSupportedError

from ._runtime import keras
from .builders.core import SeededDropout

__all__ = ["FORMATS", "export", "plain_dropouts", "unserialisable"]

FORMATS = ("keras",)


def plain_dropouts(model: Any) -> Any:
    """``model`` with every :class:`SeededDropout` replaced by a ``keras.layers.Dropout`` of
    the same rate and name; all other layers (and so the weights) are shared, not copied."""
    if not any(isinstance(layer, SeededDropout) for layer in model.layers):
        return model

    def swap(layer: Any) -> Any:
        if isinstance(layer, SeededDropout):
            return keras.layers.Dropout(layer.rate, name=layer.name)
        return layer

    return keras.models.clone_model(model, clone_function=swap)


def _known(obj: Any) -> bool:
    """Keras can find ``obj`` (a class or function) by name when loading."""
    module = str(getattr(obj, "__module__", "") or "")
    if module == "keras" or module.startswith("keras."):
        return True
    return ">" in keras.saving.get_registered_name(obj)  # "package>name" once registered


def unserialisable(model: Any) -> list[str]:
    """The layers (and activation functions) of ``model`` Keras cannot reload by name."""
    found: list[str] = []
    for layer in model.layers:
        if not _known(type(layer)):
            found.append(f"layer {layer.name!r} ({type(layer).__qualname__})")
        fn = getattr(layer, "activation", None) if isinstance(
            layer, keras.layers.Activation) else None
        if fn is not None and not _known(fn):
            found.append(f"activation {getattr(fn, '__qualname__', fn)!r} of layer "
                         f"{layer.name!r}")
    return found


def export(model: Any, path: str, format: str) -> None:
    """Save ``model`` with ``keras.Model.save``; ``path`` must end in ``.keras``."""
    if format != "keras":
        raise NotSupportedError(
            f"the keras backend cannot export format {format!r}; supported: "
            + ", ".join(repr(f) for f in FORMATS)
        )
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise NotSupportedError(
            f"Keras saves native models to files ending in '.keras'; got {path!r}. "
            f"Use e.g. {path + '.keras'!r}"
        )
    custom = unserialisable(model)
    if custom:
        raise NotSupportedError(
            "a .keras file cannot hold " + ", ".join(custom) + ": Keras reloads only "
            "classes and functions it knows by name. Register each with "
            "keras.saving.register_keras_serializable (a layer taking arguments also "
            "needs get_config), or keep the model in unidl's portable format with "
            "unidl.save")
    model = plain_dropouts(model)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Keras writes the zip in place; write beside and rename so a crash never leaves a
    # half-written file where a good one was.
    tmp = os.path.join(parent, f".{os.path.basename(path)[:-6]}.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
