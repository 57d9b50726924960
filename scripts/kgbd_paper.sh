#!/usr/bin/env bash
# Measure on real KGBD over 3 random splits (paper protocol, F = 6): the learning-free baselines and
# Hi-MPCh with the paper's settings and a fixed budget of EPOCHS epochs (default 20, chosen in advance;
# nothing is selected on probe/gallery), then print the table.  CPU: ~2.5 min per epoch and split
# (2 cores); an interrupted run resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then export HIMPC_DATA="$(cd ../shared/data && pwd)"; fi
SPLITS=${SPLITS:-0,1,2}
EPOCHS=${EPOCHS:-20}
for m in raw d13 d16; do
  .venv/bin/himpc baseline --method "$m" --splits "$SPLITS" --out "results/kgbd/baseline-$m"
done
.venv/bin/himpc train --preset hi-mpch --splits "$SPLITS" --epochs "$EPOCHS" --out "results/kgbd/hi-mpch-e$EPOCHS"
.venv/bin/python scripts/results_table.py results/kgbd
