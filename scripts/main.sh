#!/usr/bin/env bash
# The main job: set up, then measure on real KGBD over 3 random splits (paper protocol, F = 6):
# the learning-free baselines and Hi-MPCh with the paper's settings, and print the results table.
# Needs the data: HIMPC_DATA=<folder with kgbd/KGBD.tar.gz> (see README).  CPU: ~1 h per split.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then export HIMPC_DATA="$(cd ../shared/data && pwd)"; fi
SPLITS=${SPLITS:-0,1,2}
EPOCHS=${EPOCHS:-5}
for m in raw d13 d16; do
  .venv/bin/himpc baseline --method "$m" --splits "$SPLITS" --out "results/kgbd/baseline-$m"
done
.venv/bin/himpc train --preset hi-mpch --splits "$SPLITS" --epochs "$EPOCHS" --out results/kgbd/hi-mpch
.venv/bin/python scripts/results_table.py results/kgbd
