#!/usr/bin/env bash
# Create .venv with unidl (the unidl-core distribution), both backends and the test tools.
# Idempotent: a second run with unchanged requirement files and switches does nothing.
#
# UNIDL_TORCH=cpu   take torch's CPU-only wheel from PyTorch's own index
#                   (https://download.pytorch.org/whl/cpu, about 183 MB) instead of the
#                   default build from the package index, which on Linux x86-64 pulls the
#                   CUDA libraries (several GB). Takes effect in a new .venv (rm -rf .venv).
#                   Default: unset, the machine's package index only (what CI uses).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH=${UNIDL_TORCH:-default}
case "$TORCH" in
    default) torch_index=() ;;
    cpu) torch_index=(--extra-index-url https://download.pytorch.org/whl/cpu) ;;
    *) echo "UNIDL_TORCH must be 'cpu' or unset, got '$TORCH'" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.unidl-setup
want=$( (cat pyproject.toml backends/*/pyproject.toml constraints.txt requirements-dev.txt \
         scripts/setup.sh; echo "torch=$TORCH") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setting up .venv (unidl-core, unidl-torch, unidl-keras, test tools) ..." >&2
log=.venv/setup.log
: >"$log"
# The core was once built under the distribution name `unidl`, which on the public package
# index belongs to an unrelated project: remove such an editable install of this checkout
# and its stale metadata, or its entry points (the pytest plugin) would load twice.
if .venv/bin/python -m pip show unidl 2>/dev/null \
        | grep -qx "Editable project location: $(pwd)"; then
    .venv/bin/python -m pip uninstall --disable-pip-version-check -y unidl >>"$log" 2>&1
fi
rm -rf unidl.egg-info
if ! .venv/bin/python -m pip install --disable-pip-version-check ${torch_index[@]+"${torch_index[@]}"} \
        -c constraints.txt \
        -e . -e backends/torch -e backends/keras \
        -r requirements-dev.txt >>"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "setup failed; full log in $log" >&2
    exit 1
fi
echo "$want" > "$stamp"
