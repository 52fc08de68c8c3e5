"""The parts of a spec document every model class writes: the header and the custom kinds.

A spec that uses kinds registered outside unidl (your own layers or activations) lists them
under ``"custom_kinds"`` with the module that registered each, so a process that lacks one
gets an error naming the kind and the module to import, before any layer is built. The
module is never imported from the file: loading never runs code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from ..errors import SpecError, UnregisteredKindError
from .kinds import ACTIVATION_KINDS, LAYER_KINDS, KindRegistry
from .layers.base import Layer

__all__ = ["SPEC_FORMAT", "check_custom_kinds", "custom_kinds", "spec_header"]

#: Bumped when a spec written by this version cannot be read by older ones.
SPEC_FORMAT: Final = 1
_REGISTRIES: Final[dict[str, KindRegistry[Any]]] = {"layer": LAYER_KINDS,
                                                    "activation": ACTIVATION_KINDS}


def spec_header(model_class: str, name: str) -> dict[str, Any]:
    return {"unidl_spec": SPEC_FORMAT, "class": model_class, "name": name}


def custom_kinds(layers: Iterable[Layer]) -> dict[str, Any]:
    """``{"custom_kinds": {"layer": {kind: module}, "activation": {...}}}`` for the kinds
    of ``layers`` registered outside unidl, or ``{}`` when there are none."""
    found: dict[str, dict[str, str]] = {}
    for layer in layers:
        if not LAYER_KINDS.is_builtin(layer.kind):
            found.setdefault("layer", {})[layer.kind] = LAYER_KINDS.module_of(layer.kind)
        act = layer.final_activation
        if not ACTIVATION_KINDS.is_builtin(act):
            found.setdefault("activation", {})[act] = ACTIVATION_KINDS.module_of(act)
    return {"custom_kinds": found} if found else {}


def check_custom_kinds(value: object) -> None:
    """Raise UnregisteredKindError for the first listed custom kind not registered here."""
    if value is None:
        return
    path = "spec.custom_kinds"
    if not isinstance(value, dict):
        raise SpecError(f"must be a mapping of family -> {{kind: module}}, got "
                        f"{type(value).__name__}", path)
    missing: list[tuple[str, str, str]] = []
    for family, kinds in value.items():
        registry = _REGISTRIES.get(family) if isinstance(family, str) else None
        if registry is None or not isinstance(kinds, dict):
            raise SpecError(f"{family!s:.40}: must be one of {sorted(_REGISTRIES)} mapping "
                            "kind names to module names", path)
        for kind, module in kinds.items():
            if not isinstance(kind, str) or not isinstance(module, str):
                raise SpecError("kind and module names must be strings", f"{path}.{family}")
            if registry.canonical(kind) is None:
                missing.append((family, kind, module))
    if missing:
        raise UnregisteredKindError(missing, path)
