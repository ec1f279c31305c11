"""Measure many variants of one method against one cached baseline.

A sweep evaluates a method spec on a fixed protocol (images + masks), computing
the per-image metrics and FID against reference features that are extracted once
and kept on disk. Each variant's row is appended to a CSV and fsynced, so an
interrupted sweep resumes where it stopped. Variants run one after another here, or
as parallel tasks on a Dask cluster (``Sweep(executor=...)``, see :mod:`bench.cluster`).
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.images import composite
from bench.metrics import all_metrics, evaluate_image
from bench.protocol import Protocol
from bench.runner import execute

PER_IMAGE = ("mse", "psnr", "ssim", "hole_mse", "hole_psnr", "hole_ssim")


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
        return {"spec": self.spec, "fid": self.fid, "fid_low": self.fid_low, "fid_high": self.fid_high,
                **self.metrics, "seconds": self.seconds, "errors": self.errors}


class Sweep:
    """Shared state of an ablation sweep: protocol, feature extractor, cached real features.

    Parameters
    ----------
    protocol : Protocol
        Images and masks (see :func:`bench.protocol.load_protocol`).
    out : Path
        Directory for the cached features and result files.
    fid_features : str, optional
        TorchScript extractor path instead of the standard Inception.
    n_boot : int
        Bootstrap replicates for FID intervals.
    progress : bool
        Progress bars.
    data : DataRef, optional
        Where cluster workers load the protocol's images (see :func:`bench.cluster.tasks.data_ref`);
        needed only with a distributed ``executor``.
    executor : Executor, optional
        Where variants are measured (default: here, one after another).
    """

    def __init__(self, protocol: Protocol, out: str | Path, fid_features: str | None = None,
                 n_boot: int = 200, progress: bool = True, data=None, executor=None):
        from bench.cluster.executor import LocalExecutor
        from bench.metrics.inception import load_extractor

        self.protocol = protocol
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.fid_features = fid_features
        self.extractor = load_extractor(fid_features)
        self.n_boot = n_boot
        self.progress = progress
        self.data = data
        self.executor = executor or LocalExecutor()
        self.metrics = sweep_metrics()
        self._real: np.ndarray | None = None
        self._claim_directory()

    def _claim_directory(self) -> None:
        """Refuse to resume rows measured under another protocol, extractor or bootstrap size."""
        path = self.out / "sweep.json"
        key = json.loads(json.dumps({**self.key, "n_boot": self.n_boot}))
        if path.is_file():
            old = json.loads(path.read_text())
            if old != key:
                diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
                raise ValueError(f"{self.out} holds a sweep measured with different {', '.join(diff)}; "
                                 "use a new --out (rows there cannot be reused)")
        else:
            path.write_text(json.dumps(key, indent=2))

    @property
    def key(self) -> dict[str, Any]:
        """What the cached real features depend on."""
        return {**self.protocol.identity, **self.extractor.identity}

    def real_features(self) -> np.ndarray:
        """Features of the real images: computed once, then read from ``out``."""
        if self._real is not None:
            return self._real
        path, meta = self.out / "real_features.npy", self.out / "real_features.json"
        if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == json.loads(json.dumps(self.key)):
            self._real = np.load(path)
            return self._real
        # Real images go through the same 8-bit quantisation as the outputs.
        real = [np.rint(s.image * 255).astype(np.float32) / 255 for s in self.protocol.samples]
        self._real = self.extractor(real, progress=self.progress)
        tmp = self.out / ".real_features.tmp.npy"
        np.save(tmp, self._real)
        os.replace(tmp, path)
        meta.write_text(json.dumps(self.key, indent=2))
        return self._real

    def measure(self, method) -> Measurement:
        """Inpaint every image with ``method`` and score it against the real set."""
        masks = {s.id: self.protocol.mask(s.id) for s in self.protocol.samples}
        return measure_method(method, self.protocol.samples, masks, self.extractor, self.real_features(),
                              n_boot=self.n_boot, seed=self.protocol.identity["seed"], metrics=self.metrics)

    def measure_specs(self, specs: list[str], desc: str = "variants"):
        """Measure registry specs with the sweep's executor (here, or in parallel on a cluster).

        Yields
        ------
        tuple
            ``(spec, Measurement, seconds of the variant)`` in completion order.
        """
        return self.executor.measure(specs, self, desc)


def sweep_metrics() -> list:
    """The per-image metrics of a sweep (whole image and hole: MSE, PSNR, SSIM)."""
    return [m for m in all_metrics("image") if m.name in ("mse", "psnr", "ssim")]


def measure_method(method, samples: list, masks: dict[str, np.ndarray], extractor, real_features: np.ndarray, *,
                   n_boot: int, seed: int, metrics: list) -> Measurement:
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
    finals, rows, errors, start = [], [], 0, time.perf_counter()
    for sample, mask, out, _, err in execute(method, method.spec, todo):
        if err is not None or out is None or out.shape != sample.image.shape:
            errors += 1
            continue
        final = composite(np.clip(out, 0, 1).astype(np.float32), sample.image, mask)
        final = np.rint(final * 255).astype(np.float32) / 255
        finals.append((sample.id, final))
        rows.append(evaluate_image(final, sample.image, mask, metrics))
    seconds = (time.perf_counter() - start) / max(1, len(todo))
    if len(finals) < 2:
        raise RuntimeError(f"{method.spec}: only {len(finals)} outputs succeeded; cannot measure FID")
    done = {i for i, _ in finals}
    keep = [k for k, s in enumerate(samples) if s.id in done]
    real = real_features[keep]
    fake = extractor([f for _, f in finals], progress=False)
    # Exact FID through Gram matrices (equal to the sqrtm route to ~1e-6, tested in
    # test_fid_maths) in milliseconds: a sweep computes hundreds of them.
    fid = fid_gram(real, fake)
    # A fixed seed gives every variant the same resampled image ids, so differences of
    # replicates between two variants form a paired bootstrap of their FID difference.
    reps = bootstrap_fid(real, fake, n_boot=n_boot, seed=seed, paired=True)
    low, high = centred_interval(fid, reps)
    means = {c: float(np.nanmean([r[c] for r in rows])) for c in PER_IMAGE}
    complete = len(finals) == len(samples)
    return Measurement(method.spec, fid, low, high, means, seconds, errors, {"n": len(finals)},
                       reps if complete else None)


def paired_difference(variant: Measurement, base_fid: float, base_replicates) -> tuple[float, float, float]:
    """FID difference to the baseline with a paired bootstrap interval.

    Returns ``(delta, low, high)``; the interval is NaN when either side lacks
    replicates (a variant that failed on some images is not paired).
    """
    delta = variant.fid - base_fid
    if variant.replicates is None or base_replicates is None:
        return delta, float("nan"), float("nan")
    from bench.metrics.frechet import centred_interval

    low, high = centred_interval(delta, variant.replicates - np.asarray(base_replicates, dtype=np.float64))
    return delta, low, high


class ResultsCSV:
    """An append-only CSV of sweep rows keyed by a column, fsynced row by row.

    A row cut short by a kill (no trailing newline) is dropped on reading, so its
    variant is simply measured again.
    """

    def __init__(self, path: str | Path, key: str):
        self.path = Path(path)
        self.key = key

    def rows(self) -> list[dict[str, str]]:
        """Complete rows written so far."""
        if not self.path.is_file():
            return []
        text = self.path.read_text()
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        return list(csv.DictReader(text.splitlines()))

    def done(self) -> set[str]:
        """Keys already measured."""
        return {r[self.key] for r in self.rows()}

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (writing the header first for a new file)."""
        new = not self.rows()
        if not new:
            text = self.path.read_bytes()
            if not text.endswith(b"\n"):  # drop a row cut short by a kill before appending
                with open(self.path, "r+b") as fh:
                    fh.truncate(text.rfind(b"\n") + 1)
        with open(self.path, "w" if new else "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())
