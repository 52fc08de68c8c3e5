#!/usr/bin/env bash
# Create .venv with unidl, both backends (CPU builds) and the test tools. Idempotent: a
# second run with unchanged requirement files does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.unidl-setup
want=$(cat pyproject.toml backends/*/pyproject.toml constraints.txt requirements-dev.txt \
       scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setting up .venv (unidl, unidl-torch, unidl-keras, test tools) ..." >&2
log=.venv/setup.log
if ! .venv/bin/python -m pip install --disable-pip-version-check \
        -c constraints.txt \
        -e . -e backends/torch -e "backends/keras[cpu]" \
        -r requirements-dev.txt >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "setup failed; full log in $log" >&2
    exit 1
fi
echo "$want" > "$stamp"
