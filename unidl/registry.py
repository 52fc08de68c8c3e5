"""Backend discovery through the entry-point group ``unidl.backends``.

Every backend, ours included, is found the same way a third party's is: a distribution
declares ``[project.entry-points."unidl.backends"] NAME = "pkg.module:Factory"``. Listing
names reads package metadata only; a plugin is imported the first time it is used, so
``import unidl`` and ``unidl.backend_names()`` never import a framework. A plugin that fails
to import is reported with its distribution and the original error and never breaks the
others; two distributions claiming one name is an error that names both.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final

from ._distributions import BACKEND_DISTRIBUTIONS, install_hint
from .backend import Backend
from .capabilities import Capabilities
from .errors import BackendError, BackendImportError, BackendNotFoundError, short

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendInfo",
    "available_backends",
    "backend_distributions",
    "backend_names",
    "check_backend",
    "clear_cache",
    "get_backend",
]

ENTRY_POINT_GROUP: Final = "unidl.backends"
_REQUIRED: Final = ("name", "version", "native_formats", "capabilities", "available_devices",
                    "build")

_lock = threading.Lock()
_loaded: dict[str, Backend] = {}


@dataclass(frozen=True)
class BackendInfo:
    """One installed backend as ``available_backends()`` reports it."""

    name: str
    distribution: str
    importable: bool
    version: str | None = None
    devices: tuple[str, ...] = ()
    error: str | None = None
    entry_point: str = field(default="", repr=False)


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "<unknown distribution>"


@functools.cache
def _entry_points() -> dict[str, tuple[metadata.EntryPoint, ...]]:
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        # the same distribution seen twice on sys.path (e.g. editable + site) is one plugin
        if all(_distribution(e) != _distribution(ep) or e.value != ep.value
               for e in found.get(ep.name, [])):
            found.setdefault(ep.name, []).append(ep)
    return {name: tuple(eps) for name, eps in sorted(found.items())}


def clear_cache() -> None:
    """Forget discovered entry points and loaded backends (after installing a plugin)."""
    _entry_points.cache_clear()
    with _lock:
        _loaded.clear()


def backend_names() -> list[str]:
    """Names of installed backends, without importing any of them."""
    return list(_entry_points())


def backend_distributions() -> dict[str, str]:
    """``{backend name: "distribution version"}`` from package metadata, importing nothing
    (several distributions claiming one name are joined by `` / ``)."""
    return {name: " / ".join(_distribution(e) for e in eps)
            for name, eps in _entry_points().items()}


def check_backend(obj: object, source: str) -> Backend:
    """Raise :class:`BackendError` unless ``obj`` has what the Backend Protocol needs."""
    missing = [attr for attr in _REQUIRED if not hasattr(obj, attr)]
    if missing:
        raise BackendError(
            f"{source} does not implement the unidl Backend protocol: missing "
            f"{', '.join(missing)} (see unidl.backend.Backend and docs/backend-authors.md)"
        )
    for attr in ("available_devices", "build"):
        if not callable(getattr(obj, attr)):
            raise BackendError(f"{source}: Backend.{attr} must be a method")
    if not isinstance(obj.capabilities, Capabilities):  # type: ignore[attr-defined]
        raise BackendError(f"{source}: Backend.capabilities must be a "
                           "unidl.capabilities.Capabilities")
    return obj  # type: ignore[return-value]


def _load(name: str) -> Backend:
    eps = _entry_points().get(name)
    if not eps:
        installed = ", ".join(backend_names()) or "none"
        if name in BACKEND_DISTRIBUTIONS:
            fix = f"install it with `{install_hint(name)}`"
        else:  # never guess a distribution name: anyone could register it
            ours = ", ".join(f"{d} ({b})" for b, d in BACKEND_DISTRIBUTIONS.items())
            fix = (f"a backend is a package registering the entry-point group "
                   f"{ENTRY_POINT_GROUP!r}; this project publishes {ours}")
        raise BackendNotFoundError(
            f"no unidl backend named {short(name)}; installed backends: {installed}; {fix}.")
    if len(eps) > 1:
        who = " and ".join(f"{_distribution(e)} ({e.value})" for e in eps)
        raise BackendError(
            f"backend name {name!r} is registered by more than one distribution: {who}. "
            "Uninstall one of them, or pass the backend object itself as backend=..."
        )
    ep = eps[0]
    try:
        factory: Any = ep.load()
        obj = factory() if callable(factory) and isinstance(factory, type) else factory
        if callable(obj) and not hasattr(obj, "build"):
            obj = obj()
    except Exception as e:  # a broken plugin must not take the others down
        raise BackendImportError(
            f"backend {name!r} from {_distribution(ep)} failed to load "
            f"({ep.value}): {type(e).__name__}: {e}"
        ) from e
    backend = check_backend(obj, f"backend {name!r} from {_distribution(ep)}")
    if backend.name != name:
        raise BackendError(
            f"backend registered as {name!r} by {_distribution(ep)} calls itself "
            f"{backend.name!r}; the entry-point name and Backend.name must agree"
        )
    return backend


def get_backend(backend: str | Backend) -> Backend:
    """The backend for a registered name, or a backend object passed through (checked)."""
    if not isinstance(backend, str):
        return check_backend(backend, f"backend object {backend!r}")
    name = backend.strip().lower()
    with _lock:
        if name not in _loaded:
            _loaded[name] = _load(name)
        return _loaded[name]


def available_backends() -> list[BackendInfo]:
    """Every installed backend with its version, devices, or why it cannot be imported.

    This imports each backend's framework (it has to, to ask for devices).
    """
    infos: list[BackendInfo] = []
    for name, eps in _entry_points().items():
        dist = " / ".join(_distribution(e) for e in eps)
        try:
            b = get_backend(name)
            infos.append(BackendInfo(name, dist, True, b.version,
                                     tuple(b.available_devices()), None, eps[0].value))
        except BackendError as e:
            infos.append(BackendInfo(name, dist, False, None, (), str(e), eps[0].value))
    return infos
