"""The base of every layer spec, the validators layer kinds share, and the registration
of layer kinds.

A layer spec knows its output shape and the shapes of its parameters in the canonical
(Keras) layout, so the core infers shapes, counts parameters and generates initial weights
without a framework, and its ``reference`` is the NumPy definition of its forward pass
(inference mode) that every backend must equal. Shapes exclude the batch dimension; data is
channels-last.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from ...errors import SpecError, UnknownNameError, short
from ..bounds import check_name
from ..kinds import LAYER_KINDS, Family

__all__ = [
    "DTYPES",
    "INITIALIZERS",
    "Array",
    "Layer",
    "Padding",
    "ParamInfo",
    "Shape",
    "SymbolicTensor",
    "as_tensor",
    "boolean",
    "finite",
    "padding_mode",
    "positive_int",
    "register_layer",
    "same_pads",
    "set_field",
    "sliding_windows",
    "spatial_out",
]

Array = npt.NDArray[Any]
Shape = tuple[int, ...]
Padding = Literal["valid", "same"]
_SEQ = itertools.count()

DTYPES: Final = ("float32", "float64", "int32", "int64")
INITIALIZERS: Final = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "ones",
    "orthogonal",
)


@dataclass(frozen=True)
class ParamInfo:
    """One parameter of a layer: canonical shape, initializer, trainable or state."""

    shape: Shape
    initializer: str
    trainable: bool = True

def set_field(obj: object, field: str, value: object) -> None:
    object.__setattr__(obj, field, value)  # normalising a frozen dataclass in __post_init__

def positive_int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(f"must be a positive integer, got {short(value)}", path)
    return value

def pair(value: object, path: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise SpecError(f"must be an int or a pair of ints, got {short(value)}", path)
        return (positive_int(value[0], path), positive_int(value[1], path))
    v = positive_int(value, path)
    return (v, v)

def padding_mode(value: object, path: str) -> Padding:
    if value == "valid":
        return "valid"
    if value == "same":
        return "same"
    raise UnknownNameError("padding", value, ("valid", "same"), path)

def _name(value: object, path: str) -> None:
    # the rule every backend honours; "/" and "@" are taken by weight and tensor names
    if value is not None:
        check_name(value, path)


def boolean(value: object, path: str) -> bool:
    """``value`` if it is True or False: a string such as "false" is refused, not truthy."""
    if not isinstance(value, bool):
        raise SpecError(f"must be true or false, got {short(value)}", path)
    return value


def finite(value: object, path: str) -> float:
    """``value`` as a float if it is a finite real number (not a bool, NaN or inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"must be a number, got {short(value)}", path)
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise SpecError(f"must be a finite number, got {short(value)}", path)
    return number


def _check_typed_fields(layer: Layer) -> None:
    """Fields declared ``bool`` must hold a bool and fields declared ``float`` a finite
    number, for every layer kind (built in or registered), before its own checks."""
    for f in dataclasses.fields(layer):
        kind = _TYPED.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
        if kind is not None:
            value = getattr(layer, f.name)
            if value is None and kind[1]:
                continue
            path = f"{layer.kind}.{f.name}"
            if kind[0] == "bool":
                boolean(value, path)
            else:
                finite(value, path)


# annotation -> (checker, None allowed)
_TYPED: Final = {"bool": ("bool", False), "float": ("float", False),
                 "bool | None": ("bool", True), "float | None": ("float", True)}

def spatial_out(size: int, window: int, stride: int, padding: Padding) -> int:
    """Output length of a window op; 'same' follows TensorFlow: ceil(size / stride)."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1

@dataclass(frozen=True, eq=False)
class SymbolicTensor:
    """The (not yet computed) output of a layer call: its per-sample shape and dtype.

    ``seq`` orders creation: a tensor is always made after its inputs, so sorting by
    ``seq`` is a topological order, and a shared layer's calls keep the order they were
    written in.
    """

    layer: Layer
    inputs: tuple[SymbolicTensor, ...]
    shape: Shape
    dtype: str = "float32"
    seq: int = field(default_factory=lambda: next(_SEQ))

    def __repr__(self) -> str:
        name = getattr(self.layer, "name", None)
        label = f"{self.layer.kind} {short(name)}" if name else self.layer.kind
        return f"<SymbolicTensor from {label}, shape {(None, *self.shape)}, {self.dtype}>"


def as_tensor(value: object, where: str) -> SymbolicTensor:
    """``value`` as a symbolic tensor (an ``Input`` stands for its own), or a SpecError."""
    if isinstance(value, SymbolicTensor):
        return value
    if isinstance(value, Layer):
        return value.as_tensor(where)
    hint = ""
    if hasattr(value, "shape"):
        hint = "; layers are called on symbolic tensors (unidl.Input or a layer's output), " \
               "not on data"
    raise SpecError(f"expected a symbolic tensor (unidl.Input or a layer's output), got "
                    f"{type(value).__name__}{hint}", where)


@dataclass(frozen=True)
class Layer:
    """Base of all layer specs. ``name`` is generated by the model when left ``None``.

    A kind of layer (built in or your own) is a frozen dataclass subclass registered with
    :func:`register_layer`. It gives ``kind`` (its name in spec files), ``output_shape``,
    ``params`` (the canonical weights it owns) and ``reference`` (its NumPy forward pass).
    """

    kind: ClassVar[str] = "Layer"
    kind_family: ClassVar[Family] = "layer"
    #: Prefix of generated names (``dense``, ``dense_1``, ...), like Keras.
    name_prefix: ClassVar[str] = "layer"
    #: The layer reads integer indices (an ``Embedding``): integer inputs reach it unconverted.
    takes_integers: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _name(getattr(self, "name", None), f"{self.kind}.name")
        _check_typed_fields(self)

    @property
    def layer_name(self) -> str:
        name = getattr(self, "name", None)
        if name is None:
            raise SpecError("layer has no name yet; names are assigned by the model", self.kind)
        return str(name)

    @property
    def final_activation(self) -> str:
        """The activation this layer applies last (``"linear"`` for none): the one a
        cross-entropy may be fused with, for any layer kind with an ``activation`` field."""
        return str(getattr(self, "activation", None) or "linear")

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        return {}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        """The NumPy forward pass in inference mode (float64): ``x`` is the batched input
        (a list of inputs for a merge), ``weights`` this layer's canonical parameters by
        their own names (``"kernel"``, ...)."""
        raise NotImplementedError(f"layer kind {self.kind} has no NumPy reference")

    @classmethod
    def examples(cls) -> tuple[tuple[Layer, Shape], ...]:
        """``(layer, input_shape)`` cases the conformance suite checks against
        ``reference`` on every backend that implements this kind (none by default)."""
        return ()

    # -- functional calls: h = unidl.Dense(8)(x) ---------------------------------------
    def as_tensor(self, where: str) -> SymbolicTensor:
        raise SpecError(f"expected a symbolic tensor (unidl.Input or a layer's output), got "
                        f"{self.kind}; call it on "
                        f"a tensor first, e.g. {self.kind}(...)(x)", where)

    def __call__(self, inputs: Any) -> SymbolicTensor:
        """Apply the layer to symbolic tensors, Keras style, to describe a
        :class:`~unidl.Graph`: ``h = unidl.Dense(8)(x)``. Merge layers take a list."""
        where = f"{self.kind}({getattr(self, 'name', None) or ''})"
        tensors = self.call_inputs(inputs, where)
        try:
            shape = self.call_shape(tuple(t.shape for t in tensors))
        except SpecError as e:
            shapes = ", ".join(str((None, *t.shape)) for t in tensors)
            raise SpecError(f"{e.message} (called on {shapes})", where) from None
        return SymbolicTensor(self, tensors, shape)

    def call_inputs(self, inputs: object, where: str) -> tuple[SymbolicTensor, ...]:
        """The tensors of a call (one, for every layer but a merge), validated."""
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise SpecError(f"takes one tensor, got a list of {len(inputs)}; join several "
                                "with unidl.Concatenate()([...]) first", where)
            inputs = inputs[0]
        tensor = as_tensor(inputs, where)
        if self.takes_integers and not tensor.dtype.startswith("int"):
            raise SpecError("takes integer indices: feed it unidl.Input(shape, dtype='int64') "
                            f"(got a {tensor.dtype} tensor)", where)
        return (tensor,)

    def call_shape(self, shapes: tuple[Shape, ...]) -> Shape:
        return self.output_shape(shapes[0])

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"class": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            config[f.name] = list(value) if isinstance(value, tuple) else value
        return config


L = TypeVar("L", bound=type[Layer])


def register_layer(cls: L) -> L:
    """Class decorator: make ``cls`` a layer kind, known by ``cls.kind`` in spec files.

    Built-in layers and your own use this same call. ``cls`` must be a frozen dataclass
    subclass of :class:`Layer` that sets ``kind`` and overrides ``reference``; its module is
    recorded so that a saved model names where the kind comes from.
    """
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise SpecError(f"register_layer takes a subclass of unidl.Layer, got {cls!r:.80}",
                        "register_layer")
    if cls.kind == Layer.kind or "kind" not in vars(cls):
        raise SpecError(f"{cls.__qualname__} must set its own kind, e.g. kind: ClassVar[str] = "
                        f"{cls.__name__!r}", "register_layer")
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise SpecError(f"{cls.__qualname__} must be a @dataclass(frozen=True)",
                        "register_layer")
    if cls.reference is Layer.reference:
        raise SpecError(f"{cls.__qualname__} must define reference(self, x, weights), its "
                        "NumPy forward pass, so every backend can be checked against it",
                        "register_layer")
    LAYER_KINDS.add(cls.kind, cls, cls.__module__)
    return cls


def same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding before and after: the extra cell goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def sliding_windows(x: Array, window: tuple[int, int], stride: tuple[int, int], padding: str,
                    fill: float) -> tuple[Array, Array]:
    """Windows of (n, h, w, c) -> (n, oh, ow, kh, kw, c), and a validity mask (the NumPy
    references of convolutions and pools share it)."""
    (kh, kw), (sh, sw) = window, stride
    h, w = x.shape[1], x.shape[2]
    valid = np.ones((1, h, w, 1))
    if padding == "same":
        (t, b), (lft, r) = same_pads(h, kh, sh), same_pads(w, kw, sw)
        x = np.pad(x, ((0, 0), (t, b), (lft, r), (0, 0)), constant_values=fill)
        valid = np.pad(valid, ((0, 0), (t, b), (lft, r), (0, 0)))
    oh = (x.shape[1] - kh) // sh + 1
    ow = (x.shape[2] - kw) // sw + 1
    idx_h = (np.arange(oh) * sh)[:, None] + np.arange(kh)[None, :]
    idx_w = (np.arange(ow) * sw)[:, None] + np.arange(kw)[None, :]
    win = x[:, idx_h[:, None, :, None], idx_w[None, :, None, :], :]
    mask = valid[:, idx_h[:, None, :, None], idx_w[None, :, None, :], :]
    return win, mask
