"""The conformance suite: what every unidl backend must do, checked against the contract.

Run it against any installed backend::

    python -m pytest --pyargs unidl.testing.conformance --unidl-backend NAME

It checks the contract, not an implementation: every rule of docs/backend-contract.md has
a test (``test_rules_*.py`` and the others; the table at the end of that page), and a
failure names the rule and the quantity (``unidl.testing.expect``). Build and shapes, the
core's initial weights, canonical get/set, forward passes against the NumPy reference in
``unidl.testing.reference`` (1e-5), the training loss against ``unidl.losses`` (fused
heads on saturated outputs, float64 clipping, sample weights), the epoch loss and outputs,
every optimizer's update rule and gradient clipping replayed with
``unidl.testing.optimizers``, optimizer state and resuming, dropout statistics and
seeding, the misuse cases, evaluate/predict agreement, save/load, the standard errors,
determinism under a seed, and (backends declaring ``graph``) functional models.
What a backend's ``capabilities`` do not declare is skipped with the reason; a backend may
declare ``expected_failures`` (see ``unidl.testing.plugin``).
"""

SUITE_VERSION = "1.2"  # 1.1: graph models, merge layers, Permute; 1.2: one test per rule
