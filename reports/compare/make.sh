#!/usr/bin/env bash
# Every method of the registry that runs in reasonable time, on the study's rectangles and on
# LaMa's thick irregular masks, on the builtin photos and on CelebA test faces, with every
# per-image table also split by hole area (LaMa's bins). Run from the repository root:
#   bash reports/compare/make.sh            (N=100 images per run; CELEBA=../shared/data/celeba)
# Run directories (outputs; the CelebA ones show faces and must not be committed) go to $RUNS;
# only the tables (Markdown, LaTeX, PDF) and plots are written under reports/compare/.
# `fsr:quality=best` is left out: 1-3 minutes per image on 2 cores (methods/classic/fsr.md).
set -euo pipefail
CELEBA=${CELEBA:-../shared/data/celeba}
RUNS=${RUNS:-runs/compare}
N=${N:-100}
OUT=reports/compare
METHODS=iizuka,iizuka:post=blend,iizuka-global,iizuka-local,patch,telea,ns,biharmonic,mean,shiftmap,fsr,criminisi
for data in builtin celeba; do
  source_args=(--dataset "$data")
  [ "$data" = celeba ] && source_args+=(--data-root "$CELEBA")
  for masks in rects thick; do
    bench run --methods "$METHODS" --n "$N" --seed 0 --masks "$masks" "${source_args[@]}" \
      --out "$RUNS/$data-$masks" --no-progress
    bench report "$RUNS/$data-$masks" --out "$OUT/$data-$masks" --reference iizuka --no-grid \
      --bins area --label "tab:$data-$masks"
  done
done
# One overview table of the four runs (Markdown, LaTeX, CSV).
python -m bench.outputs.report.overview "$RUNS" "$OUT"
