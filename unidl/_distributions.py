"""The distributions this project publishes, named once for every install hint.

The import names are ``unidl``, ``unidl_torch`` and ``unidl_keras``; the distribution
names differ for the core because ``unidl`` on the public package index belongs to an
unrelated project. A hint never names a distribution this project does not build: a made-up
``unidl-<name>`` could be registered by anyone (dependency confusion).
"""

from __future__ import annotations

from typing import Final

__all__ = ["BACKEND_DISTRIBUTIONS", "CORE_DISTRIBUTION", "install_hint"]

CORE_DISTRIBUTION: Final = "unidl-core"
#: backend name -> the distribution of ours that registers it
BACKEND_DISTRIBUTIONS: Final = {"torch": "unidl-torch", "keras": "unidl-keras"}


def install_hint(backend: str | None = None) -> str:
    """``pip install unidl-torch`` for one of our backends; for any other name (or
    ``None``) the ones we publish, e.g. ``pip install unidl-torch (or unidl-keras)``."""
    dist = BACKEND_DISTRIBUTIONS.get(backend or "")
    if dist is not None:
        return f"pip install {dist}"
    first, *rest = BACKEND_DISTRIBUTIONS.values()
    return f"pip install {first}" + "".join(f" (or {d})" for d in rest)
