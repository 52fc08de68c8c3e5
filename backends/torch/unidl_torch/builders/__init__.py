"""How the torch backend builds each kind: one builder per kind, registered with
:func:`unidl.register_builder` — the same call your own kinds use.

Importing :mod:`unidl_torch` registers every built-in builder: the layer families live here,
one module each (:mod:`.core`, :mod:`.convolution`, :mod:`.pooling`, :mod:`.normalization`,
:mod:`.reshaping`, :mod:`.recurrent`, :mod:`.merge`); activations, losses and optimizers in
:mod:`unidl_torch.activations`, :mod:`unidl_torch.losses` and
:mod:`unidl_torch.optimizers`. The backend's ``capabilities`` are read from these
registrations when asked for, so a kind registered later counts.

Layers
------
``unidl.register_builder(MyLayer, "torch", build)`` with::

    def build(layer: MyLayer, ctx: unidl_torch.BuildContext) -> torch.nn.Module

``ctx`` (a frozen :class:`BuildContext`) gives ``input_shape`` and ``output_shape`` (per
sample, channels-last, no batch dimension), ``input_shapes`` (every input's, for a merge),
``device`` (a ``torch.device``; a module built elsewhere is moved there), ``generator``
(the model's seeded ``torch.Generator``, for random numbers in training) and ``name`` (the
layer's).

The module's ``forward`` takes a channels-last, batch-first tensor (a merge: one per input,
``forward(*xs)``) and returns one. It holds each canonical parameter of
``layer.params(ctx.input_shape)`` as an attribute of that name, in the canonical (Keras)
layout and shape: trainable ones as ``nn.Parameter``, the others (``ParamInfo.trainable``
False) as buffers. That is how weights are set and read (``fit``, ``save``/``load``,
``get_weights``), how gradients reach them, and what ``export`` writes; a missing
attribute, a wrong shape, or a trainable parameter held as a buffer (or the reverse) is a
:class:`~unidl.NotSupportedError` naming the layer, at build. If the layer has an
``activation`` field (``layer.final_activation`` is not ``"linear"``), the backend applies
that activation after the module: the module itself must not. Custom layers work in
``Sequential`` and ``Graph`` models alike (a shared layer is one module).

The backend wraps such a function into a :class:`TorchLayer`: canonical names, identity
converters, channels-last layout. A builder may register a :class:`TorchLayer` directly
(the built-ins do) to keep torch's own names and layouts (:class:`Weight` maps a canonical
parameter to a module attribute with converters both ways) or to run channels-first inside
a stretch of image layers (``layout``; ``ctx.channels_first`` then says which layout the
module gets).

Activations
-----------
``unidl.register_builder(kind, "torch", fn)`` with ``kind`` the
:class:`~unidl.spec.ActivationKind` that :func:`unidl.register_activation` returned and::

    def fn(x: torch.Tensor) -> torch.Tensor

An activation registered with ``elementwise=False`` (softmax-like) works over the last axis;
where the backend holds a channels-first tensor it moves the channels last around the call.
(Built-in ones may register a :class:`~unidl_torch.activations.TorchActivation`, which also
takes the channel axis, as ``torch.softmax(x, dim)`` does.)

Losses
------
``unidl.register_builder(kind, "torch", build)`` with ``kind`` the
:class:`~unidl.spec.LossKind` that :func:`unidl.register_loss` returned and::

    def build(spec: unidl.Loss, logits: bool) -> Callable[[Tensor, Tensor], Tensor]
    per_sample = build(spec, logits)
    per_sample(y_true, y_pred)  # loss of each sample (n,) or of each element (n, ...)

``logits`` is True when ``y_pred`` holds pre-activation values (``from_logits``, or a
final softmax/sigmoid fused with a loss that names it in ``fuses_with``). The argument
order is ``(y_true, y_pred)``, as in the NumPy reference. ``y_true`` arrives as float32,
or as int64 class indices ``(n,)`` for a loss whose ``target`` is ``"class_index"``. The
backend averages each sample's elements, then the batch; with sample weights the batch
loss is ``mean(w * per_sample)``. (Built-ins register a
:class:`~unidl_torch.losses.TorchLoss`, which adds torch's fused batch-mean reductions.)

Optimizers
----------
``unidl.register_builder(MyOptimizer, "torch", create)`` with::

    def create(spec: MyOptimizer, params: list[nn.Parameter],
               device: torch.device) -> torch.optim.Optimizer

Canonical optimizer state (resuming on another backend) needs to know which torch state
tensor holds each canonical slot: register a
:class:`~unidl_torch.optimizers.TorchOptimizer` (``create`` plus ``state_keys``) for that.

A missing builder
-----------------
A model whose layers, activations, loss or optimizer use a kind without a torch builder
fails with a :class:`~unidl.NotSupportedError` that names the kind and ``torch``: at build
for layers and activations, when training is configured for a loss or an optimizer, both
before any training step (``unidl.fit`` refuses it even earlier, from ``capabilities``).
"""

from . import convolution, core, merge, normalization, pooling, recurrent, reshaping
from .base import BuildContext, Layout, TorchLayer, Weight, build_module, builds, layer_builder

__all__ = [
    "BuildContext",
    "Layout",
    "TorchLayer",
    "Weight",
    "build_module",
    "builds",
    "convolution",
    "core",
    "layer_builder",
    "merge",
    "normalization",
    "pooling",
    "recurrent",
    "reshaping",
]
