#!/usr/bin/env bash
# The Table 6 ablation rows on KGBD (one thread each; SPLITS and EPOCHS as for the main job).
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}
SPLITS=${SPLITS:-0}
for p in dpc mpc hi-mpc mpc-hsm; do
  .venv/bin/python -m himpc train --preset $p --splits "$SPLITS" --epochs "$EPOCHS" --out results/kgbd/$p --quiet --set threads=1
done
