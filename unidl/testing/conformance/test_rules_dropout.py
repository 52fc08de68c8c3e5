"""Contract rules of Dropout: inverted scaling, the drop probability, a fresh mask for
every batch and every epoch, masks seeded from ``(seed, epoch)`` and continued across an
epoch's chunks (``EpochPlan.first_batch``), and no dropout at inference.

The model is ``Dropout(rate)`` followed by an identity ``Dense`` on inputs of ones, so the
training outputs *are* the masks times the scale; a learning rate of 1e-20 leaves the
float32 weights as good as unchanged (off-diagonal entries move by ~1e-20)."""

from __future__ import annotations

import numpy as np

import unidl
from unidl.testing.expect import expect, expect_close

from ._support import arrays, native_model, plan, require, require_spec, training_setup

RATE, WIDTH, N, BATCH = 0.4, 32, 64, 16


def _masks(model: object, epoch: int, chunks: tuple[int, ...] = (N // BATCH,)
           ) -> np.ndarray:
    x, y = np.ones((N, WIDTH), np.float32), np.zeros((N, WIDTH), np.float32)
    out, first = [], 0
    for count in chunks:
        order = np.arange(first * BATCH, (first + count) * BATCH)
        result = model.train_epoch(arrays(x, y), plan(order, BATCH, epoch, first), True)  # type: ignore[attr-defined]
        out.append(np.asarray(result.outputs))
        first += count
    return np.concatenate(out)


def _kept(masks: np.ndarray) -> np.ndarray:
    return masks > 0.5 / (1 - RATE)


def _model(backend: str, seed: int = 0) -> object:
    spec = unidl.Sequential([unidl.Input((WIDTH,)), unidl.Dropout(RATE),
                             unidl.Dense(WIDTH, use_bias=False)])
    require_spec(backend, spec, training=True)
    require(backend, losses="mse", optimizers="SGD")
    model = native_model(backend, spec, {"dense/kernel": np.eye(WIDTH, dtype=np.float32)})
    model.configure(training_setup("mse", unidl.SGD(lr=1e-20), seed=seed))
    return model


def test_dropout_scales_kept_units_by_one_over_keep_probability(backend: str) -> None:
    masks = _masks(_model(backend), epoch=0)
    expect_close(masks, np.where(_kept(masks), 1 / (1 - RATE), 0.0), rtol=1e-5, atol=1e-6,
                 rule=f"Dropout: inverted dropout, kept units scaled by 1/(1-rate) = "
                      f"{1 / (1 - RATE):.4g}, dropped ones 0")
    fraction = float(_kept(masks).mean())
    sigma = np.sqrt(RATE * (1 - RATE) / masks.size)
    expect(abs(fraction - (1 - RATE)) < 5 * sigma,
           f"Dropout: each unit is dropped with probability rate={RATE}",
           f"kept {fraction:.3f} of {masks.size} units, expected {1 - RATE} +- {5 * sigma:.3f}")


def test_dropout_draws_a_fresh_mask_for_every_batch_and_epoch(backend: str) -> None:
    model = _model(backend)
    epoch0 = _kept(_masks(model, epoch=0))
    per_batch = epoch0.reshape(N // BATCH, BATCH, WIDTH)
    expect(not np.array_equal(per_batch[0], per_batch[1]),
           "Dropout: a fresh mask for every batch (batches 0 and 1 got the same mask)")
    epoch1 = _kept(_masks(model, epoch=1))
    expect(not np.array_equal(epoch0, epoch1),
           "Dropout: a fresh mask for every epoch (epochs 0 and 1 got the same masks)")


def test_dropout_masks_are_seeded_from_seed_and_epoch(backend: str) -> None:
    """``first_batch == 0`` reseeds from ``(TrainingSetup.seed, plan.epoch)``: the same
    epoch gives the same masks whatever ran before; another seed gives others."""
    model = _model(backend, seed=4)
    first = _kept(_masks(model, epoch=2))
    _masks(model, epoch=3)
    again = _kept(_masks(model, epoch=2))
    expect(np.array_equal(first, again), "Dropout masks are reseeded from "
           "SeedSequence([seed, epoch]) when first_batch == 0 (epoch 2 run twice differs)")
    other = _kept(_masks(_model(backend, seed=5), epoch=2))
    expect(not np.array_equal(first, other), "Dropout masks are seeded from "
           "TrainingSetup.seed (seeds 4 and 5 gave the same masks)")


def test_dropout_stream_continues_across_an_epochs_chunks(backend: str) -> None:
    """Chunked plans: an epoch handed over as chunks (``first_batch`` 0, 1, 3) draws the
    same masks as the whole epoch; a chunk with ``first_batch > 0`` does not reseed."""
    whole = _kept(_masks(_model(backend), epoch=1))
    chunked = _kept(_masks(_model(backend), epoch=1, chunks=(1, 2, 1)))
    expect(np.array_equal(whole, chunked), "chunked plans: dropout masks continue across "
           "an epoch's chunks (first_batch > 0 must not reseed), so chunked == whole")


def test_dropout_is_off_at_inference(backend: str) -> None:
    model = _model(backend)
    _masks(model, epoch=0)
    x = np.ones((5, WIDTH), np.float32)
    expect_close(model.predict(x, 5), x, atol=1e-6, rule="Dropout: only in training; predict runs "  # type: ignore[attr-defined]
                 "in inference mode")
