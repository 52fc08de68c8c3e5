"""A unidl model spec as one ``torch.nn.Module``: :class:`SequentialNet` for a
``Sequential``, :class:`GraphNet` for a ``Graph``, each built layer by layer from the
registered builders (:mod:`unidl_torch.builders`), and the canonical weight slots of their
tensors (:mod:`.weights`)."""

from .graph import GraphNet
from .sequential import SequentialNet
from .weights import Slot, graph_slots, slots

__all__ = ["GraphNet", "SequentialNet", "Slot", "graph_slots", "slots"]
