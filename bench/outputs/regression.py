"""Regression tracking: compare a run with committed baseline numbers.

The baseline file (``results/baseline.json``) holds, per method, the mean of every
metric of a small deterministic run, the identity of that run (dataset, n, seed,
mask hash), and a tolerance per metric. A metric is a regression when it is worse
than the baseline (in the registry's direction) by more than
``max(abs, rel * |baseline|)``. A method that completed fewer images than the
baseline's ``n`` is a regression too, so failures cannot hide behind a good mean.

A run of a variant is compared with a baseline entry of another name through a
mapping ``{run spec: baseline name}`` (``bench check --map "telea:radius=1" telea``):
that is how a deliberately worsened configuration is shown to fail the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.files import atomic_write_json
from bench.outputs.report.format import higher_is_better
from bench.outputs.report.tables import load_run, short_command

SCHEMA = 1

# Starting tolerances for metrics new to a baseline; --update keeps whatever the file already states.
# Deterministic methods reproduce their means exactly on one machine; these absorb library and
# platform drift while still catching a method made slightly worse, such as telea:radius=1.
DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {
    "mse": {"abs": 1e-4},
    "hole_mse": {"abs": 5e-4},
    "l1": {"abs": 2e-4},
    "hole_l1": {"abs": 1e-3},
    "psnr": {"abs": 0.1},
    "hole_psnr": {"abs": 0.2},
    "ssim": {"abs": 0.002},
    "hole_ssim": {"abs": 0.005},
    "fid": {"abs": 0.5, "rel": 0.02},
    "kid": {"abs": 0.002},
}
FALLBACK_TOLERANCE = {"rel": 0.01}
IGNORED = ("seconds",)  # time depends on the machine: a benchmark's job, not the gate's
STATUS_ORDER = ("worse", "missing", "better", "ok", "skipped", "new")


class BaselineError(ValueError):
    """The baseline cannot be used with this run (bad file, other data, bad mapping)."""


@dataclass(frozen=True)
class Tolerance:
    """Allowed worsening of one metric: ``max(abs, rel * |baseline|)``."""

    abs: float = 0.0
    rel: float = 0.0

    def allowed(self, baseline: float) -> float:
        """How much worse than ``baseline`` a value may be."""
        return max(self.abs, self.rel * abs(baseline)) if math.isfinite(baseline) else self.abs

    @classmethod
    def parse(cls, metric: str, spec: Any) -> Tolerance:
        """Read ``{"abs": x, "rel": y}`` (either key optional) from the baseline file."""
        if not isinstance(spec, dict) or not set(spec) <= {"abs", "rel"} or not spec:
            raise BaselineError(f"tolerance of {metric!r} must be an object with 'abs' and/or 'rel', got {spec!r}")
        try:
            tol = cls(float(spec.get("abs", 0.0)), float(spec.get("rel", 0.0)))
        except (TypeError, ValueError):
            raise BaselineError(f"tolerance of {metric!r}: numbers expected, got {spec!r}") from None
        if tol.abs < 0 or tol.rel < 0 or not (math.isfinite(tol.abs) and math.isfinite(tol.rel)):
            raise BaselineError(f"tolerance of {metric!r} must be finite and >= 0, got {spec!r}")
        return tol


def read_baseline(path: str | Path) -> dict[str, Any]:
    """Load and validate a baseline file.

    Raises
    ------
    FileNotFoundError
        No such file.
    BaselineError
        Not a baseline of this schema, or a method's metric has no tolerance.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"baseline {path} does not exist (create it with `bench check RUN --update --baseline {path}`)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise BaselineError(f"baseline {path}: not valid JSON ({err})") from None
    except UnicodeDecodeError as err:
        raise BaselineError(f"baseline {path}: not valid JSON (byte {err.start} is not UTF-8 text)") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(
            f"baseline {path}: expected schema {SCHEMA}, got {data.get('schema') if isinstance(data, dict) else data!r}"
        )
    for key in ("identity", "tolerances", "methods"):
        if not isinstance(data.get(key), dict):
            raise BaselineError(f"baseline {path}: missing object {key!r}")
    for metric, spec in data["tolerances"].items():
        Tolerance.parse(metric, spec)
    for method, entry in data["methods"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
            raise BaselineError(f"baseline {path}: method {method!r} needs a 'metrics' object")
        untolerated = [m for m in entry["metrics"] if m not in data["tolerances"]]
        if untolerated:
            raise BaselineError(
                f"baseline {path}: no tolerance stated for {', '.join(untolerated)} "
                f"(method {method!r}); add them under 'tolerances'"
            )
    return data


# Where the data sits on one machine, and how many files it holds there, do not change the numbers:
# the image-id and mask hashes pin exactly which images and holes were used.
MACHINE_FIELDS = ("root", "available")


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """What must agree for two runs' numbers to be comparable: data, n, seed, masks (not local paths)."""
    ident = config.get("identity", {})
    dataset = ident.get("dataset")
    if isinstance(dataset, dict):
        dataset = {k: v for k, v in dataset.items() if k not in MACHINE_FIELDS}
    return {
        "dataset": dataset,
        "n": ident.get("n"),
        "seed": ident.get("seed"),
        "mask_family": ident.get("mask_family"),
        "ids_sha256": ident.get("ids_sha256"),
        "mask_sha256": config.get("mask_sha256"),
    }


def resolve_mapping(
    run_methods: list[str], baseline_methods: list[str], mapping: dict[str, str] | None
) -> dict[str, str]:
    """Pair run specs with baseline names.

    Parameters
    ----------
    run_methods : list of str
        Specs in the run.
    baseline_methods : list of str
        Names in the baseline.
    mapping : dict, optional
        Explicit ``{run spec: baseline name}``. A baseline name that is a mapping
        target is no longer matched by a run spec of the same name.

    Returns
    -------
    dict
        ``{run spec: baseline name}`` for every run spec that has a baseline entry.

    Raises
    ------
    BaselineError
        A mapped spec is not in the run, a target is not in the baseline, or two
        run specs would be checked against the same baseline entry.
    """
    mapping = dict(mapping or {})
    for spec, target in mapping.items():
        if spec not in run_methods:
            raise BaselineError(f"--map {spec!r}: no such method in the run (run has: {', '.join(run_methods)})")
        if target not in baseline_methods:
            raise BaselineError(
                f"--map {spec!r} -> {target!r}: no such method in the baseline "
                f"(baseline has: {', '.join(baseline_methods)})"
            )
    targets = list(mapping.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise BaselineError(f"--map: several run methods mapped onto {', '.join(dupes)}")
    pairs = dict(mapping)
    for spec in run_methods:
        if spec not in pairs and spec in baseline_methods and spec not in targets:
            pairs[spec] = spec
    return pairs


def run_values(run: str | Path) -> tuple[dict[str, dict[str, float]], dict[str, int], dict[str, Any], list[str]]:
    """Per-method metric means and ok-image counts of a run.

    Returns
    -------
    values : dict
        ``{spec: {metric: mean}}`` (per-image metrics and set metrics; not ``seconds``).
    n_ok : dict
        ``{spec: number of images that succeeded}``.
    config : dict
        The run's ``config.json``.
    methods : list of str
        Specs in run order.
    """
    data = load_run(run)
    values: dict[str, dict[str, float]] = {}
    for method in data.methods:
        sub = data.summary[(data.summary["method"] == method) & ~data.summary["metric"].isin(IGNORED)]
        values[method] = {
            m: (float(v) if v is not None and not pd.isna(v) else float("nan"))
            for m, v in zip(sub["metric"], sub["value"])
        }
    ok = data.ok
    n_ok = {m: int((ok["method"] == m).sum()) for m in data.methods}
    return values, n_ok, data.config, data.methods


def compare(
    run: str | Path,
    baseline: dict[str, Any],
    mapping: dict[str, str] | None = None,
    allow_missing: bool = False,
    metrics: list[str] | None = None,
) -> pd.DataFrame:
    """Compare a run with a baseline, one row per (baseline method, metric).

    Parameters
    ----------
    run : path
        Run directory.
    baseline : dict
        A baseline as :func:`read_baseline` returns it.
    mapping : dict, optional
        ``{run spec: baseline name}`` (see :func:`resolve_mapping`).
    allow_missing : bool
        Baseline methods absent from the run are reported as ``missing`` without
        failing (useful when checking a run of one method).
    metrics : list of str, optional
        Check only these metric columns (default: every metric of the baseline).

    Returns
    -------
    DataFrame
        Columns ``method, run_method, metric, baseline, run, delta, worse_by, allowed, status``.
        ``delta = run - baseline``; ``worse_by`` is the worsening in the metric's
        direction (positive = worse); status is ``worse``, ``missing``, ``ok``,
        ``better`` (improved beyond the tolerance) or ``new`` (in the run only).
        :func:`failed` says whether the gate fails.

    Raises
    ------
    BaselineError
        The run used other data or masks than the baseline, or a bad mapping.
    """
    values, n_ok, config, methods = run_values(run)
    ident = run_identity(config)
    diff = {k: (baseline["identity"].get(k), v) for k, v in ident.items() if baseline["identity"].get(k) != v}
    if diff:
        detail = "; ".join(f"{k}: baseline {_short(a)} vs run {_short(b)}" for k, (a, b) in diff.items())
        raise BaselineError(
            f"the run is not comparable with the baseline ({detail}); rerun with the baseline's "
            f"command: {baseline.get('command', '?')}"
        )
    if metrics:
        known = set(baseline["tolerances"])
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise BaselineError(
                f"--metrics: {', '.join(unknown)} not in the baseline (has: {', '.join(sorted(known))})"
            )
    pairs = resolve_mapping(methods, list(baseline["methods"]), mapping)
    by_target = {t: s for s, t in pairs.items()}
    tolerances = {m: Tolerance.parse(m, s) for m, s in baseline["tolerances"].items()}
    rows = []
    for name, entry in baseline["methods"].items():
        spec = by_target.get(name)
        base_n = int(entry.get("n", 0))
        if spec is None:
            rows.append(
                _row(name, None, "n_ok", base_n, float("nan"), 0.0, "missing" if not allow_missing else "skipped")
            )
            continue
        rows.append(
            _row(
                name,
                spec,
                "n_ok",
                base_n,
                n_ok[spec],
                0.0,
                "worse" if n_ok[spec] < base_n else "ok",
                worse_by=base_n - n_ok[spec],
            )
        )
        for metric, base in entry["metrics"].items():
            if metrics and metric not in metrics:
                continue
            base = float("nan") if base is None else float(base)
            got = values[spec].get(metric, float("nan"))
            allowed = tolerances[metric].allowed(base)
            if math.isnan(got):
                rows.append(_row(name, spec, metric, base, got, allowed, "missing"))
                continue
            sign = 1.0 if higher_is_better(metric) else -1.0
            worse_by = sign * (base - got)
            if math.isnan(worse_by):  # inf - inf: an exact reconstruction in both
                worse_by = 0.0
            # A hair of slack so a value equal to the bound (after float rounding) passes.
            slack = 1e-12 * max(1.0, abs(base)) if math.isfinite(base) else 0.0
            status = "worse" if worse_by > allowed + slack else ("better" if -worse_by > allowed + slack else "ok")
            rows.append(_row(name, spec, metric, base, got, allowed, status, worse_by=worse_by))
    for spec in methods:
        if spec not in pairs:
            rows.append(_row(spec, spec, "*", float("nan"), float("nan"), 0.0, "new"))
    return pd.DataFrame(
        rows, columns=["method", "run_method", "metric", "baseline", "run", "delta", "worse_by", "allowed", "status"]
    )


def failed(table: pd.DataFrame) -> bool:
    """Whether the gate fails: any metric worse beyond tolerance, or anything missing."""
    return bool(table["status"].isin(["worse", "missing"]).any())


def format_table(table: pd.DataFrame, only_problems: bool = False) -> str:
    """The comparison as aligned text, worst problems first."""
    t = table.copy()
    if only_problems:
        t = t[t["status"].isin(["worse", "missing", "better"])]
    if t.empty:
        return "(nothing to show)\n"
    t["order"] = t["status"].map({s: i for i, s in enumerate(STATUS_ORDER)}).fillna(len(STATUS_ORDER))
    t = t.sort_values(["order", "method", "metric"], kind="mergesort").drop(columns="order")
    t["run_method"] = t["run_method"].fillna("-")
    for col in ("baseline", "run", "delta", "worse_by", "allowed"):
        t[col] = t[col].map(lambda v: "" if pd.isna(v) else f"{v:.6g}")
    return t.to_string(index=False) + "\n"


def make_baseline(
    run: str | Path,
    old: dict[str, Any] | None = None,
    mapping: dict[str, str] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """A new baseline from a run, keeping the tolerances of ``old``.

    Parameters
    ----------
    run : path
        Run directory.
    old : dict, optional
        Previous baseline (its tolerances and ``about`` are kept).
    mapping : dict, optional
        ``{run spec: name to store it under}``.
    command : str, optional
        Command that reproduces the run (default: the run's own command line).
    """
    values, n_ok, config, methods = run_values(run)
    mapping = dict(mapping or {})
    unknown = [s for s in mapping if s not in methods]
    if unknown:
        raise BaselineError(f"--map: {', '.join(unknown)} not in the run (run has: {', '.join(methods)})")
    names = [mapping.get(s, s) for s in methods]
    if len(set(names)) != len(names):
        raise BaselineError(f"--map: two run methods would be stored under one name ({', '.join(names)})")
    tolerances = dict((old or {}).get("tolerances", {}))
    entries = {}
    for spec, name in zip(methods, names):
        metrics = {m: v for m, v in values[spec].items()}
        for m in metrics:
            tolerances.setdefault(m, dict(DEFAULT_TOLERANCES.get(m, FALLBACK_TOLERANCE)))
        entries[name] = {"n": n_ok[spec], "metrics": metrics}
    return {
        "schema": SCHEMA,
        "about": (old or {}).get(
            "about",
            "Reference numbers for `bench check` (the CI regression gate). A metric "
            "worse than these by more than max(abs, rel*|value|) fails the gate.",
        ),
        "command": command or short_command(config.get("command", "")),
        "identity": run_identity(config),
        "versions": config.get("versions", {}),
        "tolerances": {m: tolerances[m] for m in sorted(tolerances)},
        "methods": entries,
    }


def write_baseline(path: str | Path, baseline: dict[str, Any]) -> None:
    """Write a baseline atomically (indented JSON, stable key order)."""
    atomic_write_json(Path(path), baseline)


def _row(method, spec, metric, base, got, allowed, status, worse_by=float("nan")) -> dict[str, Any]:
    delta = got - base if not (pd.isna(got) or pd.isna(base)) else float("nan")
    return {
        "method": method,
        "run_method": spec,
        "metric": metric,
        "baseline": base,
        "run": got,
        "delta": delta,
        "worse_by": worse_by,
        "allowed": allowed,
        "status": status,
    }


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
