"""The set metrics of a run (FID, KID, ...): functions of the features in the run's store.

Every feature comes from the run's :class:`~bench.metrics.feature_store.FeatureStore`, keyed by
the extractor and the pixels: the real images' under their digest (``image_sha256``), each
output's under the digest its row recorded (``output_sha256``; an older row without it is
hashed from its PNG). Features still missing (a resumed run's earlier outputs, a run made
before the store existed) are extracted by the run's :class:`~bench.engine.features.FeatureStage`
and stored first. A result is reused from ``set_metrics.json`` only when its key is unchanged:
the provenance of every row it averages, the outputs' pixels, the extractor and the reference
statistics. ``set_metrics.json`` then holds exactly the results the summaries show.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.core.digest import image_sha256, json_sha256
from bench.core.files import atomic_write_json, update_json
from bench.engine.features import FeatureStage
from bench.engine.provenance import FIELDS, scoring_parts
from bench.metrics import SetMetricContext
from bench.metrics.frechet import BIAS_N
from bench.outputs.rundir import RunDir

log = logging.getLogger("bench")

# The provenance of an output (its image, mask, method and input), without the per-image scoring.
OUTPUT_FIELDS = tuple(f for f in FIELDS if f != "scoring_sha256")


class OutputChangedError(RuntimeError):
    """An output PNG holds other pixels than its row recorded (the file was changed after the run)."""


class LazyImages(Sequence):
    """Images loaded one at a time when indexed, for set metrics that read images (plugins)."""

    def __init__(self, ids: list[str], load):
        self.ids, self._load = ids, load

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._load(i) for i in self.ids[k]]
        return self._load(self.ids[k])


def output_digests(rundir: RunDir, spec: str, ids: list[str], rows: dict) -> dict[str, str]:
    """``{image_id: sha256}`` of a method's outputs: the rows' ``output_sha256``, else the PNG's pixels."""
    out = {}
    for i in ids:
        digest = rows[(spec, i)].get("output_sha256")
        out[i] = digest if digest else image_sha256(rundir.load_output(spec, i))
    return out


def checked_loader(load, digest: str, where: str):
    """``load`` wrapped so that pixels other than ``digest`` stop the run with the file named."""

    def read() -> np.ndarray:
        image = load()
        got = image_sha256(image)
        if got != digest:
            raise OutputChangedError(
                f"{where} holds other pixels than its row recorded (sha256 {got[:12]} vs {digest[:12]}): it was "
                "changed after the run; restore it, or rerun with a new --out"
            )
        return image

    return read


def compute_set_metrics(
    cfg,
    rundir: RunDir,
    specs: list[str],
    proto,
    rows: list[dict],
    metrics,
    stage: FeatureStage | None,
    reference=None,
) -> dict[str, dict[str, Any]]:
    """Compute set-level metrics per method from stored features, reusing results whose inputs are unchanged.

    Parameters
    ----------
    cfg : RunConfig
        The run (seed, progress, options).
    rundir : RunDir
        The run directory.
    specs : list of str
        The methods the summaries describe.
    proto : Protocol
        The run's images (their digests; pixels only when features are missing).
    rows : list of dict
        Each (method, image)'s last row.
    metrics : list of MetricInfo
        Set metrics.
    stage : FeatureStage or None
        Extracts and stores what is missing (None only when ``metrics`` is empty).
    reference : ReferenceStats, optional
        Statistics of the real side from a file (``--fid-reference``).

    Returns
    -------
    dict
        ``{spec: {metric: {value, low, high, details}}}``.
    """
    stored = {}
    if rundir.set_metrics.is_file():
        try:
            stored = rundir.read_json(rundir.set_metrics)
        except ValueError as err:  # stored results only save time: recomputed from the features
            log.warning("%s: computing the set metrics again", str(err).split("; restore")[0])
    if not isinstance(stored, dict):
        stored = {}
    if not metrics:
        if rundir.set_metrics.is_file():
            update_json(rundir.set_metrics, {})
        return {}
    assert stage is not None
    n = len(proto.ids)
    if n < BIAS_N:
        log.warning(
            "n = %d < %d (the Inception feature dimension): FID is biased upwards at this n and only "
            "comparable between runs of equal n; KID is unbiased",
            n,
            BIAS_N,
        )
    ok_rows = {(r["method"], r["image_id"]): r for r in rows if r["status"] == "ok"}
    identity = stage.store.identity
    code = json_sha256(scoring_parts())  # the metrics' code and library versions
    ref_key = None if reference is None else {"sha256": reference.sha256, "format": reference.format}
    plan = []
    for spec in specs:
        ids = [i for i in proto.ids if (spec, i) in ok_rows]
        fakes = output_digests(rundir, spec, ids, ok_rows)
        key = {
            # What every averaged output was made from (ground truth included) and its pixels; not how the
            # rows' per-image metrics were scored, so adding a per-image metric keeps these results.
            "rows": json_sha256([[i, *(ok_rows[(spec, i)].get(f) for f in OUTPUT_FIELDS), fakes[i]] for i in ids]),
            "code": code,
            "extractor": identity,
            "reference": ref_key,
        }
        todo = [m for m in metrics if _stored_key(stored, spec, m.name) != key]
        plan.append((spec, ids, fakes, key, todo))
    _extract_missing(stage, rundir, proto, plan, reference is None, cfg.progress)
    results: dict[str, dict[str, Any]] = {}
    for spec, ids, fakes, key, todo in plan:
        results[spec] = {m.name: stored[spec][m.name] for m in metrics if m not in todo}
        stored[spec] = dict(results[spec])  # a result of other inputs is never left beside a current one
        if todo and not ids:  # with 1 image or more each metric computes or withholds itself, with its reason
            log.warning("%s: no successful output for %s", spec, ", ".join(m.name for m in todo))
            continue
        if not todo:
            continue
        fake = _frozen(stage.store.get([fakes[i] for i in ids]))
        real = (
            reference.feats if reference is not None else _frozen(stage.store.get([proto.image_digest(i) for i in ids]))
        )
        ctx = SetMetricContext(
            seed=cfg.seed,
            options={},
            progress=cfg.progress,
            extractor=dict(identity),
            reference=reference,
            images=(LazyImages(ids, proto.image), LazyImages(ids, lambda i, s=spec: rundir.load_output(s, i))),
        )
        for metric in todo:
            res = metric.fn(real, fake, ctx)
            entry = {"value": res.value, "low": res.low, "high": res.high, "details": {**res.details, "key": key}}
            results[spec][metric.name] = entry
            stored.setdefault(spec, {})[metric.name] = entry
            atomic_write_json(rundir.set_metrics, stored)
    # Methods and metrics the summaries do not show leave the file too.
    update_json(rundir.set_metrics, results)
    return results


def _extract_missing(stage: FeatureStage, rundir: RunDir, proto, plan: list, reals: bool, progress: bool) -> None:
    """Extract and store every feature of the plan's images that the store lacks (nothing when complete).

    Also for results that are kept: the store is part of the run, and reports and ``bench stats``
    read it, so a store that was lost or set aside is made whole again.
    """
    need_real: dict[str, Any] = {}
    need_fake: dict[str, Any] = {}
    for spec, ids, fakes, _, _ in plan:
        if reals:
            for i in ids:
                need_real.setdefault(proto.image_digest(i), lambda i=i: proto.image(i))
        for i in ids:
            where = rundir.output_path(spec, i)
            load = checked_loader(lambda s=spec, i=i: rundir.load_output(s, i), fakes[i], str(where))
            need_fake.setdefault(fakes[i], load)
    stage.extract(need_real.items(), "the real images", progress)
    stage.extract(need_fake.items(), "earlier outputs", progress)


def _frozen(feats: np.ndarray) -> np.ndarray:
    """Read-only, so the metrics of one method hash it once (their shared scratch is keyed by content)."""
    feats.setflags(write=False)
    return feats


def _stored_key(stored: dict, spec: str, metric: str) -> Any:
    """The reuse key of a stored result, or None when there is none (or the file's structure is not ours)."""
    entry = stored.get(spec, {}) if isinstance(stored, dict) else {}
    entry = entry.get(metric) if isinstance(entry, dict) else None
    details = entry.get("details") if isinstance(entry, dict) else None
    return details.get("key") if isinstance(details, dict) else None
