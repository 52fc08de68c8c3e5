"""SimpleRNN, LSTM and GRU on channels-last ``(N, steps, features)``, run by torch's fused
recurrent kernels (``torch.rnn_tanh`` / ``torch.lstm`` / ``torch.gru``: cuDNN on CUDA).

Each module holds ``weight_ih`` (G*units, in), ``weight_hh`` (G*units, units) and one
``bias`` parameter, gate blocks in torch's order, so the canonical bias round-trips exactly:

- SimpleRNN / LSTM: torch's gate order equals Keras' (LSTM ``i, f, g(c), o``), and Keras
  has a single bias: ``bias`` (G*units,) is torch's ``bias_ih``; ``bias_hh`` is a zero
  buffer (not a parameter), so the sum torch computes is exactly the canonical bias.
- GRU: Keras ``reset_after=True`` is torch's GRU; Keras' gates ``z, r, h`` are torch's
  ``r, z, n`` with the first two blocks swapped. ``bias`` (2, 3*units) holds torch's
  ``bias_ih`` and ``bias_hh`` as rows (the canonical input and recurrent biases).

A ``state_dict`` maps to stock ``nn.RNN``/``nn.LSTM``/``nn.GRU`` as ``weight_ih_l0`` =
``weight_ih``, ``weight_hh_l0`` = ``weight_hh``, ``bias_ih_l0`` = ``bias`` (GRU:
``bias[0]``) and ``bias_hh_l0`` = 0 (GRU: ``bias[1]``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from unidl.spec import GRU, LSTM, SimpleRNN

from .base import Array, BuildContext, Weight, builds, transpose

__all__ = ["RecurrentModule", "gru_gates", "gru_kernel_to_canonical", "gru_kernel_to_torch"]

Cell = Literal["rnn", "lstm", "gru"]
_GATES: dict[Cell, int] = {"rnn": 1, "lstm": 4, "gru": 3}


def gru_gates(a: Array) -> Array:
    """Swaps the first two gate blocks of the last axis: Keras ``z, r, h`` <-> torch
    ``r, z, n`` (its own inverse)."""
    u = a.shape[-1] // 3
    return np.concatenate([a[..., u:2 * u], a[..., :u], a[..., 2 * u:]], axis=-1)


def gru_kernel_to_torch(a: Array) -> Array:
    return gru_gates(a).T


def gru_kernel_to_canonical(a: Array) -> Array:
    return gru_gates(a.T)


class RecurrentModule(nn.Module):
    """One SimpleRNN / LSTM / GRU layer (zero initial state) on batch-first input."""

    bias_hh: torch.Tensor | None

    def __init__(self, cell: Cell, units: int, return_sequences: bool, in_features: int,
                 device: torch.device) -> None:
        super().__init__()
        u = units
        self.units = u
        self.return_sequences = return_sequences
        self.is_lstm = cell == "lstm"
        self.is_gru = cell == "gru"
        g = _GATES[cell] * u
        n_ih, n_hh = g * in_features, g * u
        # One buffer in cuDNN's layout (w_ih, w_hh, b_ih, b_hh back to back) whose views are
        # the parameters: cuDNN then uses the weights in place instead of compacting them
        # into a fresh buffer (with a warning) on every call.
        buf = torch.zeros(n_ih + n_hh + 2 * g, device=device)
        self.weight_ih = nn.Parameter(buf[:n_ih].view(g, in_features))
        self.weight_hh = nn.Parameter(buf[n_ih:n_ih + n_hh].view(g, u))
        biases = buf[n_ih + n_hh:].view(2, g)  # rows: b_ih, b_hh
        if self.is_gru:  # the canonical (2, 3u) bias is both rows
            self.bias = nn.Parameter(biases)
            self.register_buffer("bias_hh", None, persistent=False)
        else:  # Keras' single bias is b_ih; b_hh stays zero (a buffer, never trained)
            self.bias = nn.Parameter(biases[0])
            self.register_buffer("bias_hh", biases[1], persistent=False)

    def _params(self) -> tuple[torch.Tensor, ...]:
        if self.is_gru:
            return (self.weight_ih, self.weight_hh, self.bias[0], self.bias[1])
        assert self.bias_hh is not None
        return (self.weight_ih, self.weight_hh, self.bias, self.bias_hh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(1, x.shape[0], self.units)
        params, train = self._params(), self.training
        if self.is_lstm:
            out, h, _ = torch.lstm(x, (h0, h0), params, True, 1, 0.0, train, False, True)
        elif self.is_gru:
            out, h = torch.gru(x, h0, params, True, 1, 0.0, train, False, True)
        else:
            out, h = torch.rnn_tanh(x, h0, params, True, 1, 0.0, train, False, True)
        return out if self.return_sequences else h[0]


_TRANSPOSED = {"kernel": Weight("weight_ih", transpose, transpose),
               "recurrent_kernel": Weight("weight_hh", transpose, transpose)}


@builds(SimpleRNN, weights=_TRANSPOSED)
def _simple_rnn(layer: SimpleRNN, ctx: BuildContext) -> nn.Module:
    return RecurrentModule("rnn", layer.units, layer.return_sequences, ctx.input_shape[-1],
                           ctx.device)


@builds(LSTM, weights=_TRANSPOSED)
def _lstm(layer: LSTM, ctx: BuildContext) -> nn.Module:
    return RecurrentModule("lstm", layer.units, layer.return_sequences, ctx.input_shape[-1],
                           ctx.device)


@builds(GRU, weights={
    "kernel": Weight("weight_ih", gru_kernel_to_torch, gru_kernel_to_canonical),
    "recurrent_kernel": Weight("weight_hh", gru_kernel_to_torch, gru_kernel_to_canonical),
    "bias": Weight("bias", gru_gates, gru_gates)})
def _gru(layer: GRU, ctx: BuildContext) -> nn.Module:
    return RecurrentModule("gru", layer.units, layer.return_sequences, ctx.input_shape[-1],
                           ctx.device)
