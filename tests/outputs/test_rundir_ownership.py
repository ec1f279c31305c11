"""A run directory is the run's alone: other folders are refused untouched, links leading out are
refused, every method has its own output folder, and one writer at a time (runs, sweeps, reports)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.core.files import write_png
from bench.core.outdir import MARKER
from bench.experiments.export import export_protocol
from bench.outputs.rundir import RunDir, method_dirname

CHEAP = ["--methods", "mean", "--n", "3", "--size", "64", "--metrics", "mse", "--no-progress"]


def _bench(*args: str):
    return CliRunner().invoke(cli, list(args))


def _refused(res, *words: str) -> str:
    """``res`` failed with a one-line message (no traceback) holding ``words``."""
    assert res.exit_code != 0, res.output
    assert isinstance(res.exception, SystemExit), f"traceback instead of a message: {res.exception!r}"
    text = " ".join(res.output.split())
    for word in words:
        assert word in text, (word, text)
    return text


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): kind, bytes or target, mode and mtime."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = ("link", os.readlink(path))
        elif path.is_dir():
            found[str(path.relative_to(root))] = ("dir", st.st_mode)
        else:
            found[str(path.relative_to(root))] = ("file", path.read_bytes(), st.st_mode, st.st_mtime_ns)
    return found


def _holder(code: str, *args: str) -> subprocess.Popen:
    """A process that takes a lock in ``code`` and prints ``locked`` while it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('locked', flush=True)\nimport time\ntime.sleep(120)\n", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


# ---------------------------------------------------------------- folders that are not a run's


def test_a_folder_of_the_users_files_is_refused_untouched(tmp_path):
    mine = tmp_path / "mine"
    (mine / "images").mkdir(parents=True)
    (mine / "summary.md").write_text("my notes\n")
    (mine / ".x.tmp").write_text("my hidden draft\n")
    (mine / "records.csv").write_text("a,b\n1,2\n")
    write_png(mine / "images" / "astronaut-000.png", np.full((8, 8, 3), 0.5, np.float32))
    before = _tree(mine)
    _refused(_bench("run", *CHEAP, "--out", str(mine)), str(mine), "not an empty folder", "summary.md")
    assert _tree(mine) == before


def test_an_export_folder_is_not_a_run_and_a_run_is_not_an_export(tmp_path):
    export, run_dir = tmp_path / "export", tmp_path / "run"
    export_protocol(export, n=3, size=64, progress=False, command="test")
    before = _tree(export)
    _refused(_bench("run", *CHEAP, "--out", str(export)), str(export), "bench export", "not of bench run")
    assert _tree(export) == before
    assert _bench("run", *CHEAP, "--out", str(run_dir)).exit_code == 0
    before = _tree(run_dir)
    _refused(
        _bench("export", "--n", "3", "--size", "64", "--no-progress", "--out", str(run_dir)),
        str(run_dir),
        "bench run",
        "not of bench export",
    )
    assert _tree(run_dir) == before


def test_a_sweep_folder_is_refused_by_bench_run(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / MARKER).write_text(json.dumps({"tool": "inpaint-bench", "kind": "sweep"}))
    _refused(_bench("run", *CHEAP, "--out", str(sweep)), str(sweep), "bench ablate")
    assert sorted(p.name for p in sweep.iterdir()) == [MARKER]


@pytest.mark.parametrize("what", ["outputs/mean", "images", "records.csv"])
def test_a_link_leading_out_of_the_run_is_refused_and_the_outside_untouched(tmp_path, what):
    out, outside = tmp_path / "run", tmp_path / "outside"
    assert _bench("run", *CHEAP, "--out", str(out)).exit_code == 0
    outside.mkdir()
    target = out / what
    if target.is_dir():
        target.rename(outside / "moved")
        (outside / "moved" / ".astronaut-000.png.abc.inpaint-bench.tmp").write_text("not the run's")
        target.symlink_to(outside / "moved", target_is_directory=True)
    else:
        (outside / "file.csv").write_text("the user's table\n")
        target.unlink()
        target.symlink_to(outside / "file.csv")
    before = _tree(outside)
    # A second method, so the run would write into the directory.
    _refused(
        _bench("run", *CHEAP[:1], "mean,telea", *CHEAP[2:], "--out", str(out)),
        str(out / what),
        "symbolic link",
        os.path.realpath(outside),
    )
    assert _tree(outside) == before


def test_only_the_tools_temporaries_are_removed(tmp_path):
    out = tmp_path / "run"
    assert _bench("run", *CHEAP, "--out", str(out)).exit_code == 0
    ours = [out / ".records.csv.k2j3h4.inpaint-bench.tmp", out / "outputs" / "mean" / ".a.png.x8.inpaint-bench.tmp"]
    theirs = [out / ".notes.tmp", out / "outputs" / "mean" / ".draft.tmp"]
    for p in ours + theirs:
        p.write_text("x")
    assert _bench("run", *CHEAP, "--out", str(out)).exit_code == 0
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


# ---------------------------------------------------------------- one folder per method


def test_folder_names_are_injective_over_every_short_spec():
    # Every string of up to 4 characters over the characters the readable name maps together.
    alphabet = "a-_:=,./é"
    specs = [""]
    for _ in range(4):
        specs = [s + c for s in specs for c in alphabet] + specs
    specs = sorted(set(specs) - {""})
    names = {method_dirname(s) for s in specs}
    assert len(names) == len(specs)
    assert all(n and "/" not in n and n not in (".", "..") for n in names)


def test_specs_that_read_back_keep_their_readable_folder():
    assert method_dirname("patch:size=9") == "patch__size-9"
    assert method_dirname("iizuka-global") == "iizuka-global"
    assert method_dirname("iizuka:drop=conv1.44") == "iizuka__drop-conv1.44"
    a, b = method_dirname("predictions:dir=/x/a/b"), method_dirname("predictions:dir=/x/a_b")
    assert a != b and a.startswith("predictions__dir-_x_a_b~") and b.startswith("predictions__dir-_x_a_b~")


def _predictions(folder: Path, export: Path, value: float) -> None:
    """A prediction of constant grey for every exported image (the export's manifest names them)."""
    for image_id in json.loads((export / "manifest.json").read_text())["files"]:
        write_png(folder / f"{image_id}.png", np.full((64, 64, 3), value, np.float32))


def _export_and_two_colliding_prediction_folders(tmp_path):
    export = tmp_path / "export"
    export_protocol(export, n=4, size=64, progress=False, command="test")
    first, second = tmp_path / "x" / "a" / "b", tmp_path / "x" / "a_b"
    _predictions(first, export, 0.1)
    _predictions(second, export, 0.9)
    return export, [f"predictions:dir={first},export={export}", f"predictions:dir={second},export={export}"]


def test_colliding_prediction_folders_get_their_own_outputs_and_scores(tmp_path):
    export, specs = _export_and_two_colliding_prediction_folders(tmp_path)
    out = tmp_path / "run"
    args = ["--methods", ",".join(specs), "--n", "4", "--size", "64", "--metrics", "mse,fid", "--no-progress"]
    assert (res := _bench("run", *args, "--out", str(out))).exit_code == 0, res.output
    rd = RunDir(out)
    recorded = json.loads(rd.outputs_json.read_text())
    assert set(recorded) == set(specs) and len(set(recorded.values())) == 2
    assert json.loads(rd.config.read_text())["output_folders"] == recorded
    ids = sorted(json.loads((export / "manifest.json").read_text())["files"])
    mask = rd.load_mask(ids[0])
    for spec, grey in zip(specs, (0.1, 0.9)):
        out_png = rd.load_output(spec, ids[0])
        assert np.allclose(out_png[mask], np.float32(round(grey * 255) / 255))
    fid = {m: v["fid"]["value"] for m, v in json.loads(rd.set_metrics.read_text()).items()}
    assert fid[specs[0]] != pytest.approx(fid[specs[1]], abs=1e-3)
    hole = {r["method"]: r["hole_mse"] for r in rd.read_records() if r["image_id"] == ids[0]}
    assert hole[specs[0]] != pytest.approx(hole[specs[1]])


def test_a_run_of_the_previous_layout_resumes_from_its_folders(tmp_path):
    export, specs = _export_and_two_colliding_prediction_folders(tmp_path)
    out = tmp_path / "run"
    common = ["--n", "4", "--size", "64", "--metrics", "mse,fid", "--no-progress", "--out", str(out)]
    assert _bench("run", "--methods", f"mean,{specs[0]}", *common).exit_code == 0
    rd = RunDir(out)
    fid = json.loads(rd.set_metrics.read_text())[specs[0]]["fid"]["value"]
    # Make it a directory of the previous version: no marker, no outputs.json, readable folder names.
    (out / MARKER).unlink()
    hashed = json.loads(rd.outputs_json.read_text())[specs[0]]
    rd.outputs_json.unlink()
    # The previous version's name: the readable mapping alone.
    readable = re.sub(r"[^A-Za-z0-9_.+-]", "_", specs[0].replace(":", "__").replace("=", "-").replace(",", "_"))
    (out / "outputs" / hashed).rename(out / "outputs" / readable)
    res = _bench("run", "--methods", f"mean,{specs[0]},telea", *common)
    assert res.exit_code == 0, res.output
    assert "(4 computed now, 8 resumed)" in res.output
    again = RunDir(out)
    assert json.loads(again.outputs_json.read_text())[specs[0]] == readable
    assert json.loads(again.set_metrics.read_text())[specs[0]]["fid"]["value"] == pytest.approx(fid)
    assert json.loads((out / MARKER).read_text())["kind"] == "run"


# ---------------------------------------------------------------- one writer at a time


def test_a_second_sweep_on_one_out_is_refused_naming_the_pid(tmp_path):
    out = tmp_path / "sweep"
    holder = _holder(
        "import sys\nfrom bench.experiments.ablate.sweep import Sweep\nfrom bench.inputs.protocol import load_protocol\n"
        "sweep = Sweep(load_protocol('builtin', size=64, n=3), sys.argv[1], n_boot=2, progress=False)",
        str(out),
    )
    try:
        args = ["ablate", "channels", "--layers", "1", "--channels", "0", "--n", "3", "--size", "64"]
        _refused(_bench(*args, "--no-progress", "--out", str(out)), str(out), f"pid {holder.pid}", "bench ablate")
        assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, ".lock", "sweep.json"])
    finally:
        holder.kill()
        holder.wait()


def test_report_of_a_run_being_written_is_refused(tmp_path):
    out = tmp_path / "run"
    assert _bench("run", *CHEAP, "--out", str(out)).exit_code == 0
    code = "import sys\nfrom bench.outputs.rundir import RunDir\nheld = RunDir(sys.argv[1]).writing()\nheld.__enter__()"
    holder = _holder(code, str(out))
    try:
        args = ["report", str(out), "--no-grid", "--no-latex", "--no-compile"]
        _refused(_bench(*args), str(out), "being written", f"pid {holder.pid}")
        assert not (out / "report").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (res := _bench(*args)).exit_code == 0, res.output
    assert json.loads((out / "report" / MARKER).read_text())["kind"] == "report"


def test_a_report_folder_is_not_written_into_a_run(tmp_path):
    out = tmp_path / "run"
    assert _bench("run", *CHEAP, "--out", str(out)).exit_code == 0
    before = _tree(out)
    _refused(_bench("report", str(out), "--no-grid", "--no-latex", "--out", str(out)), str(out), "bench run")
    assert _tree(out) == before
