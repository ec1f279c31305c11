"""End to end: a run's files hold standard JSON, exact outputs sit at the PSNR cap, tiny n withholds set metrics."""

import json
import shutil

import pytest

from bench.experiments.runner import RunConfig, run
from bench.outputs.report.markdown import markdown_table
from bench.outputs.report.tables import load_run, metric_table

SET = ["fid", "fid_inf", "kid", "kid_paired", "precision", "recall", "density", "coverage", "pids", "uids"]


def _strict(text):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _strict_files(out):
    for name in ("config.json", "set_metrics.json", "masks.json"):
        if (out / name).is_file():
            _strict((out / name).read_text())
    return [_strict(line) for line in (out / "records.jsonl").read_text().splitlines()]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_every_set_metric_at_tiny_n_is_a_number_or_withheld_and_reruns_pass(tmp_path, n):
    out = tmp_path / "run"
    cfg = RunConfig(methods=["telea"], out=out, n=n, size=64, metrics=["psnr", *SET], progress=False)
    run(cfg)
    run(cfg)  # a rerun of the finished run does not fail either
    _strict_files(out)
    stored = _strict((out / "set_metrics.json").read_text())["telea"]
    assert set(stored) == set(SET)
    for name, res in stored.items():
        withheld = res["details"].get("withheld")
        if withheld:
            assert res["value"] is None and "n >= " in withheld and f"has {n}" in withheld, (name, res)
        else:
            assert isinstance(res["value"], float), (name, res)
    assert stored["fid_inf"]["details"]["withheld"].startswith("FID-inf needs n >= 28")
    assert (stored["fid"]["value"] is None) == (n < 2)
    summary_md = (out / "summary.md").read_text()
    assert "fid_inf of telea withheld: FID-inf needs n >= 28" in summary_md


def test_an_exact_output_scores_the_cap_and_every_table_counts_it(tmp_path):
    first = tmp_path / "first"
    run(RunConfig(methods=["mean"], out=first, n=3, size=64, metrics=["psnr", "mse"], progress=False))
    # A "tool" whose outputs are the ground truth itself: every output is exact.
    preds = tmp_path / "preds"
    shutil.copytree(first / "images", preds)
    out = tmp_path / "exact"
    spec = f"predictions:dir={preds}"
    run(RunConfig(methods=["mean", spec], out=out, n=3, size=64, metrics=["psnr", "mse"], progress=False))
    rows = [r for r in _strict_files(out) if r["method"] == spec]
    assert [r["psnr"] for r in rows] == [100.0] * 3 and [r["hole_psnr"] for r in rows] == [100.0] * 3
    summary_md = (out / "summary.md").read_text()
    assert "(3 at cap)" in summary_md and "capped at 100 dB" in summary_md
    data = load_run(out)
    row = data.summary[(data.summary["method"] == spec) & (data.summary["metric"] == "psnr")].iloc[0]
    assert row["value"] == 100.0 and row["capped"] == 3
    md = markdown_table(metric_table(data.summary, ["psnr", "hole_psnr"]))
    assert md.count("(3 at cap)") == 2 and f"{spec} psnr 3" in md
    from bench.outputs.report.markdown import cells

    text, _ = cells(metric_table(data.summary, ["psnr"]), "latex")
    assert text.loc[spec, "psnr"].startswith("100.00") and "(3 at cap)" in text.loc[spec, "psnr"]
    assert "infty" not in "".join(text["psnr"])
