#!/usr/bin/env bash
# The main job: set up .venv, execute every notebook of the book with the `reference` profile
# (papermill; no training at build time: method pages inspect the reference model in models/, result
# pages read the committed full-KGBD results under results/kgbd; notebooks already executed with the
# same code and inputs are reused) and build the offline HTML book at book/_build/html (open
# book/_build/html/index.html; works from file://, no network).  PROFILE=smoke trains small models
# at build time instead.  Needs the data: HIMPC_DATA=<folder with kgbd/KGBD.tar.gz> (see README).
# The full KGBD measurement (hours on a CPU): scripts/kgbd_paper.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then export HIMPC_DATA="$(cd ../shared/data && pwd)"; fi
.venv/bin/himpc book --profile "${PROFILE:-reference}" --results "${RESULTS:-results/book}" --jobs "${JOBS:-1}" "$@"
