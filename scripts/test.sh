#!/usr/bin/env bash
# Set up (if needed) and run every check: the pytest matrix over all installed backends,
# mypy --strict on the core and the backends, the import contracts, ruff, the docs
# build and the built wheels' metadata. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pytest "$@"
.venv/bin/mypy --strict unidl backends/torch/unidl_torch backends/keras/unidl_keras
.venv/bin/mypy --strict examples/unidl-numpy/unidl_numpy  # the worked example backend
scripts/test_with_example_backend.sh  # a third backend installed never breaks tests/
.venv/bin/lint-imports  # import contracts: pyproject.toml [tool.importlinter]
.venv/bin/ruff check .
.venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"  # docs: broken links fail
.venv/bin/python scripts/check_wheels.py  # wheels: names, bounded requirements, py.typed, entry points
