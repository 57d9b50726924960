#!/usr/bin/env bash
# Create .venv and install himpc with its requirements (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then
  echo "HIMPC_DATA is not set; ../shared/data exists: export HIMPC_DATA=$(cd ../shared/data && pwd)"
fi
