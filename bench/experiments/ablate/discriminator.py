"""The discriminator ablation (the study's Table 3), repeated over mask seeds.

Each seed is an ordinary ``bench run`` of the three GLCIC variants into
``OUT/seed-S`` (so each is resumable and reportable on its own). The table gives,
per method and metric, the mean over seeds of the per-seed score and a 95 %
Student-t interval over seeds, as the study repeated its evaluation 2-3 times.
With ``cfg.cluster`` every seed's run uses one Dask cluster, connected once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bench.core.outdir import DirClaim, claim_dir
from bench.experiments.runner import RunConfig, run
from bench.outputs.rundir import RunDir, is_legacy_run
from bench.outputs.summary import metric_columns

VARIANTS = ("iizuka", "iizuka-global", "iizuka-local")


def seed_scores(rundir: RunDir) -> pd.DataFrame:
    """Per-method scores of one run: mean per-image metrics plus set metrics."""
    records = rundir.records_frame()
    ok = records[records["status"] == "ok"]
    numeric = metric_columns(ok)
    scores = ok.groupby("method", sort=False)[numeric].mean()
    if rundir.set_metrics.is_file():
        for method, entries in rundir.read_json(rundir.set_metrics).items():
            for metric, entry in entries.items():
                if method in scores.index:
                    scores.loc[method, metric] = entry["value"]
    return scores


def across_seeds(per_seed: list[pd.DataFrame], level: float = 0.95) -> pd.DataFrame:
    """Long summary (method, metric, value, low, high, n) over seeds with a t interval."""
    rows = []
    methods = list(dict.fromkeys(m for frame in per_seed for m in frame.index))
    metrics = list(dict.fromkeys(c for f in per_seed for c in f.columns))
    for method in methods:
        for metric in metrics:
            vals = np.array(
                [f.loc[method, metric] for f in per_seed if method in f.index and metric in f.columns], dtype=float
            )
            vals = vals[np.isfinite(vals)]
            if vals.size == 0:
                continue
            mean = float(vals.mean())
            if vals.size > 1:
                half = float(stats.t.ppf(0.5 + level / 2, vals.size - 1) * vals.std(ddof=1) / np.sqrt(vals.size))
            else:
                half = float("nan")
            rows.append(
                {
                    "method": method,
                    "metric": metric,
                    "value": mean,
                    "low": mean - half,
                    "high": mean + half,
                    "n": int(vals.size),
                }
            )
    return pd.DataFrame(rows, columns=["method", "metric", "value", "low", "high", "n"])


def discriminator_table(cfg: RunConfig, seeds: list[int], executor=None) -> dict[str, Any]:
    """Run the variants once per mask seed and aggregate the study's Table 3.

    Parameters
    ----------
    cfg : RunConfig
        Template run (methods, dataset, n, metrics); ``out`` is the ablation directory (new,
        empty or an ablation's; its writer lock is held meanwhile) and ``seed`` is replaced by
        each of ``seeds``.
    seeds : list of int
        Mask seeds (the study used 2-3 repetitions).
    executor : Executor, optional
        Where the runs' work goes; default: opened once from ``cfg.cluster`` for all seeds.

    Returns
    -------
    dict
        ``summary`` (long DataFrame), ``per_seed`` (list of per-method frames) and
        ``runs`` (run directories).
    """
    if executor is None:
        from bench.engine.where import open_executor

        with open_executor(cfg.cluster, cfg.jobs) as opened:
            return discriminator_table(cfg, seeds, opened)
    out = Path(cfg.out)
    per_seed, runs = [], []
    with claim_ablation_dir(out):
        for seed in seeds:
            result = run(replace(cfg, seed=seed, out=out / f"seed-{seed}"), executor)
            runs.append(result.rundir)
            per_seed.append(seed_scores(result.rundir))
    return {"summary": across_seeds(per_seed), "per_seed": per_seed, "runs": runs}


def claim_ablation_dir(out: Path) -> DirClaim:
    """Claim a discriminator ablation's directory (held again by :func:`discriminator_table`).

    The command holds it from the first seed run until its tables are written, so no second
    writer can slip in between.
    """
    return claim_dir(out, "discriminator", legacy=_is_legacy_ablation)


def _is_legacy_ablation(path: Path) -> bool:
    """An ablation directory written before directories were marked: its tables, or only seed runs."""
    entries = list(path.iterdir())
    return (path / "table3.csv").is_file() or (
        bool(entries) and all(p.name.startswith("seed-") and is_legacy_run(p) for p in entries if p.name != ".lock")
    )
