"""The one evaluation loop: blank the hole, call the method, check, composite, quantise, score.

Every experiment scores through here: a run (:mod:`bench.experiments.runner`, locally or in
Dask tasks), the ablation sweeps, the learning curve and the patch option study. So every number
of the suite is computed the same way: on the 8-bit composite the run saves, with the known
pixels copied back from the input, after the output was checked against the array contract.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.core.images import ContractError, blank_hole, check_image, composite, quantize
from bench.inputs.data import Sample
from bench.inputs.masks import Rect
from bench.metrics import all_metrics, evaluate_image
from bench.metrics.registry import REGIONS
from methods import inpaint_images


def _timed_call(method, image: np.ndarray, mask: np.ndarray, image_id: str):
    start = time.perf_counter()
    try:
        (out,) = inpaint_images(method, [image], [mask], [image_id])
        return out, time.perf_counter() - start, None
    except Exception as err:  # one bad image must not end the run
        return None, time.perf_counter() - start, f"{type(err).__name__}: {err}"


def execute(method, spec: str, todo: Sequence[tuple[Sample, np.ndarray]]) -> Iterator:
    """Run a method on (sample, mask) pairs, with the hole blanked before each call.

    Batched methods get ``method.batch_size`` images per call; an exception is caught and
    returned as text so one bad image never ends a run. Methods that ask for it get each
    image's id (:attr:`methods.Method.needs_image_id`). ``todo`` may make its pairs when
    indexed (:meth:`bench.inputs.protocol.Protocol.pairs`): one image is decoded at a time.
    Processes in parallel are the executors' (:mod:`bench.engine.executor`).

    Yields
    ------
    tuple
        ``(sample, mask, output or None, seconds per image, error text or None)``, in input order.
    """
    if method.batch_size > 1:
        for start in range(0, len(todo), method.batch_size):
            chunk = todo[start : start + method.batch_size]
            images = [blank_hole(s.image, m) for s, m in chunk]
            masks = [m.copy() for _, m in chunk]  # the protocol's masks are shared between methods
            t0 = time.perf_counter()
            outs: Sequence[np.ndarray | None]
            err: str | None
            try:
                outs, err = inpaint_images(method, images, masks, [s.id for s, _ in chunk]), None
                if len(outs) != len(chunk):
                    outs, err = (
                        [None] * len(chunk),
                        (f"ValueError: {spec} returned {len(outs)} outputs for a batch of {len(chunk)} images"),
                    )
            except Exception as exc:
                outs, err = [None] * len(chunk), f"{type(exc).__name__}: {exc}"
            per_image = (time.perf_counter() - t0) / len(chunk)
            for (sample, mask), out in zip(chunk, outs):
                yield sample, mask, out, per_image, err
    else:
        for sample, mask in todo:
            out, seconds, err = _timed_call(method, blank_hole(sample.image, mask), mask.copy(), sample.id)
            yield sample, mask, out, seconds, err


def score(
    spec: str, sample: Sample, mask: np.ndarray, rects: list[Rect], out, seconds: float, err: str | None, metrics
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Check a method's output, composite the known pixels back and compute the metrics.

    Returns
    -------
    row : dict
        The record row (``status`` "error" with the reason when the output broke the contract).
    final : np.ndarray or None
        The composited image, None on error.
    """
    row: dict[str, Any] = {
        "method": spec,
        "image_id": sample.id,
        "status": "ok",
        "error": None,
        "seconds": seconds,
        "mask_area": float(mask.mean()),
        "n_rects": len(rects),
        "output": "composited",
    }
    if err is None:
        try:
            check_image(out, name=f"{spec} output for {sample.id}")
            if out.shape != sample.image.shape:
                raise ContractError(f"{spec} output for {sample.id}: shape {out.shape} != input {sample.image.shape}")
        except ContractError as exc:
            err = str(exc)
    if err is not None:
        row.update(status="error", error=err)
        return row, None
    # How much the raw output changed known pixels tells raw from composited methods apart.
    # Also how far: a tool that altered the known pixels (recoloured, resized, sharpened) is named in the report.
    known = ~mask
    change = np.abs(out[known] - sample.image[known]) if known.any() else np.zeros(1, np.float32)
    row["raw_known_max_abs"] = float(change.max())
    row["raw_known_mean_abs"] = float(change.mean())
    # Scored exactly as saved: 8-bit, so every metric can be recomputed from the run's PNGs.
    final = quantize(composite(out, sample.image, mask))
    row.update(evaluate_image(final, sample.image, mask, metrics))
    return row, final


def evaluate_one(
    method, sample: Sample, mask: np.ndarray, metrics, rects: Sequence[Rect] = ()
) -> tuple[dict[str, Any], np.ndarray | None]:
    """One image through the loop (:func:`execute` then :func:`score`), for studies of one method.

    Returns
    -------
    row : dict
        As :func:`score`'s, with the method's seconds for this image.
    final : np.ndarray or None
        The 8-bit composite that was scored, None on error.
    """
    ((_, _, out, seconds, err),) = execute(method, method.spec, [(sample, mask)])
    return score(method.spec, sample, mask, list(rects), out, seconds, err, metrics)


@contextmanager
def method_threads(change: int) -> Iterator[None]:
    """Run the methods with ``change`` more (negative: fewer) torch and numba threads, at least one.

    While the feature pool extracts features beside the methods, a second thread buys a method
    little and costs the pool a core, and the pool turns every freed CPU-second into features.
    Every method then runs on one core fewer, so ``seconds`` stay comparable between methods of
    a run.
    Only libraries the methods already imported are touched.
    """
    restore = []
    if change:
        for name, get, set_ in (
            ("torch", "get_num_threads", "set_num_threads"),
            ("numba", "get_num_threads", "set_num_threads"),
        ):
            module = sys.modules.get(name)
            if module is None:
                continue
            before = getattr(module, get)()
            getattr(module, set_)(max(1, before + change))
            restore.append((getattr(module, set_), before))
    try:
        yield
    finally:
        for set_, before in restore:
            set_(before)


@dataclass
class Measurement:
    """One variant's scores: FID with its interval and mean per-image metrics."""

    spec: str
    fid: float
    fid_low: float
    fid_high: float
    metrics: dict[str, float]
    seconds: float
    errors: int
    details: dict[str, Any] = field(default_factory=dict)
    replicates: np.ndarray | None = None  # bootstrap FIDs; same draws for every variant of a sweep

    def row(self) -> dict[str, Any]:
        """Flat CSV row."""
        return {
            "spec": self.spec,
            "fid": self.fid,
            "fid_low": self.fid_low,
            "fid_high": self.fid_high,
            **self.metrics,
            "seconds": self.seconds,
            "errors": self.errors,
        }


# Outputs per forward pass of a variant's features (the extractor batches within it).
FEATURE_CHUNK = 16


def sweep_metrics() -> list:
    """The per-image metrics of a sweep (whole image and hole: MSE, PSNR, SSIM)."""
    return [m for m in all_metrics("image") if m.name in ("mse", "psnr", "ssim")]


def measure_method(
    method,
    samples: list,
    masks: dict[str, np.ndarray],
    extractor,
    real_features: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    metrics: list,
) -> Measurement:
    """Inpaint every sample with ``method`` and score it against the real images' features.

    Parameters
    ----------
    method : Method
        A built registry method.
    samples : list of Sample
        The protocol's images, in protocol order.
    masks : dict
        ``{image_id: bool mask}``.
    extractor : FeatureExtractor
        The FID feature network.
    real_features : np.ndarray
        ``N x D`` features of ``samples`` (same order).
    n_boot : int
        Bootstrap replicates of the FID interval.
    seed : int
        The protocol's seed (every variant resamples the same ids: paired replicates).
    metrics : list of Metric
        Per-image metrics (see :func:`sweep_metrics`).

    Returns
    -------
    Measurement
    """
    from bench.metrics.frechet import bootstrap_fid, centred_interval, fid_gram

    todo = [(s, masks[s.id]) for s in samples]
    done, rows, errors, start = set(), [], 0, time.perf_counter()
    # Outputs are turned into features a chunk at a time: a variant never holds its image set.
    chunk: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    for sample, mask, out, seconds, err in execute(method, method.spec, todo):
        row, final = score(method.spec, sample, mask, [], out, seconds, err, metrics)
        if final is None:
            errors += 1
            continue
        done.add(sample.id)
        rows.append(row)
        chunk.append(final)
        if len(chunk) == FEATURE_CHUNK:
            parts.append(extractor(chunk, progress=False))
            chunk = []
    if chunk:
        parts.append(extractor(chunk, progress=False))
    seconds = (time.perf_counter() - start) / max(1, len(todo))
    if len(done) < 2:
        raise RuntimeError(f"{method.spec}: only {len(done)} outputs succeeded; cannot measure FID")
    keep = [k for k, s in enumerate(samples) if s.id in done]
    real = real_features[keep]
    fake = np.concatenate(parts, axis=0)
    # Exact FID through Gram matrices (equal to the sqrtm route to ~1e-6, tested in
    # test_fid_maths) in milliseconds: a sweep computes hundreds of them. The value and the
    # bootstrap share one Gram pair.
    shared: dict = {}
    fid = fid_gram(real, fake, shared=shared)
    # A fixed seed gives every variant the same resampled image ids, so differences of
    # replicates between two variants form a paired bootstrap of their FID difference.
    reps = bootstrap_fid(real, fake, n_boot=n_boot, seed=seed, paired=True, shared=shared)
    low, high = centred_interval(fid, reps)
    columns = [m.column(region) for region in REGIONS for m in metrics if region in m.regions]
    means = {c: float(np.nanmean([r.get(c, np.nan) for r in rows])) for c in columns if any(c in r for r in rows)}
    complete = len(done) == len(samples)
    return Measurement(
        method.spec, fid, low, high, means, seconds, errors, {"n": len(done)}, reps if complete else None
    )
