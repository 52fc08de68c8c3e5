"""Training: the fit loop and what plugs into it, the same on every backend.

- :mod:`unidl.training.loop`: what an epoch means (batch order, learning rates, logs);
- :mod:`unidl.training.callbacks`: hooks into the loop (``EarlyStopping``, ...);
- :mod:`unidl.training.progress`: the progress bar / per-epoch lines of ``verbose``;
- :mod:`unidl.training.schedules`: learning-rate schedules (``StepLR``, ...);
- :mod:`unidl.training.report`: a classification report of a trained model's predictions.

It knows no files: saving a model is :mod:`unidl.io`'s, which sits above it.
"""
