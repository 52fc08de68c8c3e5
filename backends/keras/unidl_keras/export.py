"""Native export: a ``.keras`` file written by Keras' own saving, loadable without unidl."""

from __future__ import annotations

import os
from typing import Any

from unidl.errors import NotSupportedError

__all__ = ["FORMATS", "export"]

FORMATS = ("keras",)


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
