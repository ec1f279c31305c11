"""Training, learning curves and the discriminator ablation claim the directories they write:
a folder of other files or another command's directory is refused untouched, a second writer
is refused naming the first one's pid."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.core.outdir import MARKER, OutDirError
from bench.experiments.ablate.discriminator import discriminator_table
from bench.experiments.runner import RunConfig

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"


def _refused(res, *words: str) -> None:
    assert res.exit_code != 0, res.output
    assert isinstance(res.exception, SystemExit), f"traceback instead of a message: {res.exception!r}"
    text = " ".join(res.output.split())
    for word in words:
        assert word in text, (word, text)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _holder(code: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('locked', flush=True)\nimport time\ntime.sleep(120)\n", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _mark(path: Path, kind: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text(json.dumps({"tool": "inpaint-bench", "kind": kind}))


def test_training_into_a_folder_of_other_files_is_refused_untouched(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("chapter 1\n")
    (mine / ".losses.csv.abc.tmp").write_text("mine too\n")
    before = _files(mine)
    res = CliRunner().invoke(cli, ["train", "--config", str(TINY), "--out", str(mine), "--no-progress"])
    _refused(res, str(mine), "thesis.tex", "not an empty folder")
    assert _files(mine) == before


def test_a_second_training_into_one_directory_is_refused_naming_the_pid(tmp_path):
    out = tmp_path / "train"
    holder = _holder(
        "import sys\nfrom bench.core.outdir import claim_dir\nc = claim_dir(sys.argv[1], 'train')", str(out)
    )
    try:
        res = CliRunner().invoke(cli, ["train", "--config", str(TINY), "--out", str(out), "--no-progress"])
        _refused(res, str(out), f"pid {holder.pid}", "bench train")
        assert sorted(p.name for p in out.iterdir()) == [MARKER, ".lock"]
    finally:
        holder.kill()
        holder.wait()


def test_a_curve_of_a_directory_that_is_no_training_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    _mark(run_dir, "run")
    (run_dir / "snapshots").mkdir()
    args = ["curve", str(run_dir), "--dataset", "builtin", "--split", "test", "--n", "2", "--no-progress"]
    _refused(CliRunner().invoke(cli, args), str(run_dir), "bench run", "not of bench train")
    assert not (run_dir / "curve.csv").exists()


def test_a_second_curve_of_one_run_is_refused_naming_the_pid(tmp_path):
    train = tmp_path / "train"
    _mark(train, "train")
    (train / "snapshots").mkdir()
    code = (
        "import sys\nfrom bench.core.outdir import lock_dir\n"
        "c = lock_dir(sys.argv[1], lock_name='.curve.csv.lock', command='bench curve')"
    )
    holder = _holder(code, str(train))
    try:
        args = ["curve", str(train), "--dataset", "builtin", "--split", "test", "--n", "2", "--baselines", "mean"]
        _refused(CliRunner().invoke(cli, [*args, "--no-progress"]), str(train), f"pid {holder.pid}", "bench curve")
        assert not (train / "curve.csv").exists()
    finally:
        holder.kill()
        holder.wait()


def test_the_discriminator_ablation_refuses_a_run_directory_and_a_folder_of_files(tmp_path):
    cfg = RunConfig(methods=["mean"], out=tmp_path / "run", n=2, size=64, metrics=["mse"], progress=False)
    _mark(cfg.out, "run")
    with pytest.raises(OutDirError, match="bench run"):
        discriminator_table(cfg, [0])
    assert sorted(p.name for p in cfg.out.iterdir()) == [MARKER]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "seed-0.txt").write_text("my notes\n")
    with pytest.raises(OutDirError, match="seed-0.txt"):
        discriminator_table(RunConfig(methods=["mean"], out=mine, n=2, size=64, metrics=["mse"], progress=False), [0])
    assert sorted(p.name for p in mine.iterdir()) == ["seed-0.txt"]


def test_the_discriminator_ablation_marks_its_directory_and_each_seed_run(tmp_path):
    cfg = RunConfig(methods=["mean"], out=tmp_path / "abl", n=2, size=64, metrics=["mse"], progress=False)
    result = discriminator_table(cfg, [0, 1])
    assert len(result["runs"]) == 2
    assert json.loads((cfg.out / MARKER).read_text())["kind"] == "discriminator"
    assert all(json.loads((cfg.out / f"seed-{s}" / MARKER).read_text())["kind"] == "run" for s in (0, 1))
    assert len(discriminator_table(cfg, [0, 1])["runs"]) == 2  # resumes in its own directory
