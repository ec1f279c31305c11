"""Publish the CelebA checkpoints of a finished training run, with their cards.

Run from the repository root after `bench curve` has scored the run's snapshots:
`RUNS=runs/celeba-gpu python reports/celeba/publish.py` publishes each variant's final weights
(`RUNS/VARIANT/glcic-VARIANT.pt`); `STEP=N` publishes the step-N snapshot instead. `COMMIT=SHA`
records the code's commit where the run's own record is wrong (a copy of the tree without its
`.git`, as on a lent GPU machine). See README.md, "Training", for which step was chosen and why.
"""

import os
import shutil
import tempfile
from pathlib import Path

import torch

from methods.glcic.card import probe_notes, publish_weights

RUNS = Path(os.environ.get("RUNS", "runs/celeba-gpu"))
STEP = os.environ.get("STEP")
COMMIT = os.environ.get("COMMIT")
NOTES = Path(__file__).with_name("card_notes.md").read_text()
PROBE = ("CelebA validation split, first 64 images, 160 px, the study's 1-3 rectangles <= 25 %, mask seed 0; "
         "`bench curve`")

for variant, name in (("full", "iizuka"), ("global", "iizuka-global"), ("local", "iizuka-local")):
    run = RUNS / variant
    with tempfile.TemporaryDirectory() as tmp:
        # publish_weights takes a run directory holding one glcic-VARIANT.pt: stage the chosen file as one.
        stage = Path(tmp)
        source = run / "snapshots" / f"step-{int(STEP):07d}.pt" if STEP else run / f"glcic-{variant}.pt"
        weights = torch.load(source, map_location="cpu", weights_only=True)
        if COMMIT:
            weights["history"]["git_commit"] = COMMIT
        torch.save(weights, stage / f"glcic-{variant}.pt")
        for f in ("config.toml", "losses.png"):
            shutil.copyfile(run / f, stage / f)
        tail = (f"\nThis checkpoint is step {weights['step']} (phase {'3' if weights['step'] > weights['config']['steps_phase1'] + weights['config']['steps_phase2'] else '1-2'}). "
                "Learning curve: `reports/celeba/learning_curve.png`.\n")
        text = NOTES + "\n" + probe_notes(run / "curve.csv", PROBE) + tail
        print(publish_weights(stage, "methods/glcic/weights/celeba", name, notes=text))
