"""``bench report --bins area``: FID and KID per hole-area bin from the run's stored features.

Every per-bin value is checked against a Frechet distance computed here with
``scipy.linalg.sqrtm`` and a KID computed here from its formula, on features read straight
from the run's store file (parsed here byte by byte, not through the suite's reader), on the
same images, binned here with ``pd.cut``.
"""

from __future__ import annotations

import json
import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from click.testing import CliRunner

from bench.cli import cli
from bench.experiments.runner import RunConfig, run
from tests.outputs.test_report_latex_width import synthetic_run

LAMA_EDGES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, np.inf]
LAMA_LABELS = ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%", "\u226560%"]
MAGIC = b"inpaint-bench features 1\n"
# The n x n matrix whose square root is taken is singular by construction (centred rows).
pytestmark = pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")


def small_run(out: Path, masks: str = "rects", n: int = 12, methods=("telea", "mean")) -> Path:
    """A builtin run at 64 px with FID and KID (its features stored by the run)."""
    run(
        RunConfig(
            methods=list(methods),
            out=out,
            size=64,
            n=n,
            mask_family=masks,
            metrics=["mse", "fid", "kid"],
            progress=False,
        )
    )
    return out


def read_store(run_dir: Path) -> dict[str, np.ndarray]:
    """``{pixel sha256: float64 features}`` of the run's one store file, parsed from its documented layout."""
    (path,) = sorted((run_dir / "features").glob("*.features"))
    raw = path.read_bytes()
    assert raw.startswith(MAGIC)
    end = raw.index(b"\n", len(MAGIC)) + 1
    dim = json.loads(raw[len(MAGIC) : end])["dim"]
    size = 32 + 4 * dim + 4
    out = {}
    for start in range(end, len(raw) - size + 1, size):
        body, crc = raw[start : start + size - 4], raw[start + size - 4 : start + size]
        assert zlib.crc32(body).to_bytes(4, "little") == crc
        out[body[:32].hex()] = np.frombuffer(body[32:], dtype="<f4").astype(np.float64)
    return out


def records(run_dir: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows).drop_duplicates(["method", "image_id"], keep="last")
    return frame[frame["status"] == "ok"]


def features_of(run_dir: Path, method: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Real and output features of ``method`` on ``ids``, looked up by the digests the rows record."""
    store = read_store(run_dir)
    rec = records(run_dir).set_index(["method", "image_id"])
    real = np.stack([store[rec.loc[(method, i), "image_sha256"]] for i in ids])
    fake = np.stack([store[rec.loc[(method, i), "output_sha256"]] for i in ids])
    return real, fake


def nuclear_fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID with tr sqrt(S1 S2) exactly: with S1 = A'A, S2 = B'B (centred rows over sqrt(n-1)) it is the
    sum of the singular values of A B' (the eigenvalues of S1 S2 are those of (A B')(A B')')."""
    n1, n2 = len(a), len(b)
    ca, cb = (a - a.mean(0)) / np.sqrt(n1 - 1), (b - b.mean(0)) / np.sqrt(n2 - 1)
    d = a.mean(0) - b.mean(0)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
    return float(d @ d + (ca * ca).sum() + (cb * cb).sum() - 2 * cross)


def small_sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID with scipy's sqrtm of the n x n matrix A S2 A' (A the centred rows of ``a`` over sqrt(n-1)),
    whose nonzero eigenvalues are those of S1 S2: the same trace, without a 2048 x 2048 square root."""
    ca = (a - a.mean(0)) / np.sqrt(len(a) - 1)
    d = a.mean(0) - b.mean(0)
    s2 = np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ s2 @ ca.T)
    return float(d @ d + np.trace(np.cov(a, rowvar=False)) + np.trace(s2) - 2 * np.trace(root).real)


# pytorch-fid's scipy sqrtm of the 2048 x 2048 product takes a minute here and, with covariances of
# rank < 12, is good to about 1e-5 only. The n x n matrix is singular too (centred rows), so its sqrtm
# is good to about sqrt(machine epsilon); the singular values agree to 1e-9.
SMALL_SQRTM_REL = 1e-7


def assert_fid(value: float, real: np.ndarray, fake: np.ndarray, where) -> None:
    assert value == pytest.approx(nuclear_fid(real, fake), rel=1e-9), where
    assert value == pytest.approx(small_sqrtm_fid(real, fake), rel=SMALL_SQRTM_REL), where


def formula_kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 over all pairs (one subset holds every image)."""
    d, m = a.shape[1], len(a)
    kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2 * kxy.mean())


@pytest.fixture(scope="module")
def run12(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.mktemp("binsfeat") / "run")


@pytest.fixture(scope="module")
def binned(run12, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("binsrep") / "rep"
    res = CliRunner().invoke(
        cli, ["report", str(run12), "--out", str(out), "--bins", "area", "--no-compile", "--no-grid"]
    )
    assert res.exit_code == 0, res.output
    return out


def test_the_store_read_here_gives_the_runs_own_fid(run12):
    # The reader and the routes of this file reproduce the run's whole-set values first.
    sets = json.loads((run12 / "set_metrics.json").read_text())
    for method in ("telea", "mean"):
        ids = list(records(run12).query("method == @method")["image_id"])
        real, fake = features_of(run12, method, ids)
        assert_fid(sets[method]["fid"]["value"], real, fake, method)
        assert sets[method]["kid"]["value"] == pytest.approx(formula_kid(real, fake), rel=1e-6, abs=1e-12)


def test_per_bin_fid_and_kid_equal_scipy_on_the_same_subsets(run12, binned):
    got = pd.read_csv(binned / "set_area.csv")
    rec = records(run12)
    rec = rec.assign(bin=pd.cut(rec["mask_area"], LAMA_EDGES, right=False, labels=LAMA_LABELS).astype(str))
    checked = 0
    for (method, label), part in rec.groupby(["method", "bin"]):
        ids = list(part["image_id"])
        row = {m: got[(got["method"] == method) & (got["bin"] == label) & (got["metric"] == m)] for m in ("fid", "kid")}
        assert len(row["fid"]) == 1 and int(row["fid"]["n"].iloc[0]) == len(ids), (method, label)
        if len(ids) < 2:  # a covariance needs two images: withheld, and the note says so
            assert np.isnan(row["fid"]["value"].iloc[0]) and "n >= 2" in row["fid"]["note"].iloc[0]
            continue
        real, fake = features_of(run12, method, ids)
        assert_fid(row["fid"]["value"].iloc[0], real, fake, (method, label))
        assert row["kid"]["value"].iloc[0] == pytest.approx(formula_kid(real, fake), rel=1e-6, abs=1e-12)
        low, high = row["fid"]["low"].iloc[0], row["fid"]["high"].iloc[0]
        assert np.isfinite(low) and low < high  # the metric's own bootstrap interval within the bin
        checked += 1
    assert checked >= 4  # both methods, at least two populated bins each


def test_binned_set_tables_say_n_and_the_small_n_bias(run12, binned):
    md = (binned / "report.md").read_text()
    tex = (binned / "table_set_area.tex").read_text()
    assert "## Set metrics by hole area" in md
    assert "FID is biased upwards at small n" in md and "comparable only between sets of equal n" in md
    assert "FID is biased upwards at small n" in tex
    counts = records(run12).query("method == 'telea'")["mask_area"]
    counts = pd.cut(counts, LAMA_EDGES, right=False, labels=LAMA_LABELS).value_counts()
    for label, n in counts.items():
        if n:
            assert f"### Hole area {label} (n = {n})" in md.split("## Set metrics by hole area")[1]
            latex_label = label.replace("-", "--").replace("%", r"\%").replace("\u2265", r"$\geq$")
            assert rf"\emph{{Hole area {latex_label}, $n = {n}$}}" in tex
    assert "Per hole-area bin values follow" in (binned / "table_set.tex").read_text()


def test_a_run_without_its_store_is_refused_in_one_line(run12, tmp_path):
    gone = tmp_path / "run"
    shutil.copytree(run12, gone)
    shutil.rmtree(gone / "features")
    res = CliRunner().invoke(cli, ["report", str(gone), "--out", str(tmp_path / "r"), "--bins", "area"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and str(gone) in lines[0] and "no stored features" in lines[0]
    assert "`bench run` with the run's options" in lines[0]
    assert not (tmp_path / "r").exists()  # refused before the report's folder is made
    # Without --bins nothing needs the features: the report is as before.
    ok = CliRunner().invoke(cli, ["report", str(gone), "--out", str(tmp_path / "r2"), "--no-compile", "--no-grid"])
    assert ok.exit_code == 0, ok.output


def test_a_store_missing_some_features_says_how_many(run12, tmp_path):
    part = tmp_path / "run"
    shutil.copytree(run12, part)
    (path,) = (part / "features").glob("*.features")
    raw = path.read_bytes()
    end = raw.index(b"\n", len(MAGIC)) + 1
    size = 32 + 4 * json.loads(raw[len(MAGIC) : end])["dim"] + 4
    path.write_bytes(raw[: end + 3 * size])  # three records kept: most real and output features lost
    res = CliRunner().invoke(cli, ["report", str(part), "--out", str(tmp_path / "r"), "--bins", "area"])
    assert res.exit_code == 1
    (line,) = res.output.strip().splitlines()
    assert str(part) in line and "`bench run` with the run's options" in line
    assert not (tmp_path / "r").exists()  # refused before the report's folder is made
    found = re.search(r": (\d+) of (\d+) features are not stored in .*\((.*)\);", line)
    assert found, line
    # Three records kept of the 12 real images and the 2 x 12 outputs (identical pixels stored once).
    stored = read_store(run12)
    assert int(found[2]) == len(stored) and int(found[1]) == len(stored) - 3
    assert "the real images: " in found[3] and "the outputs of telea: " in found[3]


def test_a_run_with_set_metrics_and_no_store_at_all(tmp_path):
    # A run written before runs stored features: its whole-run FID stays; splitting it is refused.
    old = synthetic_run(tmp_path / "old", methods=["telea", "mean"], n=20, max_area=0.5)
    res = CliRunner().invoke(cli, ["report", str(old), "--out", str(tmp_path / "r"), "--bins", "area"])
    assert res.exit_code == 1 and "no stored features" in res.output and len(res.output.strip().splitlines()) == 1
