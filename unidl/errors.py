"""The exception hierarchy: every failure a user can cause is a ``UnidlError``.

Messages say what was wrong, where (spec field path, data array and shape, plugin) and
what would fix it. Subclasses also inherit the matching builtin (``ValueError``,
``ImportError``, ...) so code written against plain Python keeps working.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "BackendError",
    "BackendImportError",
    "BackendNotFoundError",
    "DataError",
    "DeviceError",
    "DistributedError",
    "MissingDependencyError",
    "ModelFormatError",
    "NotSupportedError",
    "ShapeMismatchError",
    "SpecError",
    "UnidlError",
    "UnknownNameError",
    "UnregisteredKindError",
    "short",
    "suggest",
]


class UnidlError(Exception):
    """Base class of every error unidl raises on purpose."""


class SpecError(UnidlError, ValueError):
    """A model or training description is invalid; ``path`` names the field."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


def at_path(error: SpecError, path: str) -> SpecError:
    """The same error (same class, same message) reported at another field path."""
    cls = type(error)
    moved = cls.__new__(cls)  # no __init__: subclasses take other arguments
    moved.__dict__.update(error.__dict__)
    moved.path = path
    moved.args = (f"{path}: {error.message}" if path else error.message,)
    return moved


_MAX_KNOWN = 40  # known names listed in an UnknownNameError message


class UnknownNameError(SpecError, KeyError):
    """A name (layer, activation, loss, optimizer, metric, ...) is not known."""

    def __init__(self, kind: str, name: object, known: Iterable[str], path: str = "") -> None:
        self.kind = kind
        #: the rejected name (a bounded repr of it when it is not a short string)
        self.name = name if isinstance(name, str) and len(name) <= 200 else short(name)
        self.known = sorted(known)
        hint = suggest(name, self.known) if isinstance(name, str) and len(name) <= 200 else ""
        listed = ", ".join(self.known[:_MAX_KNOWN]) + (
            f", ... ({len(self.known)} in all)" if len(self.known) > _MAX_KNOWN else "")
        super().__init__(
            f"unknown {kind} {short(name)}.{hint} Known "
            f"{kind}{'es' if kind.endswith('s') else 's'}: {listed}",
            path,
        )

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return str(self.args[0])


class UnregisteredKindError(SpecError):
    """A saved model uses a custom kind (layer, activation, loss) that no module in this
    process has registered. The module that registered it is named, never imported: loading
    a file runs no code from it."""

    def __init__(self, missing: list[tuple[str, str, str]], path: str = "") -> None:
        #: (family, kind, module) of each kind that is not registered
        self.missing = missing
        listed = ", ".join(f"{family} {kind[:80]!r} (registered by module {module[:120]!r})"
                           for family, kind, module in missing[:10])
        modules = sorted({module[:120] for _, _, module in missing})
        super().__init__(
            f"the model uses kinds that are not registered in this process: {listed}. "
            f"Import the module(s) that register them ({', '.join(modules)}) before "
            "loading; unidl never imports them from the file", path)


class DataError(UnidlError, ValueError):
    """Training or inference data is unusable (empty, NaN, wrong labels, ...)."""


class ShapeMismatchError(DataError):
    """Data does not have the shape the model expects; the message names both."""


class DeviceError(UnidlError, ValueError):
    """A device string is malformed or names a device that is not available."""


class BackendError(UnidlError):
    """A backend plugin misbehaved or cannot be used."""


class BackendNotFoundError(BackendError, LookupError):
    """No installed backend has the requested name."""


class BackendImportError(BackendError, ImportError):
    """A backend is installed but its plugin failed to load."""


class NotSupportedError(BackendError, NotImplementedError):
    """The backend does not support a feature the spec or call asks for."""


class MissingDependencyError(UnidlError, ImportError):
    """An optional feature needs a package that is not installed; the message names the
    extra (``pip install "unidl-core[EXTRA]"``) that brings it."""


class DistributedError(UnidlError, RuntimeError):
    """A worker of a data-parallel run died, failed or stopped answering; the message
    names its rank."""


class ModelFormatError(UnidlError, OSError):
    """A saved model directory is missing, incomplete, corrupted or too new."""


def suggest(name: str, known: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


_SHORT = reprlib.Repr()  # attributes, not keywords: Python 3.11 has no keywords here
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 40
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 6


def short(value: Any, limit: int = 80) -> str:
    """A bounded ``repr`` for error messages: nested containers, long strings, huge
    integers and arrays are cut, so quoting a hostile value never costs memory or time."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):  # an array: describe, never print
        return f"<array shape {tuple(shape)} dtype {value.dtype}>"
    if isinstance(value, int) and value.bit_length() > 128:  # repr() of a huge int is slow
        return f"<int of {value.bit_length()} bits>"
    try:
        text = _SHORT.repr(value)
    except Exception:  # a hostile __repr__ must not replace the error being reported
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
