"""GLCIC training: phase switching, resume after a kill, branching, CLI, torchrun."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import CELEBA_ROOT, needs_celeba

from methods.glcic.config import load_config
from methods.glcic.train import Trainer, export_weights, load_training_checkpoint

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_thread")


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _opt_equal(a: dict, b: dict) -> bool:
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(_states_equal(a["state"][k], b["state"][k]) for k in a["state"])


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return [r[:-1] for r in csv.reader(fh)]  # drop the timing column


def test_phases_switch_at_configured_steps(tmp_path):
    cfg = load_config(TINY).with_overrides(ckpt_every=1)  # Tc=3, Td=2, T=2
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer._build()
    c0 = {k: v.clone() for k, v in trainer.C.state_dict().items()}
    d0 = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    snaps = {}
    for stop in (3, 5, 7):
        Trainer(cfg, tmp_path, progress=False).run(stop_at=stop)
        snaps[stop] = load_training_checkpoint(tmp_path / "latest.pt")
        assert snaps[stop]["step"] == stop
    # Phase 1 trains only C; phase 2 only D; phase 3 both.
    assert not _states_equal(snaps[3]["completion"], c0)
    assert _states_equal(snaps[3]["discriminator"], d0)
    assert _states_equal(snaps[5]["completion"], snaps[3]["completion"])
    assert not _states_equal(snaps[5]["discriminator"], snaps[3]["discriminator"])
    assert not _states_equal(snaps[7]["completion"], snaps[5]["completion"])
    assert not _states_equal(snaps[7]["discriminator"], snaps[5]["discriminator"])
    rows = _rows(tmp_path / "losses.csv")
    assert rows[0] == ["step", "phase", "mse", "adv", "d_loss", "d_real", "d_fake"]
    assert [int(r[1]) for r in rows[1:]] == [1, 1, 1, 2, 2, 3, 3]
    assert [int(r[0]) for r in rows[1:]] == list(range(7))
    # Losses exist exactly where their phase computes them.
    assert all(r[3] == r[4] == "nan" and r[2] != "nan" for r in rows[1:4])
    assert all(r[2] == r[3] == "nan" and r[4] != "nan" for r in rows[4:6])
    assert all("nan" not in r for r in rows[6:8])
    assert (tmp_path / "phase1.pt").exists() and load_training_checkpoint(tmp_path / "phase1.pt")["step"] == 3
    assert (tmp_path / "glcic-full.pt").exists() and (tmp_path / "losses.png").stat().st_size > 1000


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    cfg = load_config(TINY)  # ckpt_every=2, 7 steps
    Trainer(cfg, tmp_path / "straight", progress=False).run()
    killed = tmp_path / "killed"
    # Stop after step index 4: the checkpoint is at step 4, so step 4 is lost as in a kill
    # and must be redone identically from the batch of (seed, step).
    Trainer(cfg, killed, progress=False).run(stop_at=5)
    assert load_training_checkpoint(killed / "latest.pt")["step"] == 4
    assert len(_rows(killed / "losses.csv")) == 1 + 5
    Trainer(cfg, killed, progress=False).run()
    a = load_training_checkpoint(tmp_path / "straight" / "latest.pt")
    b = load_training_checkpoint(killed / "latest.pt")
    assert a["step"] == b["step"] == 7
    assert _states_equal(a["completion"], b["completion"])
    assert _states_equal(a["discriminator"], b["discriminator"])
    assert _opt_equal(a["opt_c"], b["opt_c"]) and _opt_equal(a["opt_d"], b["opt_d"])
    assert _rows(tmp_path / "straight" / "losses.csv") == _rows(killed / "losses.csv")


def test_a_damaged_losses_csv_is_resumed_without_losing_or_doubling_a_step(tmp_path, caplog):
    cfg = load_config(TINY)  # ckpt_every=2, 7 steps
    Trainer(cfg, tmp_path / "straight", progress=False).run()
    killed = tmp_path / "killed"
    Trainer(cfg, killed, progress=False).run(stop_at=5)
    losses = killed / "losses.csv"
    lines = losses.read_bytes().splitlines(keepends=True)  # header, steps 0-4; the checkpoint is at 4
    losses.write_bytes(b"".join(lines[:2]) + b"\xff garbage\n" + b"".join(lines[3:]) + b"5,3,0.01")
    Trainer(cfg, killed, progress=False).run()
    assert f"{losses}: unreadable line 3 and a last line cut short (8 bytes, no newline); moved to" in caplog.text
    assert (killed / "losses.csv.damaged-1").read_bytes() == b"\xff garbage\n5,3,0.01"
    rows = _rows(losses)
    assert [r[0] for r in rows[1:]] == ["0", "2", "3", "4", "5", "6"], "the damaged step is named, not invented"
    straight = _rows(tmp_path / "straight" / "losses.csv")
    assert rows == straight[:2] + straight[3:]


def test_branching_from_phase1_equals_a_direct_run(tmp_path):
    cfg = load_config(TINY).with_overrides(variant="local")
    Trainer(cfg, tmp_path / "direct", progress=False).run()
    # Phase 1 is discriminator-free: train it once as 'full', then branch 'local'.
    Trainer(cfg.with_overrides(variant="full", steps_phase2=0, steps_phase3=0), tmp_path / "p1", progress=False).run()
    Trainer(cfg, tmp_path / "branch", init_from=tmp_path / "p1" / "phase1.pt", progress=False).run()
    a = load_training_checkpoint(tmp_path / "direct" / "latest.pt")
    b = load_training_checkpoint(tmp_path / "branch" / "latest.pt")
    assert _states_equal(a["completion"], b["completion"])
    assert _states_equal(a["discriminator"], b["discriminator"])
    assert b["history"]["init_from"].endswith("phase1.pt")
    assert _rows(tmp_path / "direct" / "losses.csv") == _rows(tmp_path / "branch" / "losses.csv")


def test_incompatible_resume_and_branch_are_refused(tmp_path):
    cfg = load_config(TINY)
    Trainer(cfg, tmp_path / "a", progress=False).run(stop_at=2)
    with pytest.raises(ValueError, match="width"):
        Trainer(cfg.with_overrides(width=0.25), tmp_path / "a", progress=False).run()
    with pytest.raises(ValueError, match="not 'global'"):
        Trainer(cfg.with_overrides(variant="global"), tmp_path / "a", progress=False).run()
    Trainer(cfg, tmp_path / "a", progress=False).run()
    with pytest.raises(ValueError, match="past phase 1"):
        Trainer(cfg, tmp_path / "b", init_from=tmp_path / "a" / "latest.pt", progress=False).run()
    with pytest.raises(ValueError, match="not a GLCIC training checkpoint"):
        load_training_checkpoint(tmp_path / "a" / "glcic-full.pt")


def test_exported_weights_are_fp16_with_metadata(tmp_path):
    cfg = load_config(TINY)
    weights = Trainer(cfg, tmp_path, progress=False).run()
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    train = load_training_checkpoint(tmp_path / "latest.pt")
    assert ckpt["format"] == "glcic-weights-v1" and ckpt["variant"] == "full"
    assert ckpt["width"] == 0.125 and ckpt["resolution"] == 64 and ckpt["config"] == cfg.to_dict()
    assert len(ckpt["mean_pixel"]) == 3 and ckpt["mean_pixel"] == train["mean_pixel"]
    for key, value in ckpt["state_dict"].items():
        ref = train["completion"][key]
        if ref.is_floating_point():
            assert value.dtype == torch.float16
            assert torch.allclose(value.float(), ref, rtol=1e-3, atol=1e-4)
    assert set(ckpt["final_losses"]) == {"mse", "adv", "d_loss", "d_real", "d_fake"}
    assert set(ckpt["history"]["wall_s"]) == {"1", "2", "3"}
    assert export_weights(tmp_path / "latest.pt", tmp_path / "again.pt").exists()
    card = (tmp_path / "glcic-full.md").read_text()
    for fact in ("Tc=3", "Td=2", "T=2", "hubble-000", "width multiplier | 0.125", "builtin"):
        assert fact in card, fact


def _folder_of_pngs(root: Path, n: int) -> Path:
    from PIL import Image

    from bench.core.images import to_uint8
    from bench.inputs.data import get_source

    root.mkdir()
    for sample in get_source("builtin", split="train", size=90).take(n)[0]:
        Image.fromarray(to_uint8(sample.image)).save(root / f"{sample.id}.png")
    return root


def test_trains_on_a_folder_dataset_through_the_cli(tmp_path):
    from bench.cli import cli

    root = _folder_of_pngs(tmp_path / "imgs", 4)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--config",
            str(TINY),
            "--dataset",
            "folder",
            "--data-root",
            str(root),
            "--steps-phase1",
            "2",
            "--steps-phase2",
            "1",
            "--steps-phase3",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    ckpt = load_training_checkpoint(out / "latest.pt")
    assert ckpt["history"]["data"]["dataset"] == "folder" and ckpt["history"]["data"]["n_ids"] == 4


@needs_celeba
def test_trains_on_celeba_train_ids(tmp_path):
    from bench.cli import cli

    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--config",
            str(TINY),
            "--dataset",
            "celeba",
            "--data-root",
            str(CELEBA_ROOT),
            "--steps-phase1",
            "2",
            "--steps-phase2",
            "1",
            "--steps-phase3",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    data = load_training_checkpoint(out / "latest.pt")["history"]["data"]
    assert data["dataset"] == "celeba" and data["split"] == "train"
    assert int(data["last_id"]) <= 162770  # the official train range


def test_cli_trains_and_saves_resolved_config(tmp_path):
    from bench.cli import cli

    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--config",
            str(TINY),
            "--variant",
            "global",
            "--out",
            str(out),
            "--steps-phase3",
            "1",
            "--seed",
            "3",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    saved = load_config(out / "config.toml")
    assert saved == load_config(TINY).with_overrides(variant="global", steps_phase3=1, seed=3)
    assert (out / "glcic-global.pt").exists() and "iizuka:ckpt=" in result.output
    bad = CliRunner().invoke(cli, ["train", "--config", str(TINY), "--resolution", "66", "--out", str(out)])
    assert bad.exit_code != 0 and "resolution=66" in bad.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and sys.platform == "win32", reason="no torchrun")
def test_torchrun_two_processes_gloo(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "bench.cli",
        "train",
        "--config",
        str(TINY),
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_training_checkpoint(out / "latest.pt")
    assert ckpt["step"] == 7 and ckpt["history"]["world_size"] == 2
    assert len(_rows(out / "losses.csv")) == 1 + 7  # only rank 0 logs


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_request_without_cuda_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="--device cuda"):
        Trainer(load_config(TINY), tmp_path, device="cuda")
    with pytest.raises(ValueError, match="'tpu'"):
        Trainer(load_config(TINY), tmp_path, device="tpu")


def test_snapshots_are_the_net_at_their_step(tmp_path):
    cfg = load_config(TINY).with_overrides(snapshot_every=2)
    weights = Trainer(cfg, tmp_path / "full", progress=False).run()
    names = sorted(p.name for p in (tmp_path / "full" / "snapshots").iterdir())
    # every 2 steps, plus the end of phase 1 (step 3) and the end of training (step 7)
    assert names == ["step-0000002.pt", "step-0000003.pt", "step-0000004.pt", "step-0000006.pt", "step-0000007.pt"]
    last = torch.load(tmp_path / "full" / "snapshots" / "step-0000007.pt", weights_only=True)
    final = torch.load(weights, weights_only=True)
    assert last["format"] == final["format"] and last["step"] == final["step"] == 7
    assert _states_equal(last["state_dict"], final["state_dict"])
    # The snapshot at the end of phase 1 is the phase-1 net that phase1.pt holds.
    p1 = torch.load(tmp_path / "full" / "snapshots" / "step-0000003.pt", weights_only=True)
    ref = load_training_checkpoint(tmp_path / "full" / "phase1.pt")["completion"]
    assert _states_equal(p1["state_dict"], {k: v.half() if v.is_floating_point() else v for k, v in ref.items()})


def test_branching_from_exported_phase1_weights(tmp_path):
    cfg = load_config(TINY)
    p1cfg = cfg.with_overrides(steps_phase2=0, steps_phase3=0)
    p1 = Trainer(p1cfg, tmp_path / "p1", progress=False).run()  # fp16 weights at the end of phase 1
    run = Trainer(cfg.with_overrides(variant="local"), tmp_path / "local", init_from=p1, progress=False)
    final = run.run()
    ckpt = torch.load(final, weights_only=True)
    assert ckpt["step"] == cfg.total_steps and "optimiser state reset" in ckpt["history"]["init_from"]
    # The branch started from the fp16 phase-1 net: its first logged step is Tc.
    assert int(_rows(tmp_path / "local" / "losses.csv")[1][0]) == 0  # phase-1 rows carried over
    with pytest.raises(ValueError, match="phase 1 ends at Tc=5"):
        Trainer(cfg.with_overrides(steps_phase1=5), tmp_path / "bad", init_from=p1, progress=False).run()
    with pytest.raises(ValueError, match="different config"):
        Trainer(cfg.with_overrides(width=0.25), tmp_path / "bad2", init_from=p1, progress=False).run()
