"""Set metrics added to a finished run are computed from its stored features, and only they are.

A default run, then the same run with ``--metrics all``: no method runs, no feature is extracted
(the store file is not touched), the default run's FID/KID results are kept as they were, and the
new set metrics appear.
"""

from __future__ import annotations

import json

from bench.experiments.runner import RunConfig, run
from bench.metrics import all_metrics, default_metrics


def test_metrics_all_after_a_default_run_computes_only_the_new_ones(tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig(methods=["telea", "mean"], out=out, n=12, size=96, progress=False)
    run(cfg)
    store = next((out / "features").glob("*.features"))
    stat = store.stat()
    before = json.loads((out / "set_metrics.json").read_text())

    names = [m.name for m in all_metrics() if m.name != "lpips"]  # no LPIPS backbone on test machines
    again = run(RunConfig(**{**cfg.__dict__, "metrics": names}))
    assert again.computed == 0
    after_stat = store.stat()
    assert (after_stat.st_size, after_stat.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns), "features extracted again"
    after = json.loads((out / "set_metrics.json").read_text())
    defaults = {m.name for m in default_metrics() if m.kind == "set"}
    added = {m.name for m in all_metrics("set")} - defaults
    for spec in ("telea", "mean"):
        for name in defaults:
            assert after[spec][name] == before[spec][name], f"{spec} {name} was computed again"
        assert added <= set(after[spec]), f"{spec}: {sorted(added - set(after[spec]))} missing"
