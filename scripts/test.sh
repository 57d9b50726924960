#!/usr/bin/env bash
# The test command: set up, then run pytest (real-data tests run when HIMPC_DATA is set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then export HIMPC_DATA="$(cd ../shared/data && pwd)"; fi
exec .venv/bin/python -m pytest -q "$@"
