"""The benchmark runner: the same images, masks and metrics for every method.

Data flows one way: source -> (image, mask) -> blank the hole -> method ->
composite the known pixels back -> metrics -> records. A run is resumable:
each finished (method, image) row is appended to ``records.jsonl`` and fsynced,
so a killed run loses at most the image in flight, and rerunning the same
command skips every finished row whose inputs are unchanged.

Provenance decides what is resumed. Every row records the digests of its image's pixels,
its mask, its method's fingerprint (spec, code, versions, weights), what the method read for
that image (a prediction file) and the scoring code (:mod:`bench.engine.provenance`). A
finished row is reused only when all of them equal the current ones; any other row of a
requested method is computed again, and the run says how many and why. ``images/ID.png``
is rewritten when its pixels differ from the data source's.

Which methods the derived files describe: ``records.csv``, ``summary.csv``, ``summary.md``
and ``set_metrics.json`` always describe every method of the run directory (``config.json``'s
``methods``: every method ever run there, and every method with rows in ``records.jsonl``),
with each (method, image)'s last row. A resume with fewer methods keeps the others
everywhere, unchanged, and says so. Their rows are not recomputed, so they must still match
the run's images, masks and scoring code; if they do not, the run is refused (name them in
``--methods`` to recompute them, or use a new ``--out``).
"""

from __future__ import annotations

import logging
import platform
import re
import sys
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.device import device_record, resolve_device
from bench.core.digest import image_sha256
from bench.core.files import LogDamage, update_json, update_text, write_png
from bench.engine.evaluate import method_threads
from bench.engine.provenance import SCORING_CHANGED, Provenance, describe
from bench.experiments.run_features import load_reference, open_stage, reference_record
from bench.experiments.run_set_metrics import compute_set_metrics
from bench.inputs.protocol import load_protocol
from bench.metrics import all_metrics, default_metrics, get_metric
from bench.metrics.definitions import metric_definitions
from bench.outputs.report.format import display_label
from bench.outputs.report.tables import table_columns
from bench.outputs.rundir import RunDir
from bench.outputs.summary import interval_note, summarize, to_markdown

log = logging.getLogger("bench")


class RunConflictError(RuntimeError):
    """The output directory holds a run that this one cannot resume (different images or masks)."""


@dataclass
class RunConfig:
    """Everything that defines a run.

    Attributes
    ----------
    methods : list of str
        Registry specs, e.g. ``["telea", "patch:size=9"]``.
    out : Path
        Run directory; rerunning with the same ``out`` resumes.
    dataset, data_root, split, size : str, path, str, int
        Data source (see :func:`bench.inputs.data.get_source`).
    n : int or None
        Number of usable images (None = all).
    seed : int
        Mask seed (also seeds bootstraps).
    mask_family : str
        Mask family spec (``bench list masks``): ``rects`` (the study's protocol), ``center``,
        ``thin``/``medium``/``thick`` (LaMa), ``freeform`` (DeepFill v2), ``file:dir=PATH``.
    metrics : list of str or None
        Metric names; None = :data:`bench.metrics.registry.DEFAULT_METRICS`.
    jobs : int
        Worker processes for methods that are parallel-safe and not batched.
    fid_features : str or None
        Optional TorchScript feature extractor for set metrics.
    fid_reference : str or None
        Statistics of the real side of the set metrics from a file (pytorch-fid or clean-fid
        format; :mod:`bench.metrics.reference_stats`) instead of the run's real images.
    device : str
        ``cpu``, ``cuda``, ``cuda:N`` or ``auto``: where features are extracted (and GLCIC runs,
        unless its spec names a device).
    feature_workers : int or None
        Single-threaded, nice-19 processes extracting the set metrics' features while the methods
        run, which then get one thread fewer (0: in this process); None: one per core when there
        are two or more, at least 64 images to extract and the device is the CPU.
    progress : bool
        Show progress bars.
    cluster : str or None
        ``local:N`` or ``tcp://HOST:PORT``: run the work units on Dask (see :mod:`bench.engine`);
        None runs here, as before, without importing Dask.
    """

    methods: list[str]
    out: Path
    dataset: str = "builtin"
    data_root: str | None = None
    split: str = "test"
    size: int = 160
    n: int | None = 280
    seed: int = 0
    mask_family: str = "rects"
    metrics: list[str] | None = None
    jobs: int = 1
    fid_features: str | None = None
    fid_reference: str | None = None
    device: str = "cpu"
    feature_workers: int | None = None
    progress: bool = True
    cluster: str | None = None
    command: str = field(default_factory=lambda: " ".join(sys.argv))


@dataclass
class RunResult:
    """What a finished run produced."""

    rundir: RunDir
    summary: Any  # pandas DataFrame
    markdown: str  # means only; summary.md adds the intervals
    mask_hash: str
    rows: int
    errors: int
    computed: int
    skipped_images: list[dict[str, str]]
    repaired: LogDamage | None = None  # what was moved out of records.jsonl before resuming
    # Finished rows computed again because their provenance changed: {reason: count}.
    recomputed: dict[str, int] = field(default_factory=dict)
    # Methods of earlier runs of the directory, not asked for now, kept in every derived file.
    kept_methods: list[str] = field(default_factory=list)
    # Ground-truth images rewritten because their pixels differed from the data source's.
    rewritten_images: int = 0
    # Finished rows scored again from their saved outputs (scoring code or per-image metrics changed).
    rescored: int = 0


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("inpaint-bench", "numpy", "scipy", "scikit-image", "opencv-python-headless", "numba", "torch"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


# ---------------------------------------------------------------- the run


def _check_resumable(rundir: RunDir, mask_manifest: dict, identity: dict) -> None:
    if rundir.masks.is_file():
        old = rundir.read_json(rundir.masks)
        if old.get("sha256") != mask_manifest["sha256"]:
            raise RunConflictError(
                f"{rundir.path} holds a run with different masks (sha256 {old.get('sha256', '?')[:12]} vs "
                f"{mask_manifest['sha256'][:12]}): same --dataset/--n/--seed/--masks are needed to resume; "
                "use a new --out for a different run"
            )
    if rundir.config.is_file():
        old = rundir.read_json(rundir.config).get("identity", {})
        diff = {k: (old.get(k), v) for k, v in identity.items() if old.get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise RunConflictError(f"{rundir.path} holds a different run ({detail}); use a new --out")


def run(cfg: RunConfig, executor=None) -> RunResult:
    """Run every method of ``cfg`` on the same images and masks; resume where possible.

    Parameters
    ----------
    cfg : RunConfig
        The run.
    executor : bench.engine.executor.Executor, optional
        Where work units run; default: opened from ``cfg.cluster`` and ``cfg.jobs`` for this run
        (pass one to share a cluster between runs, as the discriminator ablation does).

    Returns
    -------
    RunResult
        Summary table, mask hash and counts. Files are written under ``cfg.out``
        (layout in :mod:`bench.outputs.rundir`).
    """
    import methods as registry

    chosen = [get_metric(m) for m in cfg.metrics] if cfg.metrics else default_metrics()
    # Build every method up front so a typo in the last spec fails before hours of work,
    # and (like an unusable dataset) before the run directory exists: a bad command leaves nothing behind.
    device = resolve_device(cfg.device)  # an unusable device leaves nothing behind
    built = [registry.create(spec) for spec in cfg.methods]
    for method in built:
        # A run-wide --device reaches the methods that run on one (GLCIC) unless their spec names its own.
        if hasattr(method, "use_device") and not re.search(r"(^|[:,])device=", method.spec):
            method.use_device(device)
    specs = [m.spec for m in built]
    if len(set(specs)) != len(specs):
        raise ValueError(f"a method is listed twice: {', '.join(specs)}")
    proto = load_protocol(cfg.dataset, cfg.data_root, cfg.split, cfg.size, cfg.n, cfg.seed, cfg.mask_family)
    # A method that serves only some protocols (a folder of predictions) says so before any work.
    for method in built:
        method.check_protocol(proto.ids, proto.manifest["sha256"])
    # An unusable reference file leaves nothing behind either.
    reference = load_reference(cfg, proto) if any(m.kind == "set" for m in chosen) else None
    from bench.engine.where import open_executor

    # Connected before the run directory exists: an unreachable cluster leaves nothing behind.
    with (
        nullcontext(executor) if executor is not None else open_executor(cfg.cluster, cfg.jobs) as ex,
        RunDir(cfg.out).writing() as rundir,
    ):
        return _run_locked(cfg, rundir, built, chosen, proto, ex, device, reference)


def _run_locked(
    cfg: RunConfig, rundir: RunDir, built: list, chosen: list, proto, executor, device: str, reference
) -> RunResult:
    """The body of :func:`run`, with the run directory's writer lock held."""
    specs = [m.spec for m in built]
    image_metrics = [m for m in chosen if m.kind == "image"]
    set_metrics = [m for m in chosen if m.kind == "set"]
    skipped = proto.skipped
    mask_manifest, identity = proto.manifest, proto.identity
    ids = proto.ids
    _check_resumable(rundir, mask_manifest, identity)
    # A torn or unreadable line is moved aside before anything is appended, so no row is glued onto it.
    damage = rundir.records_log().repair()
    previous = {(r["method"], r["image_id"]): r for r in rundir.read_records()}
    old_config = rundir.read_json(rundir.config) if rundir.config.is_file() else {}
    provenance = Provenance(proto, built, image_metrics)
    methods = list(dict.fromkeys([*old_config.get("methods", []), *(spec for spec, _ in previous), *specs]))
    kept = [spec for spec in methods if spec not in specs]
    _check_kept_rows(rundir, previous, ids, kept, provenance)
    earlier_parts = old_config.get("fingerprints", {})
    stale = _stale_rows(previous, specs, provenance, earlier_parts)
    # A row whose method and inputs are unchanged but whose scoring is not current is scored
    # again from its saved output: a new metric or a change of the metrics code never reruns a method.
    rescore = _rescorable(rundir, previous, methods, provenance, image_metrics)
    stale = {key: why for key, why in stale.items() if key not in rescore}

    config = {
        "identity": identity,
        "methods": methods,
        "metrics": [m.name for m in chosen],
        "metric_definitions": metric_definitions([m.name for m in chosen]),
        "mask_sha256": mask_manifest["sha256"],
        # Each method's own folder under outputs/ (also in outputs.json, which readers use).
        "output_folders": {spec: rundir.output_dir(spec).name for spec in methods},
        "versions": _versions(),
        # Where features (and GLCIC, unless its spec names a device) ran, with the libraries that matter there.
        "device": device_record(device),
        **({"fid_reference": reference_record(reference)} if reference is not None else {}),
        # What each method's rows were computed with (see methods.Method.fingerprint); a later run names what changed.
        "fingerprints": {**{k: v for k, v in earlier_parts.items() if k in kept}, **provenance.parts},
        "command": cfg.command,
        # A local run's config stays as it was before --cluster existed.
        # (and how features are extracted does not change what is measured).
        "run": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(cfg).items()
            if not (k == "cluster" and v is None) and k != "feature_workers"
        },
    }
    # Files are only written when their content changed, so re-opening a finished run writes nothing.
    update_json(rundir.config, config)
    update_json(rundir.masks, mask_manifest)
    update_json(rundir.skipped, skipped)
    # Intervals resample these units; kept beside the records so reports made later use the same ones.
    update_json(rundir.groups, {"unit": proto.unit, "units": proto.n_units, "groups": proto.groups})

    unchanged = _rescore(rundir, proto, previous, rescore, provenance, image_metrics, cfg.progress)
    # An output that is not what its row scored is computed again (when its method is asked for).
    stale.update({key: "saved output differs from its row" for key in unchanged if key[0] in specs})
    pending = [
        (
            method,
            [i for i in ids if previous.get((method.spec, i), {}).get("status") != "ok" or (method.spec, i) in stale],
        )
        for method in built
    ]
    pending = [(method, todo) for method, todo in pending if todo]
    recomputed = Counter(stale.values())
    if recomputed:
        log.warning("%s", describe(recomputed))
    if kept:
        log.warning(
            "resumed with fewer methods: every table of %s keeps %s from earlier runs, not recomputed",
            rundir.path,
            ", ".join(kept),
        )
    with open_stage(cfg, rundir, proto, pending, set_metrics, executor, reference) as stage:
        rewritten = _write_ground_truth(rundir, proto, stage if reference is None else None, executor, cfg.progress)
        computed = _compute(cfg, rundir, pending, proto, previous, image_metrics, executor, stage, provenance)
        proto.release()  # the set metrics work on features: no decoded image is needed from here on
        # Counted and summarised from the file, so what is printed is what a later reader finds.
        on_disk = {(r["method"], r["image_id"]): r for r in rundir.read_records()}
        rows = [on_disk[(spec, i)] for spec in methods for i in ids if (spec, i) in on_disk]
        methods = [spec for spec in methods if any((spec, i) in on_disk for i in ids)]
        set_results = compute_set_metrics(cfg, rundir, methods, proto, rows, set_metrics, stage, reference)

    import pandas as pd

    frame = pd.DataFrame(rows)
    update_text(rundir.records_csv, frame.to_csv(index=False))
    summary = summarize(frame, set_results, methods=methods, seed=cfg.seed, groups=proto.groups)
    update_text(rundir.summary_csv, summary.to_csv(index=False))
    markdown = to_markdown(summary, metrics=_headline(summary))
    set_names = list(dict.fromkeys(m for per_method in set_results.values() for m in per_method))
    header = _summary_header(config, len(ids), interval_note(proto.unit, proto.n_units), set_names)
    update_text(rundir.summary_md, header + markdown)
    compact = to_markdown(summary, metrics=_headline(summary), intervals=False)
    errors = sum(r["status"] != "ok" for r in rows)
    return RunResult(
        rundir,
        summary,
        compact,
        mask_manifest["sha256"],
        len(rows),
        errors,
        computed,
        skipped,
        damage or None,
        dict(recomputed),
        kept,
        rewritten,
        len(rescore) - len(unchanged),
    )


def _stale_rows(previous: dict, specs: list[str], provenance: Provenance, earlier_parts: dict) -> dict:
    """``{(spec, image_id): reason}`` of the finished rows of this run's methods that cannot be reused."""
    stale = {}
    for (spec, image_id), row in previous.items():
        if spec in specs and row.get("status") == "ok":
            why = provenance.reason(row, earlier_parts.get(spec))
            if why is not None:
                stale[(spec, image_id)] = why
    return stale


def _scored_with(row: dict, names: list[str]) -> tuple[str, ...]:
    return tuple(n for n in names if n in row)


def _rescorable(rundir: RunDir, previous: dict, methods: list[str], provenance, image_metrics) -> dict:
    """``{(spec, image_id): reason}`` of finished rows to score again from their saved outputs.

    Those are rows of any method of the directory whose image, mask, method and input are
    unchanged but that were scored by other metrics code or with another list of per-image
    metrics, and whose output PNG is there.
    """
    registered = [m.name for m in all_metrics("image")]
    wanted = tuple(n for n in registered if n in {m.name for m in image_metrics})
    out = {}
    for key, row in previous.items():
        if key[0] not in methods or row.get("status") != "ok":
            continue
        reason = provenance.data_reason(row)
        if reason == SCORING_CHANGED:
            pass
        elif reason is None and _scored_with(row, registered) != wanted:
            reason = "scored with other per-image metrics"
        else:
            continue
        if key[0] in provenance.methods and provenance.reason({**row, "scoring_sha256": provenance.scoring_sha256}):
            continue  # the method or its input changed too: computed again
        if rundir.output_path(*key).is_file():
            out[key] = reason
    return out


def _rescore(rundir: RunDir, proto, previous: dict, rescore: dict, provenance, image_metrics, progress: bool) -> list:
    """Score the rows of ``rescore`` again from their saved outputs (appended to ``records.jsonl``).

    Returns
    -------
    list
        The keys whose PNG holds other pixels than the row recorded (not rescored).
    """
    from tqdm import tqdm

    from bench.metrics import evaluate_image

    failed: list = []
    if not rescore:
        return failed
    registered = {m.column(r) for m in all_metrics("image") for r in m.regions} | {"metric_errors"}
    log.warning("%s", describe(Counter(rescore.values()), "scored again from their saved outputs"))
    with rundir.records_log() as records:
        for spec, image_id in tqdm(list(rescore), desc="scoring again", unit="img", disable=not progress, leave=False):
            row = previous[(spec, image_id)]
            output = rundir.load_output(spec, image_id)
            digest = image_sha256(output)
            if row.get("output_sha256", digest) != digest:
                failed.append((spec, image_id))
                continue
            fresh = {k: v for k, v in row.items() if k not in registered}
            fresh.update(evaluate_image(output, proto.image(image_id), proto.mask(image_id), image_metrics))
            fresh.update(output_sha256=digest, scoring_sha256=provenance.scoring_sha256)
            records.append_row(fresh)
            previous[(spec, image_id)] = fresh
    return failed


def _check_kept_rows(rundir: RunDir, previous: dict, ids: list[str], kept: list[str], provenance) -> None:
    """Refuse to resume rows that this run would keep but could not vouch for.

    Rows of images outside this run, and rows of methods not asked for now whose image, mask
    or scoring code changed (or that carry no provenance), would otherwise stay in the tables
    beside current ones.
    """
    wanted = set(ids)
    foreign = sorted({i for _, i in previous if i not in wanted})
    if foreign:
        raise RunConflictError(
            f"{rundir.records_jsonl} holds rows of {len(foreign)} image(s) that are not in this run (e.g. "
            f"{foreign[0]}): it was written with other --dataset/--data-root/--n/--size options; use a new --out"
        )
    why = {
        spec: Counter(
            reason
            for (s, _), row in previous.items()
            if s == spec and (reason := provenance.data_reason(row)) and reason != SCORING_CHANGED
        )
        for spec in kept
    }
    why = {spec: reasons for spec, reasons in why.items() if reasons}
    if why:
        detail = "; ".join(f"{spec}: {describe(reasons, 'stale')}" for spec, reasons in why.items())
        raise RunConflictError(
            f"{rundir.path} holds rows of methods not in --methods that no longer match this run's images, "
            f"masks or scoring ({detail}); add them to --methods to recompute them, or use a new --out"
        )


def _write_ground_truth(rundir: RunDir, proto, stage, executor, progress: bool) -> int:
    """Write each ``images/ID.png`` that is missing or holds other pixels than the image; returns how many differed.

    The real images' features go to ``stage`` on the way (those not stored yet), so they are
    ready before any method's; a cluster's workers extract them where the images are.
    """
    from tqdm import tqdm

    differed = 0
    for image_id in tqdm(proto.ids, desc="real images", unit="img", disable=not progress, leave=False):
        path = rundir.image_path(image_id)
        digest = proto.image_digest(image_id)
        if path.is_file():
            try:
                same = image_sha256(rundir.load_image(image_id)) == digest
            except OSError:
                same = False  # unreadable: written again
            if not same:
                differed += 1
                write_png(path, proto.image(image_id))
        else:
            write_png(path, proto.image(image_id))
        if stage is not None and not stage.remote and stage.wants(digest):
            stage.add(digest, proto.image(image_id))
    if stage is not None:
        if stage.remote:
            stage.extract_remote(proto, [i for i in proto.ids if stage.wants(proto.image_digest(i))])
        stage.flush()
    if differed:
        log.warning(
            "%d ground-truth image(s) in %s rewritten: their pixels differed from the data source's",
            differed,
            rundir.images_dir,
        )
    return differed


def _compute(
    cfg: RunConfig,
    rundir: RunDir,
    pending: list,
    proto,
    previous: dict,
    image_metrics,
    executor,
    stage,
    provenance: Provenance,
) -> int:
    """Run each method on the images it has no reusable row for, appending (and fsyncing) row by row.

    ``pending`` lists each method with the ids of the images it still needs. The executor
    computes (here or on a cluster); this is the one place rows are written, so a cluster run's
    records are written once each, by this process, each with its ``provenance``. Each
    composited output also goes to the feature ``stage`` (or its features, when a cluster
    worker extracted them, to the stage's store), so its features are
    extracted while later images are computed. ``previous`` is updated in place; returns the
    number of rows computed.
    """
    if not pending:
        return 0  # a finished run: records.jsonl is not even opened (the directory may be read-only)
    # With the feature processes working beside them, methods get one core fewer (see method_threads).
    with method_threads(-1 if stage is not None and stage.workers > 0 else 0):
        return _compute_rows(cfg, rundir, pending, proto, previous, image_metrics, executor, stage, provenance)


def _compute_rows(
    cfg: RunConfig,
    rundir: RunDir,
    pending: list,
    proto,
    previous: dict,
    image_metrics,
    executor,
    stage,
    provenance: Provenance,
) -> int:
    from bench.engine.tasks import data_ref

    computed = 0
    data = data_ref(cfg.dataset, cfg.data_root, cfg.split, cfg.size)
    request = None if stage is None else stage.request
    with rundir.records_log() as records:
        for spec, sample, row, final, feats in executor.inpaint(
            pending, proto, data, image_metrics, cfg.progress, request
        ):
            if final is not None:
                write_png(rundir.output_path(spec, sample.id), final)
                row["output_sha256"] = image_sha256(final)
                if stage is not None:
                    if feats is not None:
                        stage.store.put([row["output_sha256"]], np.asarray(feats)[None])
                    else:
                        stage.add(row["output_sha256"], final)
            else:
                log.warning("%s failed on %s: %s", spec, sample.id, row["error"])
            row.update(provenance.of(spec, sample.id))
            records.append_row(row)
            previous[(spec, sample.id)] = row
            computed += 1
    if stage is not None:
        stage.finish()
    return computed


def _headline(summary) -> list[str]:
    # The report's tables in one: whole image, hole, set metrics (by registry group), then time.
    present = list(dict.fromkeys(summary["metric"]))
    tables = table_columns(present)
    return tables["image"] + tables["hole"] + tables["set"] + [m for m in present if m == "seconds"]


def _summary_header(config: dict, n: int, resampling: str, set_metrics: list[str] | None = None) -> str:
    ident = config["identity"]
    names = ", ".join(display_label(m) for m in set_metrics or [])
    sets = f" Set metrics ({names}) keep their own image-level bootstrap interval." if names else ""
    return (
        f"# Summary\n\n{ident['dataset']['dataset']} ({ident['dataset'].get('split', '-')}), n = {n}, "
        f"masks: {ident['mask_family']} seed {ident['seed']} (sha256 {config['mask_sha256'][:12]}); "
        f"mean [95 % bootstrap interval, {resampling}]; `seconds` is time per image.{sets}\n\n"
    )
