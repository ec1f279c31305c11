"""Stage table (seconds, cumulative) of main-job profiles written by ``main_job_side_by_side.sh``.

python results/benchmarks/profile_stages.py OLD.prof NEW.prof
"""

from __future__ import annotations

import pstats
import sys

# (label, file suffix, function): the runner's stages and the work inside them.
STAGES = [
    ("whole run (`runner.run`)", "bench/experiments/runner.py", "run"),
    ("methods and per-image metrics (`_compute`)", "bench/experiments/runner.py", "_compute"),
    ("  methods (`execute`)", "bench/engine/evaluate.py", "execute"),
    ("    GLCIC x3 (`inpaint_batch`)", "methods/glcic/inference.py", "inpaint_batch"),
    ("    patch (`inpaint_patch`)", "methods/patch/inpaint.py", "inpaint_patch"),
    ("  per-image metrics (`score`)", "bench/engine/evaluate.py", "score"),
    ("    SSIM maps (`_ssim`)", "bench/metrics/pixel.py", "_ssim"),
    ("set metrics (`compute_set_metrics`)", "bench/experiments/run_set_metrics.py", "compute_set_metrics"),
    ("  Inception features, in-process (`FeatureExtractor.__call__`)", "bench/metrics/inception.py", "__call__"),
    (
        "  Inception features, waiting for the pool (`PendingFeatures.result`)",
        "bench/metrics/feature_pool.py",
        "result",
    ),
    (
        "  Inception features, waiting for the pool (`FeaturePrefetch.features`)",
        "bench/engine/feature_prefetch.py",
        "features",
    ),
    (
        "  Inception features, waiting for the stage's processes (`FeatureStage.finish`)",
        "bench/engine/features.py",
        "finish",
    ),
    (
        "  features still missing at the end (`FeatureStage.extract`)",
        "bench/engine/features.py",
        "extract",
    ),
]


def stage_seconds(path: str) -> dict[str, float]:
    """Cumulative seconds of each stage in one profile (0 when the function is absent)."""
    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    out = {}
    for label, suffix, func in STAGES:
        out[label] = max(
            (ct for (file, _, name), (_, _, _, ct, _) in stats.items() if file.endswith(suffix) and name == func),
            default=0.0,
        )
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: profile_stages.py OLD.prof NEW.prof")
    old, new = (stage_seconds(p) for p in argv)
    print("| stage | old s | new s |\n|---|---|---|")
    for label, *_ in STAGES:
        print(f"| {label} | {old[label]:.1f} | {new[label]:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
