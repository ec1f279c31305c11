#!/usr/bin/env bash
# Train the committed CelebA GLCIC checkpoints: phase 1 once, then phases 2 and 3 of each
# discriminator variant branched from it (config: methods/glcic/configs/celeba-cpu.toml).
# Every step is resumable: rerun the script after a kill. About 2.5 hours on 2 CPU cores; the
# committed checkpoints are the step-1900 snapshots (see reports/celeba/README.md).
# Then: bench curve (learning curve) and publishing the weights, see reports/celeba/README.md.
set -euo pipefail
CELEBA=${CELEBA:-../shared/data/celeba}
RUNS=${RUNS:-runs/celeba-train}
CFG=methods/glcic/configs/celeba-cpu.toml
bench train --config "$CFG" --variant full --steps-phase2 0 --steps-phase3 0 --data-root "$CELEBA" \
  --out "$RUNS/phase1" --no-progress
for variant in full global local; do
  bench train --config "$CFG" --variant "$variant" --init-from "$RUNS/phase1/phase1.pt" --data-root "$CELEBA" \
    --out "$RUNS/$variant" --no-progress
done
bench curve "$RUNS/phase1" "$RUNS/full" "$RUNS/global" "$RUNS/local" --data-root "$CELEBA" \
  --plot reports/celeba/learning_curve.png --no-progress
bench publish "$RUNS" --step 1900  # the step-1900 snapshots, chosen on the validation probe
