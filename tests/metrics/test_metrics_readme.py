"""bench/metrics/README.md's table of metric descriptions is the registry's, entry for entry."""

from __future__ import annotations

from pathlib import Path

from bench.metrics.registry import BUILT_IN, GROUPS, METRICS, all_metrics

README = Path(__file__).resolve().parents[2] / "bench" / "metrics" / "README.md"
HEADER = "| metric | kind | better | label | digits | gate tolerance | hole gate tolerance | table | reference |"


def _tolerance(tolerance) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in sorted(tolerance.items()))


def _readme_rows() -> dict[str, list[str]]:
    lines = README.read_text().splitlines()
    start = lines.index(HEADER) + 2
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_readme_table_describes_every_built_in_metric_as_the_registry_does():
    rows = _readme_rows()
    all_metrics()  # registers the metric modules
    built_in = {name: m for name, m in METRICS.items() if m.origin == BUILT_IN}
    assert set(rows) == set(built_in)
    for name, m in built_in.items():
        hole = _tolerance(m.tolerance_for("hole")) if m.kind == "image" and "hole" in m.regions else "-"
        want = [
            m.kind,
            "higher" if m.higher_is_better else "lower",
            m.display_label,
            str(m.digits),
            _tolerance(m.tolerance),
            hole,
            m.group,
            m.reference,
        ]
        assert rows[name] == want, name


def test_every_built_in_metric_is_fully_described():
    all_metrics()
    for name, m in METRICS.items():
        if m.origin != BUILT_IN:
            continue
        assert m.label and m.reference and m.summary, name
        assert m.group in GROUPS and m.digits >= 0, name
        assert set(m.tolerance) <= {"abs", "rel"} and m.tolerance, name
        assert (m.group == "set") == (m.kind == "set"), name
