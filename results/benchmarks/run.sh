#!/usr/bin/env bash
# The fixed benchmark set (tests marked `benchset`): save a measurement, or compare the current tree
# against the saved ones. Timings are never a pass/fail criterion here: compare prints the table.
#   bash results/benchmarks/run.sh save [NAME]   measure and store results/benchmarks/<machine>/NNNN_NAME.json
#   bash results/benchmarks/run.sh compare       measure the current tree and print it beside every saved run
#   bash results/benchmarks/run.sh table         print the saved runs side by side without measuring
set -euo pipefail
cd "$(dirname "$0")/../.."
STORE=file://results/benchmarks
COLS=min,median,max,rounds
mode=${1:-compare}
case "$mode" in
  save)
    python -m pytest tests/benchmarks -m benchset -q --benchmark-enable --benchmark-storage="$STORE" \
      --benchmark-save="${2:-$(git rev-parse --short HEAD)}" --benchmark-columns="$COLS" ;;
  compare)
    python -m pytest tests/benchmarks -m benchset -q --benchmark-enable --benchmark-storage="$STORE" \
      --benchmark-compare --benchmark-columns="$COLS" --benchmark-sort=name ;;
  table)
    pytest-benchmark --storage "$STORE" compare --columns="$COLS" --sort=name --group-by=name ;;
  *) echo "usage: $0 save [NAME] | compare | table" >&2; exit 2 ;;
esac
