"""One home per kind: the registries of layers, activations, losses and optimizers.

Every kind the core knows is declared once, with its NumPy reference, and registered here;
the catalogue, the capabilities of a backend, the docs tables and the conformance cases are
read from these registries. A user's own kind goes through the very same calls
(:func:`unidl.register_layer`, :func:`unidl.register_activation`,
:func:`unidl.register_loss`), and a backend implements a kind with
:func:`unidl.register_builder`, keyed by the kind, the way built-in builders are.

Names are the ``"class"`` of a layer in a spec file, the string of an activation or a loss.
A registered name is never taken over: a built-in name is refused, and a custom name taken
by another module is refused naming both modules (re-running the same module, e.g. in a
notebook, replaces its own entry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy.typing as npt

from ..errors import SpecError, UnknownNameError

__all__ = [
    "ACTIVATION_KINDS",
    "LAYER_KINDS",
    "LOSS_KINDS",
    "OPTIMIZER_KINDS",
    "ActivationKind",
    "Family",
    "KindRegistry",
    "LossKind",
    "builder_for",
    "implemented",
    "register_builder",
]

Array = npt.NDArray[Any]
Family = Literal["layer", "activation", "loss", "optimizer"]
E = TypeVar("E")

#: The module that declares the built-in kinds' entries (anything under ``unidl.``).
_BUILTIN_PREFIX = "unidl."


class KindRegistry(Mapping[str, E], Generic[E]):
    """Name -> entry for one family of kinds, in registration order, with aliases.

    It is a read-only ``Mapping`` of canonical names (so ``name in registry``, iteration and
    ``registry[name]`` work); :meth:`lookup` also resolves aliases and case, and raises an
    :class:`~unidl.UnknownNameError` that suggests close names.
    """

    def __init__(self, family: Family, case_insensitive: bool = False) -> None:
        self.family: Family = family
        self._entries: dict[str, E] = {}
        self._modules: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._fold = case_insensitive

    def _key(self, name: str) -> str:
        return name.lower() if self._fold else name

    def add(self, name: str, entry: E, module: str, aliases: tuple[str, ...] = ()) -> None:
        """Register ``entry`` under ``name`` (and ``aliases``), declared in ``module``."""
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"a {self.family} name must be an identifier, got {name!r:.80}",
                            f"register_{self.family}")
        for key in (name, *aliases):
            owner = self._modules.get(self._aliases.get(self._key(key), ""))
            if owner is None:
                continue
            if owner.startswith(_BUILTIN_PREFIX) and not module.startswith(_BUILTIN_PREFIX):
                raise SpecError(f"{key!r} is a built-in {self.family}; give yours another name",
                                f"register_{self.family}")
            if owner != module:
                raise SpecError(f"{self.family} {key!r} is already registered by module "
                                f"{owner!r}; {module!r} must use another name",
                                f"register_{self.family}")
        self._entries[name] = entry
        self._modules[name] = module
        for key in (name, *aliases):
            self._aliases[self._key(key)] = name

    def canonical(self, name: str) -> str | None:
        """The registered name ``name`` (or an alias of it) stands for, or None."""
        return self._aliases.get(self._key(name)) if isinstance(name, str) else None

    def lookup(self, name: object, path: str) -> E:
        """The entry for ``name`` or an alias; an UnknownNameError naming ``path`` if none."""
        key = self.canonical(name) if isinstance(name, str) else None
        if key is None:
            known = [self._key(n) for n in self._entries]
            raise UnknownNameError(self.family, name, known, path)
        return self._entries[key]

    def module_of(self, name: str) -> str:
        """The module that registered ``name``."""
        return self._modules[name]

    def is_builtin(self, name: str) -> bool:
        return self._modules.get(name, "").startswith(_BUILTIN_PREFIX)

    def builtins(self) -> tuple[str, ...]:
        """The names unidl itself registers (not a user's or a plugin's)."""
        return tuple(n for n in self._entries if self.is_builtin(n))

    def aliases(self) -> dict[str, str]:
        """Alias -> canonical name, for every alias that differs from its name."""
        return {a: n for a, n in self._aliases.items() if a != self._key(n)}

    def __getitem__(self, name: str) -> E:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"KindRegistry({self.family!r}, {list(self._entries)})"


@dataclass(frozen=True)
class ActivationKind:
    """An activation: ``reference(x)`` is its NumPy definition (float64 in, float64 out).

    ``elementwise`` is False for activations that mix the channel (last) axis, like softmax:
    a backend that computes channels-first applies those over the channel axis.
    """

    name: str
    reference: Callable[[Array], Array]
    elementwise: bool = True
    doc: str = ""
    family: Family = field(default="activation", init=False)


LossTarget = Literal["values", "class_index"]


@dataclass(frozen=True)
class LossKind:
    """A loss and the facts the core needs about it, in one row.

    ``reference(y_true, y_pred, spec)`` is its NumPy definition: the loss of each sample, or
    of each element (a leading batch axis; the core averages the rest), float64.
    ``y_true`` comes as float64 of ``y_pred``'s shape, or as int64 class indices of shape
    ``(n,)`` when ``target`` is ``"class_index"``; ``spec`` is the :class:`~unidl.Loss`
    (its ``delta``, ``from_logits``). ``logits_reference`` is the same loss computed from
    pre-activation values: a loss that has one accepts ``from_logits=True``, and one that
    also names ``fuses_with`` (``"softmax"``/``"sigmoid"``) is computed from the logits of a
    model that ends in that activation, so it is exact and never log(0).
    """

    name: str
    reference: Callable[[Array, Array, Any], Array]
    logits_reference: Callable[[Array, Array, Any], Array] | None = None
    fuses_with: str | None = None
    target: LossTarget = "values"
    doc: str = ""
    family: Family = field(default="loss", init=False)

    @property
    def takes_logits(self) -> bool:
        return self.logits_reference is not None


class _ClassKind(Protocol):
    kind: str
    kind_family: Family


#: The registries. Layer and optimizer entries are the spec classes themselves.
LAYER_KINDS: KindRegistry[type[Any]] = KindRegistry("layer")
ACTIVATION_KINDS: KindRegistry[ActivationKind] = KindRegistry("activation",
                                                              case_insensitive=True)
LOSS_KINDS: KindRegistry[LossKind] = KindRegistry("loss", case_insensitive=True)
OPTIMIZER_KINDS: KindRegistry[type[Any]] = KindRegistry("optimizer", case_insensitive=True)

_FAMILIES: Mapping[Family, KindRegistry[Any]] = {
    "layer": LAYER_KINDS, "activation": ACTIVATION_KINDS, "loss": LOSS_KINDS,
    "optimizer": OPTIMIZER_KINDS,
}
_BUILDERS: dict[tuple[Family, str, str], object] = {}

AnyKind = type[_ClassKind] | ActivationKind | LossKind | str
B = TypeVar("B")


def _family_and_name(kind: object) -> tuple[Family, str]:
    if isinstance(kind, (ActivationKind, LossKind)):
        return kind.family, kind.name
    if isinstance(kind, type) and isinstance(getattr(kind, "kind_family", None), str):
        family: Family = kind.kind_family  # type: ignore[attr-defined]
        name = str(kind.kind)  # type: ignore[attr-defined]
        if LAYER_KINDS.get(name) is kind or OPTIMIZER_KINDS.get(name) is kind:
            return family, name
        raise SpecError(f"{kind.__qualname__} is not registered; decorate it with "
                        f"@unidl.register_{family} first", "register_builder")
    raise SpecError("kind must be a registered layer or optimizer class, or the "
                    "ActivationKind / LossKind that unidl.register_activation / "
                    f"unidl.register_loss returned; got {kind!r:.80}", "register_builder")


def register_builder(kind: object, backend: str,
                     builder: B | None = None) -> Any:
    """Register how ``backend`` builds ``kind``; usable as a decorator.

    ``kind`` is a layer or optimizer spec class, or an :class:`ActivationKind` /
    :class:`LossKind`. What a builder is (its signature) is the backend's contract: see its
    documentation (``docs/extending.md`` for the torch and keras backends). Registering a
    second builder for the same kind and backend replaces the first.
    """
    family, name = _family_and_name(kind)
    if not isinstance(backend, str) or not backend:
        raise SpecError(f"backend must be a backend name such as 'torch', got {backend!r:.80}",
                        "register_builder")

    def add(fn: B) -> B:
        if not callable(fn):
            raise SpecError(f"a builder must be callable, got {fn!r:.80}", "register_builder")
        _BUILDERS[(family, name, backend)] = fn
        return fn

    return add if builder is None else add(builder)


def builder_for(family: Family, name: str, backend: str) -> object | None:
    """The builder ``backend`` registered for the kind ``name`` of ``family``, or None."""
    return _BUILDERS.get((family, name, backend))


def implemented(family: Family, backend: str) -> frozenset[str]:
    """The names of ``family`` that ``backend`` has a builder for (its capabilities)."""
    kinds = _FAMILIES[family]
    return frozenset(n for (f, n, b) in _BUILDERS if f == family and b == backend
                     and n in kinds)
