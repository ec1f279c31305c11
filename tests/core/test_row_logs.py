"""Append-only row logs keep every good row through any damage, and say what they moved aside."""

from __future__ import annotations

import json
import logging

import pytest

from bench.core import files
from bench.core.files import CSVLog, JSONLog, RowLog, atomic_write_json


def _jsonl(*rows: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_a_torn_tail_is_moved_aside_before_the_next_append(tmp_path):
    path = tmp_path / "records.jsonl"
    torn = b'{"method": "telea", "image_id": "ch'
    path.write_bytes(_jsonl({"a": 1}, {"a": 2}) + torn)
    log = JSONLog(path, ("a",))
    with log:
        log.append_row({"a": 3})
    # Hand-computed: the two good rows, then the new one on a line of its own.
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'
    assert log.damage.torn_bytes == len(torn) and log.damage.bad_lines == []
    assert log.damage.aside == tmp_path / "records.jsonl.damaged-1"
    assert log.damage.aside.read_bytes() == torn


def test_every_unreadable_line_is_reported_by_number_and_kept_aside(tmp_path, caplog):
    path = tmp_path / "records.jsonl"
    lines = [b'{"a": 1}\n', b"garbage\n", b'{"a": 2}\n', b"\xff\xfe not utf-8\n", b'{"b": 9}\n', b"\n", b'{"a": 3}\n']
    path.write_bytes(b"".join(lines))
    log = JSONLog(path, ("a",))
    with caplog.at_level(logging.WARNING, logger="bench"):
        assert [r["a"] for r in log.rows()] == [1, 2, 3]
    assert "unreadable lines 2, 4, 5, 6" in caplog.text and str(path) in caplog.text
    assert path.read_bytes() == b"".join(lines), "a reader never changes the file"
    damage = log.repair()
    assert damage.bad_lines == [2, 4, 5, 6] and damage.torn_bytes == 0
    assert damage.aside.read_bytes() == lines[1] + lines[3] + lines[4] + lines[5]
    assert path.read_bytes() == lines[0] + lines[2] + lines[6]
    assert not log.repair(), "a repaired log is clean"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl", "records.jsonl.damaged-1"]


def test_a_second_repair_never_overwrites_the_first_files_bytes(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\nfirst\n')
    JSONLog(path).repair()
    path.write_bytes(path.read_bytes() + b"second")
    JSONLog(path).repair()
    assert (tmp_path / "log.jsonl.damaged-1").read_bytes() == b"first\n"
    assert (tmp_path / "log.jsonl.damaged-2").read_bytes() == b"second"


def test_a_kill_between_keeping_aside_and_rewriting_loses_nothing(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    original = b'{"a": 1}\nbad\n{"a": 2}\n{"a":'
    path.write_bytes(original)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for a kill after the aside file was written

    monkeypatch.setattr(files, "atomic_write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        JSONLog(path).repair()
    assert path.read_bytes() == original
    assert (tmp_path / "log.jsonl.damaged-1").read_bytes() == b'bad\n{"a":'
    monkeypatch.undo()
    JSONLog(path).repair()
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'


def test_csv_rows_of_the_wrong_width_and_a_foreign_header_are_damage(tmp_path):
    path = tmp_path / "curve.csv"
    path.write_text('label,step,fid\nsnapshot,100,20.5\nsnapshot,200\n"a,b",300,19.0\nsnapshot,3')
    log = CSVLog(path, ["label", "step", "fid"])
    assert log.rows() == [
        {"label": "snapshot", "step": "100", "fid": "20.5"},
        {"label": "a,b", "step": "300", "fid": "19.0"},
    ]
    assert log.damage.bad_lines == [3] and log.damage.torn_bytes == len("snapshot,3")
    other = tmp_path / "other.csv"
    other.write_text("x,y\n1,2\n")
    assert CSVLog(other, ["label", "step", "fid"]).rows() == []
    assert CSVLog(other).rows() == [{"x": "1", "y": "2"}], "without fields, the first line is the header"


def test_a_csv_whose_header_was_torn_gets_a_new_header(tmp_path):
    path = tmp_path / "sweep.csv"
    path.write_text("layer,chan")
    log = CSVLog(path)
    log.append_row({"layer": "conv1", "channel": 0})
    assert path.read_text() == "layer,channel\nconv1,0\n"
    assert (tmp_path / "sweep.csv.damaged-1").read_text() == "layer,chan"


def test_rewrite_keeps_exactly_the_given_rows(tmp_path):
    path = tmp_path / "losses.csv"
    log = CSVLog(path, ["step", "mse"])
    log.rewrite([{"step": 0, "mse": 0.5}, {"step": 1}])
    assert path.read_text() == "step,mse\n0,0.5\n1,\n"
    log.append_row({"step": 2, "mse": 0.25})
    assert path.read_text() == "step,mse\n0,0.5\n1,\n2,0.25\n"


def test_appends_are_fsynced_unless_asked_not_to(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(files.os, "fsync", lambda fd: synced.append(fd))
    with RowLog(tmp_path / "a.log") as log:
        log.append("one")
    with RowLog(tmp_path / "b.log", fsync=False) as log:
        log.append("two")
    assert len(synced) == 1


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "set_metrics.json"
    atomic_write_json(path, {"fid": 1.0})

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError):
        atomic_write_json(path, {"fid": 2.0})
    assert json.loads(path.read_text()) == {"fid": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["set_metrics.json"]
