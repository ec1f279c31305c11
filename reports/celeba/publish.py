"""Publish the CelebA checkpoints after `train.sh`: each variant's step-1900 snapshot, with its card.

Step 1900 was chosen on the validation probe of `bench curve` (see README.md, "Training"); run from
the repository root: `RUNS=runs/celeba-train python reports/celeba/publish.py`.
"""

import os
import shutil
import tempfile
from pathlib import Path

from methods.glcic.card import probe_notes, publish_weights

RUNS = Path(os.environ.get("RUNS", "runs/celeba-train"))
STEP = int(os.environ.get("STEP", "1900"))
NOTES = Path(__file__).with_name("card_notes.md").read_text()
PROBE = ("CelebA validation split, first 64 images, 160 px, the study's 1-3 rectangles <= 25 %, mask seed 0; "
         "`bench curve`")
TAIL = (f"\nThis checkpoint is the step-{STEP} row (phase 3); the step-1950 row is the end of phase 3, not "
        "published (see above). Learning curve: `reports/celeba/learning_curve.png`.\n")

for variant, name in (("full", "iizuka"), ("global", "iizuka-global"), ("local", "iizuka-local")):
    run = RUNS / variant
    with tempfile.TemporaryDirectory() as tmp:
        # publish_weights takes a run directory holding one glcic-VARIANT.pt: stage the snapshot as one.
        stage = Path(tmp)
        shutil.copyfile(run / "snapshots" / f"step-{STEP:07d}.pt", stage / f"glcic-{variant}.pt")
        for f in ("config.toml", "losses.png"):
            shutil.copyfile(run / f, stage / f)
        text = NOTES + "\n" + probe_notes(run / "curve.csv", PROBE) + TAIL
        print(publish_weights(stage, "methods/glcic/weights/celeba", name, notes=text))
