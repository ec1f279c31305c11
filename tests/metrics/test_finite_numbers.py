"""Numbers are numbers: the PSNR cap, set metrics withheld at small n, summaries that say so."""

import math

import numpy as np
import pandas as pd
import pytest
from skimage.metrics import peak_signal_noise_ratio

import bench.metrics.fid as fid_mod
from bench.metrics import SetMetricContext, get_metric
from bench.metrics.frechet import fid_infinity_min_n, fid_infinity_sizes
from bench.metrics.pixel import PSNR_MAX, psnr, psnr_capped, psnr_from_mse
from bench.outputs.summary import summarize, to_markdown

SET_METRICS = ("fid", "fid_inf", "kid", "kid_paired", "precision", "recall", "density", "coverage", "pids", "uids")


def _images(seed=0, size=16):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, (size, size, 3)).astype(np.float32) / 255
    mask = np.zeros((size, size), bool)
    mask[4:9, 3:12] = True
    return target, mask


def test_psnr_matches_scikit_image_below_the_cap_and_caps_exact_outputs():
    target, mask = _images()
    pred = target.copy()
    pred[mask] = 0.5
    ref = peak_signal_noise_ratio(target.astype(np.float64), pred.astype(np.float64), data_range=1.0)
    assert psnr(pred, target, mask) == pytest.approx(ref, rel=1e-12)
    hole_mse = float(np.mean((pred[mask].astype(np.float64) - target[mask]) ** 2))
    assert psnr(pred, target, mask, "hole") == pytest.approx(10 * math.log10(1 / hole_mse), rel=1e-12)
    # scikit-image gives inf for an exact copy; the suite gives the stated cap
    with np.errstate(divide="ignore"):
        assert math.isinf(peak_signal_noise_ratio(target, target, data_range=1.0))
    assert psnr(target, target, mask) == psnr(target, target, mask, "hole") == PSNR_MAX == 100.0
    # the cap is min(10 log10(1 / MSE), 100): a 1e-11 MSE (110 dB) is capped, 1e-9 (90 dB) is not
    assert psnr_from_mse(1e-11) == 100.0 and psnr_from_mse(1e-9) == pytest.approx(90.0)
    assert math.isnan(psnr(pred, target, np.zeros_like(mask), "hole"))  # no hole: no value


def test_psnr_capped_clips_infinities_of_older_records():
    got = psnr_capped([20.0, np.inf, np.nan, 150.0])
    assert got[0] == 20.0 and got[1] == got[3] == PSNR_MAX and math.isnan(got[2])


def _records(psnrs_a, psnrs_b):
    rows = []
    for method, values in (("A", psnrs_a), ("B", psnrs_b)):
        for i, v in enumerate(values):
            rows.append({"method": method, "image_id": f"i{i}", "status": "ok", "psnr": v, "hole_psnr": v - 10})
    return pd.DataFrame(rows)


def test_summary_mean_is_finite_and_counts_images_at_the_cap():
    frame = _records([30.0, 100.0, np.inf, 20.0], [25.0, 26.0, 27.0, 28.0])
    summary = summarize(frame).set_index(["method", "metric"])
    # by hand: (30 + 100 + 100 + 20) / 4 = 62.5, two images at the cap (one written as inf by an older version)
    assert summary.loc[("A", "psnr"), "value"] == pytest.approx(62.5)
    assert summary.loc[("A", "psnr"), "capped"] == 2 and summary.loc[("B", "psnr"), "capped"] == 0
    assert summary.loc[("A", "hole_psnr"), "capped"] == 1  # 90 and inf - 10 = inf -> the cap
    assert np.isfinite(summary.loc[("A", "psnr"), ["value", "low", "high"]].astype(float)).all()
    md = to_markdown(summarize(frame), metrics=["psnr", "hole_psnr"])
    assert "(2 at cap)" in md and "(1 at cap)" in md and "capped at 100 dB" in md
    assert "at cap" not in to_markdown(summarize(_records([30.0], [20.0])), metrics=["psnr"])


def test_withheld_set_metric_reads_withheld_with_its_reason():
    frame = _records([30.0, 31.0], [25.0, 26.0])
    stored = {
        "A": {"fid_inf": {"value": None, "low": None, "high": None, "details": {"n": 2, "withheld": "too few"}}},
        "B": {"fid": {"value": 12.5, "low": 10.0, "high": 15.0, "details": {"n": 2}}},
    }
    summary = summarize(frame, stored)
    row = summary[(summary["method"] == "A") & (summary["metric"] == "fid_inf")].iloc[0]
    assert math.isnan(row["value"]) and row["note"] == "too few"
    md = to_markdown(summary, metrics=["psnr", "fid", "fid_inf"])
    assert "withheld" in md and "fid_inf of A withheld: too few" in md


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("name", SET_METRICS)
def test_set_metrics_at_tiny_n_give_a_number_or_a_reason(name, n):
    # Random 64-d features instead of Inception's: the maths and the n checks are what is tested.
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(n, 64)), rng.normal(0.3, 1.0, size=(n, 64))
    ctx = SetMetricContext(seed=0, options={"fid_bootstrap": 20}, progress=False)
    res = get_metric(name).fn(real, fake, ctx)
    if "withheld" in res.details:
        assert math.isnan(res.value) and "n >= " in res.details["withheld"] and str(n) in res.details["withheld"]
    else:
        assert math.isfinite(res.value)
    # which ones exist at which n: a covariance, MMD pairs and an SVM need 2; k-NN needs k + 1; FID-inf 28
    needs = {"fid_inf": 28, "precision": 4, "recall": 4, "density": 6, "coverage": 6}.get(name, 2)
    assert ("withheld" in res.details) == (n < needs)


def test_fid_inf_needs_its_fifteen_subset_sizes():
    assert fid_infinity_min_n() == 28
    assert fid_infinity_sizes(27).size == 14 and fid_infinity_sizes(28).size == 15
    assert fid_infinity_sizes(28).tolist() == list(range(14, 29))  # 14, 15, ..., 28 by hand


@pytest.mark.parametrize("intercept", [-11.2, 7.5])
def test_a_negative_fid_inf_is_withheld_a_positive_one_kept(monkeypatch, intercept):
    x = np.random.default_rng(0).normal(size=(40, 64))
    ns, fids = np.arange(20, 41), np.linspace(60.0, 40.0, 21)
    monkeypatch.setattr(fid_mod, "fid_infinity", lambda r, f, seed=0, shared=None: (intercept, ns, fids))
    ctx = SetMetricContext(seed=0, options={})
    res = get_metric("fid_inf").fn(x, x.copy(), ctx)
    if intercept < 0:
        assert math.isnan(res.value) and "negative intercept (-11.2)" in res.details["withheld"]
        assert res.details["subset_fids"] == list(fids)  # the fit's points stay inspectable
    else:
        assert res.value == intercept and "withheld" not in res.details
