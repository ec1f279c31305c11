#!/usr/bin/env bash
# Rebuild every table and plot of reports/celeba/ from the committed face-trained checkpoints.
# Run from the repository root with the CelebA sample at $CELEBA (default ../shared/data/celeba).
# Run directories (with the per-image outputs and figure grids, which show CelebA faces and must
# not be committed) go to $RUNS (default runs/); only numbers and plots are copied here.
set -euo pipefail
CELEBA=${CELEBA:-../shared/data/celeba}
RUNS=${RUNS:-runs}
OUT=reports/celeba
DATA=(--dataset celeba --data-root "$CELEBA")

# Table 9: every method on 280 test images, 1-3 rectangles <= 25 %, mask seed 0.
bench run --methods iizuka,iizuka:post=blend,patch,telea,ns,biharmonic,mean --n 280 --seed 0 "${DATA[@]}" \
  --out "$RUNS/celeba-table9" --no-progress
bench report "$RUNS/celeba-table9" --out "$OUT/table9" --reference iizuka --no-grid --label tab:celeba-table9
# The figure grid (faces): kept in the run directory, never committed.
bench report "$RUNS/celeba-table9" --out "$RUNS/celeba-table9/report-with-grid" --reference iizuka --error-maps \
  --no-latex

# Table 3: the discriminator ablation over mask seeds 0, 1, 2 (280 images each).
bench ablate discriminator --n 280 --seeds 0,1,2 "${DATA[@]}" --out "$RUNS/celeba-table3" --no-progress
mkdir -p "$OUT/table3" && cp "$RUNS"/celeba-table3/table3* "$OUT/table3/"

# Table 4: single-channel removal (n = 100): every channel of conv1, conv16, conv15, conv2, conv3 and
# conv14, then channels 0 and 1 of all eight layers of the study (conv4 and conv10 keep only those:
# the subset that fits about two hours of this machine; leave out --channels for every channel of
# them, 252 channels, about 1.5 h more); the sweep directory accumulates, so the figure shows every
# channel measured.
bench ablate channels --layers 1,16 --n 100 "${DATA[@]}" --out "$RUNS/celeba-table4" --no-progress
bench ablate channels --layers 15 --n 100 "${DATA[@]}" --out "$RUNS/celeba-table4" --no-progress
bench ablate channels --layers 2,3,14 --n 100 "${DATA[@]}" --out "$RUNS/celeba-table4" --no-progress
bench ablate channels --layers 1,2,3,4,10,14,15,16 --channels 0,1 --n 100 "${DATA[@]}" \
  --out "$RUNS/celeba-table4" --no-progress
mkdir -p "$OUT/table4" && cp "$RUNS"/celeba-table4/{table4.md,table4.tex,table4.png,table4.pdf,flagged.csv} "$OUT/table4/" \
  && cp "$RUNS"/celeba-table4/channels_*.csv "$OUT/table4/"
# conv1_conv16_sweep.txt and all_layers_sweep.txt in table4/ are the two commands' printed output.
