#!/usr/bin/env bash
# The test command (README, CI): install what is missing, then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null 2>&1 || echo "note: ruff format would reformat some files"
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider --durations=15 "$@"
