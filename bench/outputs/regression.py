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

Only like is compared with like: a run whose data, n, seed, masks, feature extractor
(``extractor_sha256``) or metric definitions (``metric_definitions``, see
:mod:`bench.metrics.definitions`) differ from the baseline's is refused, naming the
difference, unless the key is allowed explicitly (``--allow-different``). A baseline
written before a key existed is compared with a warning. Every baseline value must be a
finite number; a set metric the run withheld at its n is reported, not failed.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.files import atomic_write_json
from bench.metrics.definitions import base_metric
from bench.metrics.registry import FALLBACK_TOLERANCE, describe, split_column
from bench.outputs.report.format import higher_is_better
from bench.outputs.report.tables import load_run, short_command

SCHEMA = 1

IGNORED = ("seconds",)  # time depends on the machine: a benchmark's job, not the gate's
STATUS_ORDER = ("worse", "missing", "better", "ok", "withheld", "skipped", "new")


def default_tolerance(column: str) -> dict[str, float]:
    """Starting tolerance of a metric column new to a baseline: the registry's ``tolerance_for`` its region.

    ``--update`` keeps whatever the file already states. A column no metric here describes gets
    :data:`FALLBACK_TOLERANCE`.
    """
    try:
        info = describe(column)
    except KeyError:
        return dict(FALLBACK_TOLERANCE)
    return info.tolerance_for(split_column(column)[0])


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
        if not _is_count(entry.get("n", 0)):
            raise BaselineError(f"baseline {path}: methods.{method}.n must be a whole number >= 0, got {entry['n']!r}")
        for metric, value in entry["metrics"].items():
            if not _is_finite_number(value):
                raise BaselineError(
                    f"baseline {path}: methods.{method}.metrics.{metric} is {_describe_value(value)}; "
                    "every baseline value must be a finite number (remove the key or rewrite the "
                    "baseline with `bench check RUN --update`)"
                )
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


# Identity keys every baseline has had; the later ones are checked when the baseline states them.
CORE_IDENTITY = ("dataset", "n", "seed", "mask_family", "ids_sha256", "mask_sha256")
IDENTITY_KEYS = (*CORE_IDENTITY, "extractor_sha256", "metric_definitions")


def run_identity(config: dict[str, Any], set_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """What must agree for two runs' numbers to be comparable (not local paths).

    Data, n, seed and masks from ``config``; the feature extractor's sha256 from the details of
    the run's set metrics (None without set metrics; a sorted list if methods used several);
    the metric definitions the run recorded (None for a run written before they were).
    """
    ident = config.get("identity", {})
    dataset = ident.get("dataset")
    if isinstance(dataset, dict):
        dataset = {k: v for k, v in dataset.items() if k not in MACHINE_FIELDS}
    shas = sorted(
        {
            str(res["details"]["extractor_sha256"])
            for per_method in (set_metrics or {}).values()
            if isinstance(per_method, dict)
            for res in per_method.values()
            if isinstance(res, dict) and isinstance(res.get("details"), dict) and res["details"].get("extractor_sha256")
        }
    )
    return {
        "dataset": dataset,
        "n": ident.get("n"),
        "seed": ident.get("seed"),
        "mask_family": ident.get("mask_family"),
        "ids_sha256": ident.get("ids_sha256"),
        "mask_sha256": config.get("mask_sha256"),
        "extractor_sha256": (shas[0] if len(shas) == 1 else shas) if shas else None,
        "metric_definitions": config.get("metric_definitions"),
    }


def identity_differences(
    baseline_identity: dict[str, Any], run: dict[str, Any], metrics: list[str], allow: tuple[str, ...] = ()
) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """Differences between a baseline's identity and a run's, and warnings.

    Parameters
    ----------
    baseline_identity, run : dict
        The baseline's ``identity`` and :func:`run_identity` of the run.
    metrics : list of str
        Metric columns the comparison checks (their definitions must agree).
    allow : tuple of str
        Keys of :data:`IDENTITY_KEYS` allowed to differ (reported as warnings).

    Returns
    -------
    diffs : dict
        ``{key: (baseline, run)}`` of differences that refuse the comparison; a metric
        definition is keyed ``metric_definitions.NAME``.
    warnings : list of str
        Allowed differences and keys one side does not record.
    """
    diffs: dict[str, tuple[Any, Any]] = {}
    warnings: list[str] = []

    def differ(key: str, name: str, a: Any, b: Any) -> None:
        if key in allow:
            warnings.append(f"compared despite a different {name} (--allow-different {key}): baseline {a} vs run {b}")
        else:
            diffs[name] = (a, b)

    for key in CORE_IDENTITY:
        if baseline_identity.get(key) != run.get(key):
            differ(key, key, baseline_identity.get(key), run.get(key))
    base_sha, run_sha = baseline_identity.get("extractor_sha256"), run.get("extractor_sha256")
    if base_sha is None and run_sha is not None:
        warnings.append(
            "the baseline records no feature extractor (extractor_sha256): FID/KID compared on trust; "
            "`bench check RUN --update` adds it"
        )
    elif base_sha is not None and run_sha is not None and base_sha != run_sha:
        differ("extractor_sha256", "extractor_sha256", base_sha, run_sha)
    base_defs, run_defs = baseline_identity.get("metric_definitions"), run.get("metric_definitions")
    names = list(dict.fromkeys(base_metric(m) for m in metrics))
    if not isinstance(base_defs, dict):
        warnings.append(
            "the baseline records no metric definitions: compared on trust; `bench check RUN --update` adds them"
        )
    elif not isinstance(run_defs, dict):
        warnings.append("the run records no metric definitions (written by an older version): compared on trust")
    else:
        for name in names:
            if name in base_defs and name in run_defs and base_defs[name] != run_defs[name]:
                differ("metric_definitions", f"metric_definitions.{name}", base_defs[name], run_defs[name])
    return diffs, warnings


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
    values, n_ok, config, methods, _, _ = _run_state(run)
    return values, n_ok, config, methods


def _run_state(run: str | Path):
    """:func:`run_values` plus ``{spec: {metric: withheld reason}}`` and :func:`run_identity`."""
    data = load_run(run)
    values: dict[str, dict[str, float]] = {}
    notes: dict[str, dict[str, str]] = {}
    for method in data.methods:
        sub = data.summary[(data.summary["method"] == method) & ~data.summary["metric"].isin(IGNORED)]
        values[method] = {
            m: (float(v) if v is not None and not pd.isna(v) else float("nan"))
            for m, v in zip(sub["metric"], sub["value"])
        }
        notes[method] = {m: str(t) for m, t in zip(sub["metric"], sub["note"]) if isinstance(t, str) and t}
    ok = data.ok
    n_ok = {m: int((ok["method"] == m).sum()) for m in data.methods}
    return values, n_ok, data.config, data.methods, notes, run_identity(data.config, data.set_metrics)


def compare(
    run: str | Path,
    baseline: dict[str, Any],
    mapping: dict[str, str] | None = None,
    allow_missing: bool = False,
    metrics: list[str] | None = None,
    allow_different: tuple[str, ...] | list[str] = (),
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
    allow_different : sequence of str
        Identity keys (:data:`IDENTITY_KEYS`) allowed to differ; the comparison then
        warns instead of refusing.

    Returns
    -------
    DataFrame
        Columns ``method, run_method, metric, baseline, run, delta, worse_by, allowed, status``.
        ``delta = run - baseline``; ``worse_by`` is the worsening in the metric's
        direction (positive = worse); status is ``worse``, ``missing``, ``ok``,
        ``better`` (improved beyond the tolerance), ``withheld`` (a set metric the run
        withheld at its n: reported, not failed) or ``new`` (in the run only).
        :func:`failed` says whether the gate fails. ``table.attrs["warnings"]`` lists
        allowed differences, identity keys the baseline does not record and withheld metrics.

    Raises
    ------
    BaselineError
        The run used other data, masks, feature extractor or metric definitions than the
        baseline (and the key was not allowed), or a bad mapping or key.
    """
    values, n_ok, config, methods, notes, ident = _run_state(run)
    allow = tuple(allow_different)
    unknown_keys = [k for k in allow if k not in IDENTITY_KEYS]
    if unknown_keys:
        raise BaselineError(
            f"--allow-different: unknown key {', '.join(unknown_keys)} (known: {', '.join(IDENTITY_KEYS)})"
        )
    checked = sorted({m for e in baseline["methods"].values() for m in e["metrics"] if not metrics or m in metrics})
    diff, warnings = identity_differences(baseline["identity"], ident, checked, allow)
    if diff:
        detail = "; ".join(f"{k}: baseline {_short(a)} vs run {_short(b)}" for k, (a, b) in diff.items())
        keys = ",".join(dict.fromkeys(k.split(".")[0] for k in diff))
        raise BaselineError(
            f"the run is not comparable with the baseline ({detail}); rerun with the baseline's "
            f"command: {baseline.get('command', '?')} (or compare anyway with --allow-different {keys})"
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
            base = float(base)  # read_baseline made sure it is a finite number
            got = values[spec].get(metric, float("nan"))
            allowed = tolerances[metric].allowed(base)
            if math.isnan(got) and metric in notes[spec]:
                warnings.append(f"{metric} of {spec}: withheld by the run ({notes[spec][metric]})")
                rows.append(_row(name, spec, metric, base, got, allowed, "withheld"))
                continue
            if not math.isfinite(got):
                rows.append(_row(name, spec, metric, base, got, allowed, "missing"))
                continue
            sign = 1.0 if higher_is_better(metric) else -1.0
            worse_by = sign * (base - got)
            # A hair of slack so a value equal to the bound (after float rounding) passes.
            slack = 1e-12 * max(1.0, abs(base))
            status = "worse" if worse_by > allowed + slack else ("better" if -worse_by > allowed + slack else "ok")
            rows.append(_row(name, spec, metric, base, got, allowed, status, worse_by=worse_by))
    for spec in methods:
        if spec not in pairs:
            rows.append(_row(spec, spec, "*", float("nan"), float("nan"), 0.0, "new"))
    table = pd.DataFrame(
        rows, columns=["method", "run_method", "metric", "baseline", "run", "delta", "worse_by", "allowed", "status"]
    )
    table.attrs["warnings"] = warnings
    return table


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
    values, n_ok, config, methods, _, ident = _run_state(run)
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
        # A metric without a finite value (withheld at this n, failed) has nothing to guard.
        metrics = {m: v for m, v in values[spec].items() if math.isfinite(v)}
        for m in metrics:
            tolerances.setdefault(m, default_tolerance(m))
        entries[name] = {"n": n_ok[spec], "metrics": metrics}
    return {
        "schema": SCHEMA,
        "about": (old or {}).get(
            "about",
            "Reference numbers for `bench check` (the CI regression gate). A metric "
            "worse than these by more than max(abs, rel*|value|) fails the gate.",
        ),
        "command": command or short_command(config.get("command", "")),
        "identity": {**ident, "metric_definitions": _stored_definitions(ident, entries)},
        "versions": config.get("versions", {}),
        "tolerances": {m: tolerances[m] for m in sorted(tolerances)},
        "methods": entries,
    }


def write_baseline(path: str | Path, baseline: dict[str, Any]) -> None:
    """Write a baseline atomically (indented JSON, stable key order), keeping an existing file's mode.

    Raises
    ------
    BaselineError
        The file exists and is read-only: a protected baseline is not replaced.
    """
    path = Path(path)
    mode = None
    if path.is_file():
        mode = stat.S_IMODE(path.stat().st_mode)
        # The mode bits, not os.access: root may write any file, yet a 0444 baseline was protected on purpose.
        if not mode & stat.S_IWUSR or not os.access(path, os.W_OK):
            raise BaselineError(
                f"baseline {path} is read-only (mode {mode:o}); make it writable to update it "
                f"(chmod u+w {path}) or write elsewhere with --baseline"
            )
    atomic_write_json(path, baseline)
    if mode is not None:
        os.chmod(path, mode)


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


def _stored_definitions(ident: dict[str, Any], entries: dict[str, Any]) -> dict[str, str] | None:
    """The run's definitions of the metrics a new baseline stores (None if the run recorded none)."""
    run_defs = ident.get("metric_definitions")
    if not isinstance(run_defs, dict):
        return None
    names = dict.fromkeys(base_metric(m) for e in entries.values() for m in e["metrics"])
    return {n: run_defs[n] for n in names if n in run_defs}


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value!r}, not a number"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
