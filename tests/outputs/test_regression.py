"""The regression gate: tolerances, directions, mapping of variants, identity checks, CLI exit codes."""

import json

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.experiments.runner import RunConfig, run
from bench.outputs import regression as reg

PIXEL = ["mse", "psnr", "ssim", "l1"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real run: telea, a worse telea variant, and mean fill on 6 builtin images."""
    out = tmp_path_factory.mktemp("regression") / "run"
    run(RunConfig(methods=["telea", "mean"], out=out, n=6, metrics=PIXEL, progress=False))
    return out


@pytest.fixture
def baseline(small_run, tmp_path):
    path = tmp_path / "baseline.json"
    reg.write_baseline(path, reg.make_baseline(small_run))
    return path


def test_tolerance_arithmetic_by_hand():
    assert reg.Tolerance(abs=0.1).allowed(20.0) == 0.1
    assert reg.Tolerance(abs=0.1, rel=0.01).allowed(20.0) == pytest.approx(0.2)
    assert reg.Tolerance(abs=0.5, rel=0.02).allowed(-10.0) == 0.5
    for bad in ({"abs": -1}, {"abs": "x"}, {}, {"tol": 1}, 0.1):
        with pytest.raises(reg.BaselineError, match="psnr"):
            reg.Tolerance.parse("psnr", bad)


def test_baseline_round_trip_passes_on_its_own_run(small_run, baseline):
    data = reg.read_baseline(baseline)
    assert set(data["methods"]) == {"telea", "mean"} and data["methods"]["telea"]["n"] == 6
    assert data["tolerances"]["psnr"] == {"abs": 0.1} == reg.default_tolerance("psnr")
    assert data["identity"]["mask_sha256"] == json.loads((small_run / "config.json").read_text())["mask_sha256"]
    table = reg.compare(small_run, data)
    assert not reg.failed(table)
    assert set(table["status"]) == {"ok"} and (table["worse_by"].dropna() == 0).all()
    assert len(table) == 2 * (1 + 8)  # n_ok plus 8 metric columns per method


def _edited(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return reg.read_baseline(path)


def test_worse_beyond_tolerance_fails_and_direction_matters(small_run, baseline):
    def shift(data):
        m = data["methods"]["telea"]["metrics"]
        m["psnr"] += 0.11  # run is 0.11 dB below: worse than the 0.1 dB tolerance
        m["mse"] -= 0.00009  # run is 9e-5 above: worse, but within 1e-4
        m["ssim"] -= 0.01  # run is higher than the baseline: better, beyond tolerance

    data = _edited(baseline, shift)
    table = reg.compare(small_run, data).set_index(["method", "metric"])
    assert table.loc[("telea", "psnr"), "status"] == "worse"
    assert table.loc[("telea", "psnr"), "worse_by"] == pytest.approx(0.11)
    assert table.loc[("telea", "mse"), "status"] == "ok"
    assert table.loc[("telea", "ssim"), "status"] == "better"
    assert reg.failed(table.reset_index())


def test_relative_tolerance_in_the_file_is_used(small_run, baseline):
    def loosen(data):
        data["methods"]["telea"]["metrics"]["psnr"] += 0.11
        data["tolerances"]["psnr"] = {"abs": 0.1, "rel": 0.01}  # 1 % of ~30 dB = 0.3 dB

    table = reg.compare(small_run, _edited(baseline, loosen))
    assert not reg.failed(table)


def test_fewer_successful_images_is_a_regression(small_run, baseline):
    data = _edited(baseline, lambda d: d["methods"]["mean"].update(n=7))
    table = reg.compare(small_run, data).set_index(["method", "metric"])
    assert table.loc[("mean", "n_ok"), "status"] == "worse"


def test_mapping_a_worse_method_onto_a_baseline_entry_fails(small_run, baseline):
    data = reg.read_baseline(baseline)
    table = reg.compare(small_run, data, mapping={"mean": "telea"}, allow_missing=True)
    worse = table[table["status"] == "worse"]
    assert set(worse["method"]) == {"telea"} and set(worse["run_method"]) == {"mean"}
    assert {"psnr", "hole_psnr", "mse", "ssim"} <= set(worse["metric"])
    # the run's own telea no longer matches (its name is a mapping target): reported, not compared
    assert ("telea", "new") in set(zip(table["run_method"], table["status"]))
    assert reg.failed(table)


def test_missing_methods_and_metrics(small_run, baseline):
    data = _edited(baseline, lambda d: d["methods"].update(iizuka={"n": 6, "metrics": {"psnr": 30.0}}))
    assert reg.failed(reg.compare(small_run, data))
    assert not reg.failed(reg.compare(small_run, data, allow_missing=True))
    data = _edited(
        baseline, lambda d: d["methods"]["telea"]["metrics"].update(fid=5.0) or d["tolerances"].update(fid={"abs": 0.5})
    )
    table = reg.compare(small_run, data).set_index(["method", "metric"])
    assert table.loc[("telea", "fid"), "status"] == "missing"
    assert not reg.failed(reg.compare(small_run, data, metrics=["psnr"], allow_missing=True))
    with pytest.raises(reg.BaselineError, match="lpips"):
        reg.compare(small_run, data, metrics=["lpips"])


def test_bad_mappings_and_files_are_clear_errors(small_run, baseline, tmp_path):
    data = reg.read_baseline(baseline)
    with pytest.raises(reg.BaselineError, match="'patch'"):
        reg.compare(small_run, data, mapping={"patch": "telea"})
    with pytest.raises(reg.BaselineError, match="'iizuka'"):
        reg.compare(small_run, data, mapping={"mean": "iizuka"})
    with pytest.raises(reg.BaselineError, match="several run methods"):
        reg.compare(small_run, data, mapping={"mean": "telea", "telea": "telea"})
    with pytest.raises(reg.BaselineError, match="hole_psnr"):
        _edited(baseline, lambda d: d["tolerances"].pop("hole_psnr"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(reg.BaselineError, match="not valid JSON"):
        reg.read_baseline(bad)
    with pytest.raises(FileNotFoundError, match="--update"):
        reg.read_baseline(tmp_path / "absent.json")


def test_other_data_cannot_be_compared(small_run, baseline, tmp_path):
    other = tmp_path / "other"
    run(RunConfig(methods=["telea"], out=other, n=6, seed=1, metrics=PIXEL, progress=False))
    with pytest.raises(reg.BaselineError, match="mask_sha256"):
        reg.compare(other, reg.read_baseline(baseline))


def test_cli_exit_codes_and_update(small_run, baseline, tmp_path):
    cli_run = CliRunner()
    ok = cli_run.invoke(cli, ["check", str(small_run), "--baseline", str(baseline)])
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.output and "18 ok" in ok.output
    bad = cli_run.invoke(
        cli,
        [
            "check",
            str(small_run),
            "--baseline",
            str(baseline),
            "--map",
            "mean",
            "telea",
            "--allow-missing",
            "--problems-only",
        ],
    )
    assert bad.exit_code == 1, bad.output
    assert "FAIL" in bad.output and "hole_psnr" in bad.output and "worse" in bad.output
    wrong = cli_run.invoke(cli, ["check", str(small_run), "--baseline", str(tmp_path / "nope.json")])
    assert wrong.exit_code == 2 and "does not exist" in wrong.output

    # --update rewrites the numbers but keeps a tolerance someone tuned by hand
    _edited(
        baseline,
        lambda d: d["tolerances"].update(psnr={"abs": 0.3}) or d["methods"]["telea"]["metrics"].update(psnr=1.0),
    )
    upd = cli_run.invoke(cli, ["check", str(small_run), "--baseline", str(baseline), "--update"])
    assert upd.exit_code == 0, upd.output
    data = reg.read_baseline(baseline)
    assert data["tolerances"]["psnr"] == {"abs": 0.3}
    assert data["methods"]["telea"]["metrics"]["psnr"] > 20 and "better" in upd.output
    fresh = tmp_path / "fresh.json"
    new = cli_run.invoke(
        cli, ["check", str(small_run), "--baseline", str(fresh), "--update", "--map", "mean", "mean-fill"]
    )
    assert new.exit_code == 0, new.output
    assert set(reg.read_baseline(fresh)["methods"]) == {"telea", "mean-fill"}


def test_update_is_deterministic(small_run, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    reg.write_baseline(a, reg.make_baseline(small_run))
    reg.write_baseline(b, reg.make_baseline(small_run))
    assert a.read_bytes() == b.read_bytes()


def test_identity_ignores_where_the_data_lives():
    def config(root, available, ids):
        return {
            "identity": {
                "dataset": {"dataset": "celeba", "root": root, "available": available, "split": "test"},
                "n": 32,
                "seed": 0,
                "mask_family": "rects",
                "ids_sha256": ids,
            },
            "mask_sha256": "m",
        }

    assert reg.run_identity(config("/a/celeba", 1000, "x")) == reg.run_identity(config("/b/c", 2000, "x"))
    assert reg.run_identity(config("/a/celeba", 1000, "x")) != reg.run_identity(config("/a/celeba", 1000, "y"))


# --- like-for-like: identity, extractor, definitions, values, file mode ---------------------------


def _strict(text):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _copy_with(small_run, tmp_path, name, set_metrics=None, config_edit=None):
    """A copy of the run with a stored set_metrics.json and/or an edited config.json."""
    import shutil

    out = tmp_path / name
    shutil.copytree(small_run, out, ignore=shutil.ignore_patterns("*.lock"))
    if set_metrics is not None:
        (out / "set_metrics.json").write_text(json.dumps(set_metrics))
    if config_edit is not None:
        config = json.loads((out / "config.json").read_text())
        config_edit(config)
        (out / "config.json").write_text(json.dumps(config))
    return out


def _fid(value, sha, withheld=None):
    details = {"n": 6, "extractor": "x", "extractor_sha256": sha}
    if withheld:
        details["withheld"] = withheld
    return {"fid": {"value": value, "low": None, "high": None, "details": details}}


@pytest.mark.parametrize(
    "text, shown", [("NaN", "NaN"), ("null", "null"), ("Infinity", "Infinity"), ('"29.6"', "'29.6'")]
)
def test_a_baseline_value_that_is_not_a_finite_number_is_an_error_naming_it(baseline, text, shown):
    raw = json.loads(baseline.read_text())
    raw["methods"]["telea"]["metrics"]["psnr"] = "@@"
    baseline.write_text(json.dumps(raw).replace('"@@"', text))
    with pytest.raises(reg.BaselineError, match=rf"methods\.telea\.metrics\.psnr is {shown}"):
        reg.read_baseline(baseline)
    out = CliRunner().invoke(cli, ["check", str(baseline.parent), "--baseline", str(baseline)])
    assert out.exit_code == 2 and "methods.telea.metrics.psnr" in out.output and "ok" not in out.output


def test_a_run_with_another_feature_extractor_is_refused(small_run, tmp_path):
    inception = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
    ours = _copy_with(small_run, tmp_path, "inception", {"telea": _fid(40.0, inception), "mean": _fid(90.0, inception)})
    base = reg.make_baseline(ours)
    assert base["identity"]["extractor_sha256"] == inception
    other = _copy_with(small_run, tmp_path, "other", {"telea": _fid(0.001, "f" * 64), "mean": _fid(0.002, "f" * 64)})
    with pytest.raises(reg.BaselineError, match=r"extractor_sha256: baseline 7ff4a85c.*vs run ffff.*--allow-different"):
        reg.compare(other, base)
    table = reg.compare(other, base, allow_different=["extractor_sha256"])
    assert any("extractor_sha256" in w for w in table.attrs["warnings"])
    path = tmp_path / "b.json"
    reg.write_baseline(path, base)
    out = CliRunner().invoke(cli, ["check", str(other), "--baseline", str(path)])
    assert out.exit_code == 2 and "extractor_sha256" in out.output and "better" not in out.output
    with pytest.raises(reg.BaselineError, match="unknown key extractor"):
        reg.compare(other, base, allow_different=["extractor"])
    anyway = CliRunner().invoke(
        cli, ["check", str(other), "--baseline", str(path), "--allow-different", "extractor_sha256"]
    )
    assert anyway.exit_code == 0, anyway.output
    assert "warning: compared despite a different extractor_sha256" in anyway.output


def test_other_n_dataset_or_metric_definition_is_refused_by_name(small_run, baseline, tmp_path):
    data = reg.read_baseline(baseline)
    assert data["identity"]["metric_definitions"]["psnr"].startswith("psnr/2")
    other_n = tmp_path / "n4"
    run(RunConfig(methods=["telea"], out=other_n, n=4, metrics=PIXEL, progress=False))
    with pytest.raises(reg.BaselineError, match=r"\bn: baseline 6 vs run 4"):
        reg.compare(other_n, data)

    def other_photos(config):
        config["identity"]["dataset"]["photos"] = ["astronaut"]

    with pytest.raises(reg.BaselineError, match=r"dataset: baseline"):
        reg.compare(_copy_with(small_run, tmp_path, "photos", config_edit=other_photos), data)

    def uncapped(config):
        config["metric_definitions"]["psnr"] = "psnr/1: 10 log10(1 / MSE), data_range 1"

    old_psnr = _copy_with(small_run, tmp_path, "uncapped", config_edit=uncapped)
    with pytest.raises(reg.BaselineError, match=r"metric_definitions\.psnr: baseline psnr/2"):
        reg.compare(old_psnr, data)
    # a check of other columns does not need the PSNR definitions to agree
    assert not reg.failed(reg.compare(old_psnr, data, metrics=["ssim", "mse"]))
    assert not reg.failed(reg.compare(old_psnr, data, allow_different=["metric_definitions"]))


def test_a_baseline_without_the_newer_identity_keys_warns(small_run, baseline):
    data = _edited(baseline, lambda d: d["identity"].pop("metric_definitions"))
    table = reg.compare(small_run, data)
    assert not reg.failed(table) and any("no metric definitions" in w for w in table.attrs["warnings"])
    out = CliRunner().invoke(cli, ["check", str(small_run), "--baseline", str(baseline)])
    assert out.exit_code == 0 and "warning: the baseline records no metric definitions" in out.output


def test_a_withheld_set_metric_is_reported_not_failed_and_not_stored(small_run, tmp_path):
    sha = "a" * 64
    full = _copy_with(small_run, tmp_path, "full", {"telea": _fid(40.0, sha), "mean": _fid(90.0, sha)})
    base = reg.make_baseline(full)
    reason = "FID needs n >= 7 images"
    held = _copy_with(small_run, tmp_path, "held", {"telea": _fid(None, sha, reason), "mean": _fid(90.0, sha)})
    table = reg.compare(held, base).set_index(["method", "metric"])
    assert table.loc[("telea", "fid"), "status"] == "withheld" and not reg.failed(table.reset_index())
    assert any(reason in w for w in table.attrs["warnings"])
    fresh = reg.make_baseline(held)
    assert "fid" not in fresh["methods"]["telea"]["metrics"] and fresh["methods"]["mean"]["metrics"]["fid"] == 90.0
    path = tmp_path / "fresh.json"
    reg.write_baseline(path, fresh)
    _strict(path.read_text())  # standard JSON: no NaN, no Infinity


def test_update_keeps_the_mode_and_refuses_a_read_only_baseline(small_run, baseline):
    import stat

    baseline.chmod(0o640)
    out = CliRunner().invoke(cli, ["check", str(small_run), "--baseline", str(baseline), "--update"])
    assert out.exit_code == 0, out.output
    assert stat.S_IMODE(baseline.stat().st_mode) == 0o640
    before = baseline.read_bytes()
    baseline.chmod(0o444)
    out = CliRunner().invoke(cli, ["check", str(small_run), "--baseline", str(baseline), "--update"])
    assert out.exit_code == 2 and "read-only" in out.output and "444" in out.output
    assert stat.S_IMODE(baseline.stat().st_mode) == 0o444 and baseline.read_bytes() == before


def test_update_replaces_a_baseline_with_a_bad_value(small_run, baseline):
    raw = json.loads(baseline.read_text())
    raw["methods"]["telea"]["n"] = None
    baseline.write_text(json.dumps(raw))
    with pytest.raises(reg.BaselineError, match=r"methods\.telea\.n must be a whole number"):
        reg.read_baseline(baseline)
    out = CliRunner().invoke(cli, ["check", str(small_run), "--baseline", str(baseline), "--update"])
    assert out.exit_code == 0 and "previous baseline unusable" in out.output
    assert reg.read_baseline(baseline)["methods"]["telea"]["n"] == 6
