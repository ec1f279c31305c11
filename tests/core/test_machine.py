"""The machine description that travels with every timing (``bench time``, benchmark JSON)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.core.machine import cpu_model, describe_machine, machine_line


def test_description_matches_what_the_os_reports():
    info = describe_machine()
    if hasattr(os, "sched_getaffinity"):
        assert info["cores"] == len(os.sched_getaffinity(0))
    assert info["logical_cpus"] == os.cpu_count()
    assert len(info["load_average"]) == 3 and all(v >= 0 for v in info["load_average"])
    assert info["torch"] != "not installed" and info["numpy"] != "not installed"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.lower().startswith("model name")
        ]
        if names:
            assert cpu_model() == names[0]


def test_machine_line_states_cpu_cores_load_and_commit():
    info = {
        "cpu": "Test CPU 9000",
        "cores": 2,
        "memory_gb": 23.5,
        "load_average": (1.5, 0.25, 3.0),
        "torch": "2.13.0",
        "numba": "0.68.1",
        "git": "abc1234",
    }
    assert machine_line(info) == (
        "Test CPU 9000, 2 usable cores, 23.5 GiB; load average (1/5/15 min) "
        "1.50/0.25/3.00; torch 2.13.0, numba 0.68.1; git abc1234"
    )
    assert "load average (1/5/15 min) unknown" in machine_line({**info, "load_average": None})
