#!/usr/bin/env bash
# Baselines on 3 splits, then the Table 6 ablation rows on split 0, one thread each (background queue).
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-8}
for m in raw d13 d16; do
  .venv/bin/python -m himpc baseline --method $m --splits 0,1,2 --out results/kgbd/baseline-$m --quiet --set threads=1
done
for p in dpc mpc hi-mpc mpc-hsm; do
  .venv/bin/python -m himpc train --preset $p --splits 0 --epochs $EPOCHS --out results/kgbd/$p --quiet --set threads=1
done
