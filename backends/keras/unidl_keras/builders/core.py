"""Keras builders of the core layers: Input, Dense, Activation, Dropout, Embedding.

Dense is built linear and followed by its own activation layer (the backend adds it for
every layer with an activation): besides making every activation constant explicit, this
exposes the pre-activation of the last layer, which a fused cross-entropy needs
(``TrainingSetup.logits_loss``). The graph is the same op sequence Keras would run for
``Dense(activation=...)``, so it costs nothing.

Dropout is :class:`SeededDropout`: Keras' own dropout, compiled with XLA on CPU, cost 3.0 s
for 390 masks of 128 x 350 (an epoch of a small MLP) where ``tf.random.stateless_uniform``
with the Philox algorithm takes 0.11 s (ThreeFry, 0.03 s, has no kernel outside XLA); a
model with Dropout trained 13x slower under XLA than in plain graph mode. Exports swap it
back for a plain ``keras.layers.Dropout`` (``export.plain_dropouts``), so a ``.keras``
file loads without unidl.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import Activation, Dense, Dropout, Embedding, Input, register_builder

from .._runtime import BACKEND, keras, tf
from ..activations import activation_layer
from .base import BuildContext, KerasLayerBuilder

__all__ = ["SeededDropout", "input_dtype"]


@keras.saving.register_keras_serializable(package="unidl")
class SeededDropout(keras.layers.Dropout):  # type: ignore[misc]
    """Inverted dropout: keeps each input with probability ``1 - rate``, scaled by
    ``1 / (1 - rate)``; one mask per call from the next seed of ``seed_generator`` (which
    the backend restarts per epoch), drawn with Philox."""

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        u = tf.random.stateless_uniform(tf.shape(inputs), seed=seed, alg="philox",
                                        dtype=inputs.dtype)
        return tf.where(u < keep, inputs / keep, tf.zeros_like(inputs))


def input_dtype(layer: Input) -> str:
    """The dtype the Keras model takes for ``layer``: integer Inputs stay integer (Embedding
    indices); every other Input is computed in float32 (the backend casts on the way in)."""
    dtype = str(layer.dtype)
    return dtype if dtype in ("int32", "int64") else "float32"


def _input(layer: Input, ctx: BuildContext) -> Any:
    """The Keras input tensor (not a layer: ``keras.Input`` is how Keras models start)."""
    return keras.Input(shape=ctx.output_shape, dtype=input_dtype(layer), name=ctx.name)


register_builder(Input, BACKEND, _input)


def _dense(layer: Dense, ctx: BuildContext) -> Any:
    return keras.layers.Dense(layer.units, activation=None, use_bias=layer.use_bias,
                              name=ctx.name)


register_builder(Dense, BACKEND, _dense)


def _activation(layer: Activation, ctx: BuildContext) -> Any:
    return activation_layer(layer.final_activation, ctx.name)


register_builder(Activation, BACKEND, KerasLayerBuilder(_activation, applies_activation=True))


def _dropout(layer: Dropout, ctx: BuildContext) -> Any:
    # The seed is replaced by configure(); a fixed one keeps builds reproducible.
    return SeededDropout(layer.rate, seed=0, name=ctx.name)


register_builder(Dropout, BACKEND, _dropout)


def _embedding(layer: Embedding, ctx: BuildContext) -> Any:
    return keras.layers.Embedding(layer.input_dim, layer.output_dim, mask_zero=False,
                                  name=ctx.name)


register_builder(Embedding, BACKEND, _embedding)
