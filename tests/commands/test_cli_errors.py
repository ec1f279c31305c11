"""How the CLI ends on an unexpected error and on a stop signal: one line, never a traceback."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

import bench.commands.listing as listing
from bench.cli import BUG, cli


def _crash(*args, **kwargs):
    raise RuntimeError("an invariant broke")


@pytest.fixture
def broken_list(monkeypatch):
    monkeypatch.setattr(listing.list_cmd, "callback", _crash)


def test_an_unexpected_error_is_one_line_naming_a_crash_file_with_the_traceback(broken_list, tmp_path):
    result = CliRunner(env={"XDG_CACHE_HOME": str(tmp_path), "BENCH_DEBUG": None}).invoke(cli, ["list", "methods"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.strip()]
    assert BUG in line and "RuntimeError: an invariant broke" in line and "BENCH_DEBUG=1" in line
    (crash,) = (tmp_path / "inpaint-bench").glob("crash-*.txt")
    assert str(crash) in line
    text = crash.read_text()
    assert "Traceback (most recent call last)" in text and "_crash" in text and "an invariant broke" in text


def test_bench_debug_shows_the_traceback_instead(broken_list, tmp_path):
    result = CliRunner(env={"XDG_CACHE_HOME": str(tmp_path), "BENCH_DEBUG": "1"}).invoke(cli, ["list", "methods"])
    assert isinstance(result.exception, RuntimeError)
    assert not (tmp_path / "inpaint-bench").exists()


def test_a_user_error_is_not_called_a_bug(tmp_path):
    result = CliRunner().invoke(cli, ["run", "--methods", "mean", "--data-root", str(tmp_path), "--n", "2"])
    assert result.exit_code == 2 and BUG not in result.output
    assert f"--data-root {tmp_path} is not read by --dataset builtin" in result.output
    assert not Path("runs").joinpath("builtin-n2-s0").exists()


@pytest.mark.parametrize(("sig", "code", "how"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_stop_signal_ends_a_command_with_its_exit_code_and_one_line(monkeypatch, sig, code, how):
    import os

    monkeypatch.setattr(listing.list_cmd, "callback", lambda *a, **k: os.kill(os.getpid(), sig))
    result = CliRunner().invoke(cli, ["list", "methods"])
    assert result.exit_code == code
    assert f"Aborted: bench list stopped by {how}" in result.output and "Traceback" not in result.output
    # The handlers are the caller's again once the command has returned.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--seeds", "0,0"], "--seeds: 0 given more than once"),
        (["--seeds", ""], "--seeds: no value in ''"),
        (["--seeds", "-1"], "--seeds: -1 is below 0"),
    ],
)
def test_ablate_discriminator_refuses_repeated_or_missing_seeds(tmp_path, args, says):
    out = tmp_path / "a"
    result = CliRunner().invoke(
        cli, ["ablate", "discriminator", "--methods", "mean", "--metrics", "mse", "--n", "2", *args, "--out", str(out)]
    )
    assert result.exit_code == 2 and says in result.output.replace("'--seeds'", "--seeds"), result.output
    assert not out.exists()


def test_an_output_file_inside_another_commands_directory_is_refused_before_any_work(tmp_path):
    from bench.core.outdir import claim_dir

    run_dir = tmp_path / "run"
    with claim_dir(run_dir, "run"):
        pass
    (run_dir / "config.json").write_text('{"mine": 1}')
    target = run_dir / "config.json"
    result = CliRunner().invoke(cli, ["time", "--methods", "mean", "--sizes", "32", "--n", "1", "--json", str(target)])
    assert result.exit_code == 2, result.output
    assert "inside" in result.output and "bench run" in result.output and "Traceback" not in result.output
    assert target.read_text() == '{"mine": 1}'
    nested = run_dir / "outputs" / "t.json"
    result = CliRunner().invoke(cli, ["time", "--methods", "mean", "--sizes", "32", "--n", "1", "--json", str(nested)])
    assert result.exit_code == 2 and not nested.exists()
    elsewhere = tmp_path / "t.json"
    result = CliRunner().invoke(
        cli, ["time", "--methods", "mean", "--sizes", "32", "--n", "1", "--json", str(elsewhere)]
    )
    assert result.exit_code == 0, result.output
    assert elsewhere.is_file()
