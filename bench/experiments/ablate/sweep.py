"""Measure many variants of one method against one cached baseline.

A sweep evaluates a method spec on a fixed protocol (images + masks), computing
the per-image metrics and FID against reference features that are extracted once
and kept on disk. Each variant's row is appended to a CSV and fsynced, so an
interrupted sweep resumes where it stopped. Variants run one after another here, or
as parallel tasks on a Dask cluster (``Sweep(executor=...)``, see :mod:`bench.engine`).
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import CSVLog, atomic_write, atomic_write_text
from bench.core.outdir import claim_dir
from bench.engine.evaluate import Measurement, measure_method, sweep_metrics
from bench.inputs.protocol import Protocol


class Sweep:
    """Shared state of an ablation sweep: protocol, feature extractor, cached real features.

    Parameters
    ----------
    protocol : Protocol
        Images and masks (see :func:`bench.inputs.protocol.load_protocol`).
    out : Path
        Directory for the cached features and result files: new, empty or a sweep's
        (:func:`bench.core.outdir.claim_dir`); its writer lock is held while the sweep lives.
    fid_features : str, optional
        TorchScript extractor path instead of the standard Inception.
    n_boot : int
        Bootstrap replicates for FID intervals.
    progress : bool
        Progress bars.
    data : DataRef, optional
        Where cluster workers load the protocol's images (see :func:`bench.engine.tasks.data_ref`);
        needed only with a distributed ``executor``.
    executor : Executor, optional
        Where variants are measured (default: here, one after another).
    """

    def __init__(
        self,
        protocol: Protocol,
        out: str | Path,
        fid_features: str | None = None,
        n_boot: int = 200,
        progress: bool = True,
        data=None,
        executor=None,
    ):
        from bench.engine.executor import LocalExecutor
        from bench.metrics.inception import load_extractor

        self.protocol = protocol
        self.out = Path(out)
        # Claimed before anything is written; held while the sweep lives (its command's tables included).
        claim = claim_dir(self.out, "sweep", legacy=lambda path: (path / "sweep.json").is_file())
        weakref.finalize(self, claim.release)
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
                raise ValueError(
                    f"{self.out} holds a sweep measured with different {', '.join(diff)}; "
                    "use a new --out (rows there cannot be reused)"
                )
        else:
            atomic_write_text(path, json.dumps(key, indent=2))

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
        real_features = self._real
        atomic_write(path, lambda fh: np.save(fh, real_features))
        atomic_write_text(meta, json.dumps(self.key, indent=2))
        return self._real

    def measure(self, method) -> Measurement:
        """Inpaint every image with ``method`` and score it against the real set."""
        masks = {s.id: self.protocol.mask(s.id) for s in self.protocol.samples}
        return measure_method(
            method,
            self.protocol.samples,
            masks,
            self.extractor,
            self.real_features(),
            n_boot=self.n_boot,
            seed=self.protocol.identity["seed"],
            metrics=self.metrics,
        )

    def measure_specs(self, specs: list[str], desc: str = "variants"):
        """Measure registry specs with the sweep's executor (here, or in parallel on a cluster).

        Yields
        ------
        tuple
            ``(spec, Measurement, seconds of the variant)`` in completion order.
        """
        return self.executor.measure(specs, self, desc)


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


class ResultsCSV(CSVLog):
    """The CSV of a sweep's rows, keyed by a column; a row cut short by a kill or damaged is measured again.

    Parameters
    ----------
    path : path
        The CSV file.
    key : str
        The column naming what a row measured (``channel``, ``layer``).
    """

    def __init__(self, path: str | Path, key: str):
        super().__init__(path)
        self.key = key

    def done(self) -> set[str]:
        """Keys already measured, after moving a torn or unreadable row aside (it is measured again)."""
        self.repair()
        return {r[self.key] for r in self.rows()}
