"""Claims on directories: kinds, one writer across processes, shared claims within one, links leading out."""

import json
import os
import subprocess
import sys

import pytest

from bench.core.files import atomic_write_text, is_temporary
from bench.core.outdir import (
    MARKER,
    OutDirError,
    claim_dir,
    kind_of,
    links_leaving,
    writer_pid,
)


def test_a_new_directory_is_created_marked_and_locked(tmp_path):
    out = tmp_path / "a" / "b"
    with claim_dir(out, "sweep"):
        assert kind_of(out) == "sweep"
        assert json.loads((out / MARKER).read_text()) == {"tool": "inpaint-bench", "kind": "sweep"}
        assert (out / ".lock").read_text().split()[0] == str(os.getpid())
    assert writer_pid(out) is None


def test_another_kind_and_unknown_files_are_refused_with_what_they_are(tmp_path):
    with claim_dir(tmp_path / "e", "export"):
        pass
    with pytest.raises(OutDirError, match=r"directory of bench export \(export\), not of bench run"):
        claim_dir(tmp_path / "e", "run")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "notes.txt").write_text("x")
    with pytest.raises(OutDirError, match="notes.txt"):
        claim_dir(tmp_path / "f", "run")
    with claim_dir(tmp_path / "f", "run", legacy=lambda p: (p / "notes.txt").is_file()):
        assert kind_of(tmp_path / "f") == "run"  # recognised as an earlier one of its kind, then marked
    (tmp_path / "g").write_text("a file")
    with pytest.raises(OutDirError, match="is a file"):
        claim_dir(tmp_path / "g", "run")


def test_claims_in_one_process_share_the_lock_and_another_process_is_refused(tmp_path):
    out = tmp_path / "d"
    first = claim_dir(out, "report")
    second = claim_dir(out, "report")
    probe = [
        sys.executable,
        "-c",
        "import sys; from bench.core.outdir import claim_dir; claim_dir(sys.argv[1], 'report')",
    ]
    refused = subprocess.run([*probe, str(out)], capture_output=True, text=True)
    assert refused.returncode != 0 and f"pid {os.getpid()}" in refused.stderr and "OutDirBusyError" in refused.stderr
    first.release()
    assert writer_pid(out) == str(os.getpid())  # still held by the second claim
    second.release()
    second.release()  # a second release does nothing
    assert writer_pid(out) is None
    assert subprocess.run([*probe, str(out)]).returncode == 0


def test_links_leaving_the_directory_are_found_links_inside_are_not(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "inside").symlink_to(root / "sub", target_is_directory=True)
    (root / "sub" / "out").symlink_to(outside, target_is_directory=True)
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    found = {str(p.relative_to(root)) for p, _ in links_leaving(root)}
    assert found == {"sub/out", "dangling"}
    with pytest.raises(OutDirError, match="symbolic link"):
        claim_dir(root, "run", legacy=lambda p: True)
    _claimed = root / "sub"
    (_claimed / MARKER).write_text(json.dumps({"tool": "inpaint-bench", "kind": "report"}))
    assert {str(p.relative_to(root)) for p, _ in links_leaving(root)} == {"dangling"}  # its own claim checks sub/


def test_only_the_suites_temporaries_are_removed_and_not_inside_other_claims(tmp_path):
    out = tmp_path / "run"
    with claim_dir(out, "run"):
        atomic_write_text(out / "x.txt", "x")
    names = [".x.txt.abcd1234.inpaint-bench.tmp", ".x.txt.abcd1234.tmp", "y.inpaint-bench.tmp"]
    assert [is_temporary(n) for n in names] == [True, False, False]
    for n in names:
        (out / n).write_text("")
    nested = out / "report"
    with claim_dir(nested, "report"):
        pass
    (nested / names[0]).write_text("")
    with claim_dir(out, "run"):
        pass
    assert sorted(p.name for p in out.iterdir() if p.name.endswith("tmp")) == sorted(names[1:])
    assert (nested / names[0]).exists()
