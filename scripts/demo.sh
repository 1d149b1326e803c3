#!/usr/bin/env bash
# The main job (README): install, start the local stack, process the example reports, show results.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gongkai demo "$@"
