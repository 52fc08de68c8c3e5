"""How the keras backend builds each kind: one builder per kind, registered in the core.

Every layer kind, activation, loss and optimizer the backend runs has a builder registered
with :func:`unidl.register_builder` under the backend name ``"keras"``, keyed by the kind.
The built-in ones are registered on import (one module per layer family here, plus
``unidl_keras.activations``, ``unidl_keras.losses`` and ``unidl_keras.optimizers``), and
your own kinds go through the very same call. The backend's ``capabilities`` are read
from these registrations when asked, so kinds registered later count.

Layers::

    @unidl.register_builder(MyLayer, "keras")
    def build_my_layer(layer: MyLayer, ctx: unidl_keras.BuildContext) -> keras.layers.Layer:
        ...

``ctx`` is a frozen :class:`BuildContext`: ``name`` (the name the Keras layer must take),
``input_shape`` and ``output_shape`` (per sample, channels-last, no batch axis; a shared
layer's first call), ``input_shapes`` (every input of a merge). The Keras layer computes
in channels-last and creates each canonical parameter of ``layer.params(input_shape)`` as
a variable named by its canonical name, with its canonical shape
(``self.add_weight(name="kernel", shape=..., trainable=...)``; state such as moving
statistics with ``trainable=False``): weights are matched by those names when the model is
built, saved, loaded and trained. Initial values come from the core, so initializers do
not matter. If the layer has an ``activation`` field (``layer.final_activation`` is not
``"linear"``), the backend applies that activation as a separate layer after yours: your
layer computes the pre-activation. The layer works in ``unidl.Sequential`` and
``unidl.Graph`` models; a merge-like kind (a subclass of ``unidl.spec.Merge``) is called
on the list of its inputs. Layers that read integer indices set ``takes_integers``.

Activations::

    kind = unidl.register_activation("cube", lambda x: x ** 3)
    unidl.register_builder(kind, "keras", lambda x: x * x * x)

``fn(x) -> y`` written with ``keras.ops`` or ``tf``; for an ``elementwise=False`` kind it
works over the last axis. It is applied through ``keras.layers.Activation(fn)``.

Losses::

    @unidl.register_builder(loss_kind, "keras")
    def build_loss(spec: unidl.Loss, logits: bool):
        return lambda y_true, y_pred: ...   # per-sample (n,) or per-element losses

``y_pred`` is the model's output (its pre-activation when ``logits``: ``from_logits`` or a
cross-entropy fused with the final activation, see ``LossKind.fuses_with``); ``y_true``
comes as float32 of ``y_pred``'s shape, or as int64 class indices of shape ``(n,)`` when
the kind's ``target`` is ``"class_index"``. The backend averages each sample's elements;
the batch loss is the mean over the batch (with sample weights ``w``,
``mean(w * per_sample)``).

Optimizers: ``unidl.register_builder(MyOptimizer, "keras", factory)`` where
``factory(spec, variables, names) -> unidl_keras.optimizers.Updater`` (subclass it and
write ``_apply(grads, step, lr)``; its slots are the canonical optimizer state).

A spec using a kind with no keras builder raises :class:`unidl.NotSupportedError` naming
the kind and ``'keras'``: layers and activations when the model is built, losses and
optimizers when training is configured, always before any training step.

Native ``.keras`` export holds a custom layer or activation only if Keras can serialise it
(its class or function registered with ``keras.saving.register_keras_serializable``, with a
``get_config`` for a layer taking arguments); otherwise ``export`` raises
:class:`unidl.NotSupportedError` naming it, and ``unidl.save`` (the portable format) is the
way to keep the model.
"""

from . import convolution, core, merge, normalization, pooling, recurrent, reshaping
from .base import (
    BuildContext,
    KerasLayerBuilder,
    LayerBuilderFn,
    applies_activation,
    build_layer,
    layer_builder,
    prefers_xla,
)

__all__ = ["BuildContext", "KerasLayerBuilder", "LayerBuilderFn", "applies_activation",
           "build_layer", "convolution", "core", "layer_builder", "merge", "normalization",
           "pooling", "prefers_xla", "recurrent", "reshaping"]
