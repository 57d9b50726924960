#!/usr/bin/env bash
# Issue 9's side-by-side measurement on KGBD (paper protocol, F = 6), resumable: every run resumes
# from its checkpoint and a finished run (result.json present) is skipped.  Budget fixed in advance:
# 20 epochs on split 0; the probe/gallery trace every 5 epochs is a record, never a selection.
#   raw clip distance, hip- vs head-centred (3 splits)
#   Hi-MPCh paper-literal, head-centred (root_joint=joint0, the code's centring); the hip-centred
#     default is results/kgbd/hi-mpch-e20 (same config, same split, 20 epochs)
#   Hi-MPCh hip-centred with the code's tau-scaled HSM similarities (Eq. 7-8)
#   official-code (the authors' choices, switch by switch)
# Log: results/logs/faithfulness.log.  Usage: nohup bash scripts/queue_faithfulness.sh > results/logs/faithfulness.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HIMPC_DATA:-}" ] && [ -d ../shared/data ]; then export HIMPC_DATA="$(cd ../shared/data && pwd)"; fi
H=.venv/bin/himpc
OUT=results/kgbd/faithful
EPOCHS=${EPOCHS:-20}
COMMON=(--splits 0 --epochs "$EPOCHS" --quiet --set threads=2 --set eval_every=5)
done_run() { [ -f "$1/split0/result.json" ]; }
for root in HipCenter Head; do
  [ -f "$OUT/baseline-raw-$root/summary.json" ] || \
    $H baseline --method raw --splits 0,1,2 --set root_joint=$root --out "$OUT/baseline-raw-$root"
done
done_run "$OUT/hi-mpch-head" || $H train --preset hi-mpch "${COMMON[@]}" --set root_joint=joint0 \
  --set snapshot_epochs=1,5,10,20 --out "$OUT/hi-mpch-head"
done_run "$OUT/hi-mpch-hsmtau" || $H train --preset hi-mpch "${COMMON[@]}" \
  --set hsm_scale_by_tau=true --out "$OUT/hi-mpch-hsmtau"
done_run "$OUT/official-code" || $H train --preset hi-mpch,official-code "${COMMON[@]}" --out "$OUT/official-code"
