"""``bench train --budget``: GLCIC inside a lent GPU's short budget (methods/glcic/budget.py).

Threaded image preloading, the packing of run directories under the machine's per-file limit,
config overrides, and a whole budgeted run on the CPU with a tiny network.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from bench.cli import cli
from methods.glcic import budget
from methods.glcic.config import load_config
from methods.glcic.data import TrainImages, sample_batch
from methods.glcic.train import Trainer

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"


def test_preload_caches_every_image_exactly_as_lazy_loading_does():
    cfg = load_config(TINY)
    lazy, eager = TrainImages(cfg), TrainImages(cfg)
    eager.preload(workers=4)
    assert sorted(eager._cache) == list(range(len(eager)))
    for i in range(len(lazy)):
        assert np.array_equal(lazy.image(i), eager.image(i))
    a, b = sample_batch(lazy, cfg, 7), sample_batch(eager, cfg, 7)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)


def _names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def _fake_run(root: Path, snapshots: int, size: int) -> Path:
    run = root / "full"
    (run / "snapshots").mkdir(parents=True)
    rng = np.random.default_rng(0)  # incompressible bytes, so the gzip size is known in advance
    for step in range(1, snapshots + 1):
        (run / "snapshots" / f"step-{step * 100:07d}.pt").write_bytes(rng.bytes(size))
    (run / "glcic-full.pt").write_bytes(rng.bytes(size))
    for name in ("latest.pt", "phase1.pt"):
        (run / name).write_bytes(rng.bytes(size))
    (run / "losses.csv").write_text("step,phase\n0,1\n")
    return run


def test_pack_leaves_out_training_states_and_earliest_snapshots_to_fit(tmp_path):
    pack = budget.pack
    run = _fake_run(tmp_path / "runs", snapshots=4, size=100_000)
    everything = pack(run, tmp_path / "all", limit=10**7)
    names = _names(everything)
    assert "full/glcic-full.pt" in names and "full/losses.csv" in names
    assert not any(n.endswith(("latest.pt", "phase1.pt")) for n in names)
    assert sum("snapshots/" in n for n in names) == 4
    # Room for the weights and two snapshots: the two earliest go.
    fitted = pack(run, tmp_path / "fit", limit=330_000)
    kept = sorted(n for n in _names(fitted) if "snapshots/" in n)
    assert kept == ["full/snapshots/step-0000300.pt", "full/snapshots/step-0000400.pt"]
    assert fitted.stat().st_size <= 330_000
    # Never below the weights and the last snapshot, even when that is over the limit.
    tight = pack(run, tmp_path / "tight", limit=1)
    assert sorted(n for n in _names(tight) if "snapshots/" in n) == ["full/snapshots/step-0000400.pt"]


def test_config_overrides_parse_as_json_else_text():
    assert budget.parse_sets(["width=0.0625", "max_images=200", "dataset=folder"]) == {
        "width": 0.0625,
        "max_images": 200,
        "dataset": "folder",
    }
    cfg = budget.apply_sets(load_config(TINY), ["width=0.25", "seed=3"])
    assert (cfg.width, cfg.seed, cfg.resolution) == (0.25, 3, 64)
    with pytest.raises(ValueError, match="unknown GLCIC config keys"):
        budget.apply_sets(cfg, ["widht=0.5"])
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        budget.parse_sets(["width"])


def test_bad_budget_options_are_usage_errors(tmp_path):
    res = CliRunner().invoke(cli, ["train", "--pack", str(tmp_path / "p"), "--config", str(TINY)])
    assert res.exit_code == 2 and "--pack needs --budget" in res.output
    res = CliRunner().invoke(cli, ["train", "--budget", "60", "--variant", "local", "--config", str(TINY)])
    assert res.exit_code == 2 and "leave out --variant" in res.output
    res = CliRunner().invoke(cli, ["train", "--config", str(TINY), "--set", "widht=0.5"])
    assert res.exit_code == 2 and "widht" in res.output


@pytest.mark.slow
def test_a_budgeted_run_sizes_phase_1_then_trains_the_three_variants_and_packs_them(tmp_path, monkeypatch):
    # A shorter probe and phase-1 share than a GPU run's, so that the CPU finishes in about a minute.
    monkeypatch.setattr(budget, "PROBE_STEPS", 60)
    monkeypatch.setattr(budget, "PHASE1_SHARE", 0.25)
    monkeypatch.setattr(budget, "STARTUP_S", 5.0)
    out, packs = tmp_path / "run", tmp_path / "packs"
    res = CliRunner().invoke(
        cli,
        ["train", "--budget", "75", "--config", str(TINY), "--device", "cpu", "--workers", "2"]
        + ["--set", "ckpt_every=250", "--out", str(out), "--pack", str(packs)],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads((packs / "summary.json").read_text())
    tc = summary["phase1"]["Tc"]
    assert tc >= 500 and tc % 500 == 0
    losses = pd.read_csv(out / "phase1" / "losses.csv")
    assert losses["step"].max() == tc - 1 and (losses["phase"] == 1).all()
    td, t = summary["variants"]["Td"], summary["variants"]["T"]
    assert td >= 50 and t >= 50 and td % 50 == 0 and t % 50 == 0
    for variant in budget.VARIANTS:
        assert summary["variants"][variant] | {"step_s": 0} == {"returncode": 0, "finished": True, "step_s": 0}
        names = _names(packs / f"{variant}.tar.gz")
        assert f"{variant}/glcic-{variant}.pt" in names and f"{variant}/latest.pt" not in names
        steps = pd.read_csv(out / variant / "losses.csv")
        # The branch carries phase 1's rows over from phase1.pt, then adds Td + T of its own.
        assert list(steps["step"]) == list(range(tc + td + t))
        assert steps["phase"].value_counts().to_dict() == {1: tc, 2: td, 3: t}
    assert "phase1/phase1.pt" not in _names(packs / "phase1.tar.gz")


def _curve(path: Path, steps: list[int]) -> None:
    rows = ["label,step,phase,samples_seen,hole_psnr,hole_ssim,psnr,fid"]
    rows += [f"snapshot,{s},3,{s * 2},{20 + s / 10:.2f},0.5,{30 + s / 10:.2f},{40 - s:.1f}" for s in steps]
    rows.append("telea,,,,18.00,0.4,28.00,50.0")
    path.write_text("\n".join(rows) + "\n")


def test_publish_writes_the_three_checkpoints_with_cards_naming_step_phase_and_commit(tmp_path):
    cfg = load_config(TINY).with_overrides(snapshot_every=2)
    Trainer(cfg.with_overrides(steps_phase2=0, steps_phase3=0), tmp_path / "runs" / "phase1", progress=False).run()
    for variant in budget.VARIANTS:
        run = tmp_path / "runs" / variant
        Trainer(
            cfg.with_overrides(variant=variant), run, init_from=tmp_path / "runs/phase1/phase1.pt", progress=False
        ).run()
        _curve(run / "curve.csv", [2, 4, 6])
    notes = tmp_path / "notes.md"
    notes.write_text("## Shared notes\n\nTiny test run.\n")
    dest = tmp_path / "weights"
    args = ["publish", str(tmp_path / "runs"), "--dest", str(dest), "--notes", str(notes), "--probe", "a probe"]
    res = CliRunner().invoke(cli, args + ["--step", "6", "--commit", "abc1234"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        f"{name}{ext}"
        for name in ("iizuka", "iizuka-global", "iizuka-local")
        for ext in (".pt", ".toml", ".md", "-losses.png")
    )
    weights = torch.load(dest / "iizuka-local.pt", weights_only=True)
    assert (
        weights["step"] == 6
        and weights["history"]["git_commit"] == "abc1234"
        and weights["config"]["variant"] == "local"
    )
    card = (dest / "iizuka-global.md").read_text()
    assert "## Shared notes" in card and "## Metrics on the probe (a probe)" in card
    assert "| 6 | 3 | 12 | 20.60 |" in card and "| `telea` (baseline) |" in card
    assert "This checkpoint is step 6 (phase 3)." in card  # after Tc + Td = 3 + 2 steps
    res = CliRunner().invoke(cli, args + ["--step", "4"])
    assert res.exit_code == 0 and "step 4 (phase 1-2)." in (dest / "iizuka.md").read_text()
    # Without --step: each run's final weights (step Tc + Td + T = 7).
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and torch.load(dest / "iizuka.pt", weights_only=True)["step"] == 7
    res = CliRunner().invoke(cli, args + ["--step", "5"])
    assert res.exit_code == 1 and "step-0000005.pt: no such checkpoint to publish" in res.output
