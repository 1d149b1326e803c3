#!/usr/bin/env bash
# Lint, type-check and test the service part (API, workers, storage, CLI/stack). The integration
# tests start their own redis-server, S3 (weed mini), Celery worker and API on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check api workers storage gongkai tests/api tests/workers tests/storage tests/integration tests/cli tests/conftest.py
.venv/bin/mypy api workers storage gongkai
.venv/bin/pytest -q tests/api tests/workers tests/storage tests/integration tests/cli "$@"
