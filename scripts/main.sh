#!/usr/bin/env bash
# The main job: set up .venv, execute every notebook of the book with the `smoke` profile (papermill;
# minutes on a 2-core CPU, runs already done with the same code are reused), and build the offline
# HTML book at book/_build/html (open book/_build/html/index.html; works from file://, no network).
# The book shows the committed full-KGBD results (results/kgbd) beside the smoke runs.
# Needs the data: HIMPC_DATA=<folder with kgbd/KGBD.tar.gz> (see README).
# The full KGBD measurement (hours on a CPU): scripts/kgbd_paper.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then export HIMPC_DATA="$(cd ../shared/data && pwd)"; fi
.venv/bin/himpc book --profile "${PROFILE:-reference}" --results "${RESULTS:-results/book}" --jobs "${JOBS:-1}" "$@"
