#!/usr/bin/env bash
# unidl's own tests with a third, smaller backend installed: the worked example
# examples/unidl-numpy, which passes the conformance suite but declares fewer layers and
# features than torch and keras. Every test that uses a backend must run or skip on its
# declared capabilities, never fail. The example is installed into a throwaway directory
# put on PYTHONPATH (the .venv is left alone), and only the tests it adds run: those whose
# id names it (`[numpy]`, `[numpy->torch]`, ...), so this costs seconds, not a second matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation \
    --disable-pip-version-check --target "$site" examples/unidl-numpy
PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/python -m pytest -q \
    -p no:cacheprovider tests unidl/testing/conformance -k numpy "$@"
