#!/usr/bin/env bash
# Set up (if needed) and run the demo: one spec trained on every installed backend.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python examples/demo.py "$@"
