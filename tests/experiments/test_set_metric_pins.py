"""Set metrics computed from the run's stored features equal those of the code before the store.

The values below were measured with the code before features were stored (commit f2a54c0:
features extracted through a process pool and an in-process memo, then thrown away) by::

    bench run --methods telea,mean --n 48 --metrics all --out RUN

(LPIPS left out: no backbone on the test machines). The run now copies the real images'
features from the shipped store (extracted with two threads) where that code extracted them
in one-thread processes: those features differ by at most 4.8e-7, which moves FID and KID by
about 1e-8 relative; the k-NN and SVM scores do not move.
"""

from __future__ import annotations

import json

import pytest

from bench.experiments.runner import RunConfig, run

BEFORE = {
    "telea": {
        "coverage": 1.0,
        "density": 0.8916666666666667,
        "fid": 43.650077290392574,
        "fid_inf": 4.897663121579425,
        "kid": -0.006803472274634181,
        "kid_paired": 0.004535682547516906,
        "pids": 0.0,
        "precision": 0.8958333333333334,
        "recall": 1.0,
        "uids": 0.0,
    },
    "mean": {
        "coverage": 1.0,
        "density": 0.8291666666666667,
        "fid": 62.18814400141713,
        "fid_inf": 22.653271009835144,
        "kid": -0.0017724400855225753,
        "kid_paired": 0.00903540531469993,
        "pids": 0.0,
        "precision": 0.8125,
        "recall": 1.0,
        "uids": 0.0,
    },
}
# The largest relative difference the features' rounding can make (see the module docstring).
RTOL = 1e-6


def test_a_builtin_run_gives_the_set_metrics_of_the_code_before_the_store(tmp_path):
    metrics = sorted(BEFORE["telea"])
    run(RunConfig(methods=["telea", "mean"], out=tmp_path / "run", n=48, metrics=metrics, progress=False))
    stored = json.loads((tmp_path / "run" / "set_metrics.json").read_text())
    got = {spec: {name: stored[spec][name]["value"] for name in metrics} for spec in BEFORE}
    for spec, values in BEFORE.items():
        for name, before in values.items():
            assert got[spec][name] == pytest.approx(before, rel=RTOL, abs=1e-12), f"{spec} {name}"
    assert (tmp_path / "run" / "features").is_dir()
