"""Keras builders of the normalisation layers (BatchNorm, LayerNorm).

Momentum and epsilon come from the spec, never Keras' defaults (torch's BatchNorm eps is
1e-5, Keras' 1e-3; the spec fixes one). Keras' BatchNormalization uses the biased batch
variance in training and updates ``moving = momentum * moving + (1 - momentum) * batch``,
unidl's definition; its variables are named ``gamma``, ``beta``, ``moving_mean``,
``moving_variance``, the canonical names. Built under a ``tf.distribute`` strategy (a
``fit(devices=N)`` worker), BatchNorm is ``synchronized``: its batch statistics are those
of the global batch, as in one process.
"""

from __future__ import annotations

from typing import Any

from unidl.spec import BatchNorm, LayerNorm, register_builder

from .._runtime import BACKEND, keras, tf
from .base import BuildContext

__all__: list[str] = []


def _batch_norm(layer: BatchNorm, ctx: BuildContext) -> Any:
    return keras.layers.BatchNormalization(axis=-1, momentum=layer.momentum,
                                           epsilon=layer.epsilon, name=ctx.name,
                                           synchronized=tf.distribute.has_strategy())


register_builder(BatchNorm, BACKEND, _batch_norm)


def _layer_norm(layer: LayerNorm, ctx: BuildContext) -> Any:
    return keras.layers.LayerNormalization(axis=-1, epsilon=layer.epsilon, center=True,
                                           scale=True, name=ctx.name)


register_builder(LayerNorm, BACKEND, _layer_norm)
