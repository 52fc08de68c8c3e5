"""The conformance suite: what every unidl backend must do, checked against the contract.

Run it against any installed backend::

    python -m pytest --pyargs unidl.testing.conformance --unidl-backend NAME

It checks the contract, not an implementation: build and shapes, the core's initial
weights, canonical get/set, forward passes against the NumPy reference in
``unidl.testing.reference`` (1e-5), the training loss against ``unidl.losses``, one
optimizer step against the documented formula, training lowering the loss,
evaluate/predict agreement, save/load, the standard errors and determinism under a seed,
and (backends declaring ``graph``) functional models: gradients through shared and merge
layers and several weighted losses against finite differences of the reference.
What a backend's ``capabilities`` do not declare is skipped with the reason; a backend may
declare ``expected_failures`` (see ``unidl.testing.plugin``).
"""

SUITE_VERSION = "1.1"  # 1.1: graph models, merge layers, Permute
