"""Native export: a plain torch ``state_dict`` for people leaving unidl.

``model.export(path, format="torch")`` writes ``torch.save(state_dict)`` where every key is
``"<layer name>.<torch param>"`` in torch's own layouts:

=============  =====================================================================
unidl layer    keys (shape)
=============  =====================================================================
Dense          ``<name>.weight`` (out, in), ``<name>.bias`` (out,)  -> ``nn.Linear``
Conv2D         ``<name>.weight`` (out, in, kh, kw), ``<name>.bias`` -> ``nn.Conv2d``
BatchNorm      ``<name>.weight``, ``.bias``, ``.running_mean``, ``.running_var``
               -> ``nn.BatchNorm1d``/``nn.BatchNorm2d``
=============  =====================================================================

(each builder module in :mod:`unidl_torch.builders` lists its kinds' tensors; a custom
layer's are its canonical parameters, ``<name>.<param>`` in the canonical layout.)

(A layer whose name is not a Python identifier, or is an attribute of the network module
such as ``pre`` or ``head``, is stored as ``layer<index>``, its position in
``Sequential.layers`` or ``Graph.layers``; a ``Graph``'s shared layer is stored once.)
To rebuild without unidl, create the stock modules above with the same names and
``load_state_dict(state, strict=False)`` (strict also works: BatchNorm fills in
``num_batches_tracked``), or per layer::

    state = torch.load("model.pt", weights_only=True)
    fc = torch.nn.Linear(784, 256)
    fc.load_state_dict({"weight": state["dense.weight"], "bias": state["dense.bias"]})

and mind three unidl conventions when writing ``forward``:

- inputs are channels-last (N, H, W, C): ``x.permute(0, 3, 1, 2)`` before the first
  convolution, and ``x.permute(0, 2, 3, 1)`` before ``flatten(1)``, so the flattened order
  (H, W, C) matches the Dense kernel that follows;
- ``padding="same"`` is TensorFlow's: pad ``total = max((ceil(n/s)-1)*s + k - n, 0)``
  with the extra pixel at the bottom/right (``F.pad``), max pooling pads with -inf and
  average pooling leaves padding out of the mean;
- BatchNorm uses the spec's ``epsilon`` (default 1e-3, not torch's 1e-5) and, for
  training, torch ``momentum = 1 - unidl momentum`` (torch updates ``running_var`` with the
  unbiased variance, unidl with the biased one); activations use unidl's constants
  (leaky_relu slope 0.2, exact gelu).

Inside Python with unidl installed, :func:`torch_module` rebuilds the exact module (for a
``Graph``, ``forward(*inputs)`` takes the inputs in order and returns a tuple of outputs).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from unidl import NotSupportedError
from unidl._tempfiles import create_temp
from unidl.spec import Graph, ModelSpec

from .network import GraphNet, SequentialNet

__all__ = ["FORMATS", "save", "torch_module"]

FORMATS = ("torch",)


def save(net: nn.Module, path: str, format: str) -> None:
    """Write ``net``'s state_dict to ``path`` atomically (a crash keeps the old file)."""
    if format not in FORMATS:
        raise NotSupportedError(f"the torch backend exports {FORMATS}, not {format!r}; "
                                "use unidl's own save() for a portable model")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
    fd, tmp = create_temp(target)  # mode 0o666 less the umask, like any written file
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def torch_module(spec: ModelSpec, device: str = "cpu") -> torch.nn.Module:
    """A fresh ``torch.nn.Module`` for ``spec`` (channels-last in and out) whose
    ``load_state_dict`` accepts an exported file; its weights are uninitialised."""
    dev = torch.device(device)
    generator = torch.Generator(device=dev)
    generator.manual_seed(0)
    if isinstance(spec, Graph):
        return GraphNet(spec, generator, dev)
    return SequentialNet(spec, generator, dev)
