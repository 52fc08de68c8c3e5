"""scikit-learn estimators: a unidl model as a classifier or regressor, on any backend.

::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from unidl.sklearn import UnidlClassifier

    clf = make_pipeline(StandardScaler(), UnidlClassifier(backend="torch", epochs=50))
    clf.fit(x_train, y_train).score(x_test, y_test)

They follow scikit-learn's estimator contract (parameters only stored by ``__init__``,
``clone``, ``get_params``/``set_params``, validation, tags) and pass its
``parametrize_with_checks`` on every installed backend; a fitted estimator pickles as its
model's portable-format directory. Needs scikit-learn 1.6 or newer. See docs/sklearn.md.
"""

from __future__ import annotations

import sklearn

_version = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
if _version < (1, 6):  # pragma: no cover - depends on the environment
    raise ImportError(f"unidl.sklearn needs scikit-learn >= 1.6 (it uses "
                      f"sklearn.utils.validation.validate_data); found {sklearn.__version__}. "
                      f'Upgrade with: pip install "scikit-learn>=1.6"')

from ._classifier import UnidlClassifier  # noqa: E402  (after the version check)
from ._regressor import UnidlRegressor  # noqa: E402
from ._specs import mlp  # noqa: E402

__all__ = ["UnidlClassifier", "UnidlRegressor", "mlp"]
