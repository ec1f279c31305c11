"""The stored features of a finished run, read without extracting any: the real images' and each method's outputs'.

A run keeps the features of its real images and of every output in ``RUN/features/KEY.features``
(:class:`bench.metrics.feature_store.FeatureStore`), keyed by the pixels. This module finds that
store and hands out feature matrices by image id, for readers that compute set metrics on other
subsets of a finished run (per hole-area bin, across runs) or export its statistics. It never
extracts: a feature that is not stored is an error naming the run, how many are missing and
that ``bench run`` with the run's own options (and ``--out RUN``) stores them without running
any method again.

Which store: the extractor recorded in the details of the run's set-metric results
(``set_metrics.json``: ``extractor``, ``extractor_sha256``, ``resize``), else the header of the
run's one ``*.features`` file. Which pixels: the real image of id ``i`` is its rows'
``image_sha256``; an output is its row's ``output_sha256`` (a row written before that field
existed: the sha256 of the output PNG's pixels, :func:`bench.core.digest.image_sha256`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.digest import image_sha256
from bench.metrics.feature_store import MAGIC, SUFFIX, FeatureStore, FeatureStoreError
from bench.outputs.rundir import RunDir

IDENTITY_KEYS = ("extractor", "extractor_sha256", "resize")


class RunFeaturesError(ValueError):
    """A run's features cannot be read: no store, several with no record of which, or features missing."""


def _rerun_hint(rundir: RunDir) -> str:
    return f"`bench run` with the run's options and --out {rundir.path} stores them without running any method again"


def recorded_identity(rundir: RunDir) -> dict[str, Any] | None:
    """The extractor identity recorded in ``set_metrics.json`` (first result that names one), or None."""
    if not rundir.set_metrics.is_file():
        return None
    try:
        stored = rundir.read_json(rundir.set_metrics)
    except (OSError, ValueError):
        return None
    for results in stored.values() if isinstance(stored, dict) else ():
        for entry in results.values() if isinstance(results, dict) else ():
            details = entry.get("details") if isinstance(entry, dict) else None
            if isinstance(details, dict) and all(details.get(k) for k in IDENTITY_KEYS):
                return {k: details[k] for k in IDENTITY_KEYS}
    return None


def header_identity(path: Path) -> dict[str, Any]:
    """The extractor identity in a store file's header line.

    Raises
    ------
    RunFeaturesError
        The file is not a feature store (the message names it).
    """
    with open(path, "rb") as fh:
        magic = fh.read(len(MAGIC))
        line = fh.readline(1 << 16)
    try:
        header = json.loads(line) if magic == MAGIC else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or not all(header.get(k) for k in IDENTITY_KEYS):
        raise RunFeaturesError(f"{path}: not a feature store of inpaint-bench")
    return {k: header[k] for k in IDENTITY_KEYS}


def find_identity(rundir: RunDir) -> dict[str, Any]:
    """The identity of the run's feature store: recorded by its set metrics, else its one store file's.

    Raises
    ------
    RunFeaturesError
        The run has no store, or several and no set metric saying which is its.
    """
    recorded = recorded_identity(rundir)
    if recorded is not None:
        return recorded
    files = sorted(rundir.features_dir.glob(f"*{SUFFIX}")) if rundir.features_dir.is_dir() else []
    if not files:
        raise RunFeaturesError(
            f"{rundir.path}: no stored features ({rundir.features_dir} is missing or empty); " + _rerun_hint(rundir)
        )
    if len(files) > 1:
        raise RunFeaturesError(
            f"{rundir.path}: {len(files)} feature stores in {rundir.features_dir} and no set metric in "
            "set_metrics.json naming its extractor; " + _rerun_hint(rundir)
        )
    return header_identity(files[0])


class RunFeatures:
    """Feature matrices of a finished run's real images and outputs, read from its store.

    Parameters
    ----------
    run : RunDir or path
        The run directory.
    identity : dict, optional
        The extractor (``extractor``, ``extractor_sha256``, ``resize``); default :func:`find_identity`.

    Raises
    ------
    RunFeaturesError
        No store of that extractor in the run (deleted, or never written).
    """

    def __init__(self, run: RunDir | str | Path, identity: dict[str, Any] | None = None):
        self.rundir = run if isinstance(run, RunDir) else RunDir(run)
        self.identity = dict(identity) if identity is not None else find_identity(self.rundir)
        try:
            self.store = FeatureStore(self.rundir.features_dir, self.identity)
        except FeatureStoreError as err:
            raise RunFeaturesError(f"{self.rundir.path}: {err}; " + _rerun_hint(self.rundir)) from None
        if not self.store.path.is_file():
            raise RunFeaturesError(
                f"{self.rundir.path}: no stored features of {self.identity['extractor']} "
                f"({self.store.path} is missing); " + _rerun_hint(self.rundir)
            )
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.rundir.read_records():
            self._rows[(str(row["method"]), str(row["image_id"]))] = row  # a retry's row is the last

    @property
    def dim(self) -> int:
        """Feature dimension."""
        return int(self.store.dim or 0)

    def ok_ids(self, spec: str) -> list[str]:
        """Ids of the images on which ``spec`` succeeded, in the order their rows were written."""
        return [i for (m, i), r in self._rows.items() if m == spec and r.get("status") == "ok"]

    def image_ids(self) -> list[str]:
        """Ids of the images on which some method succeeded, in the order their first rows were written."""
        return list(dict.fromkeys(i for (_, i), r in self._rows.items() if r.get("status") == "ok"))

    def real_digests(self, ids: list[str]) -> list[str]:
        """Pixel digests of the real images ``ids`` (any row of the image records it)."""
        known: dict[str, str] = {}
        for (_, i), r in self._rows.items():
            if r.get("image_sha256"):
                known.setdefault(i, str(r["image_sha256"]))
        lost = [i for i in ids if i not in known]
        if lost:
            raise RunFeaturesError(
                f"{self.rundir.path}: no row records the pixels of {len(lost)} real image(s), e.g. {lost[0]}; "
                + _rerun_hint(self.rundir)
            )
        return [known[i] for i in ids]

    def output_digests(self, spec: str, ids: list[str]) -> list[str]:
        """Pixel digests of ``spec``'s outputs on ``ids``: their rows' ``output_sha256``, else the PNG's pixels."""
        out = []
        for i in ids:
            row = self._rows.get((spec, i))
            if row is None or row.get("status") != "ok":
                raise RunFeaturesError(f"{self.rundir.path}: {spec} has no successful output for image {i}")
            digest = row.get("output_sha256")
            out.append(str(digest) if digest else image_sha256(self.rundir.load_output(spec, i)))
        return out

    def real(self, ids: list[str]) -> np.ndarray:
        """``len(ids) x D`` float64 features of the real images, in order."""
        return self._get(self.real_digests(ids), "the real images")

    def outputs(self, spec: str, ids: list[str]) -> np.ndarray:
        """``len(ids) x D`` float64 features of ``spec``'s outputs, in order."""
        return self._get(self.output_digests(spec, ids), f"the outputs of {spec}")

    def require(self, specs: list[str], real: bool = True) -> None:
        """Check that the features of the real images (``real``) and of every output of ``specs`` are stored.

        Raises
        ------
        RunFeaturesError
            One line: how many of how many are missing, and of what.
        """
        wanted: dict[str, list[str]] = {}
        if real:
            wanted["the real images"] = self.real_digests(self.image_ids())
        for spec in specs:
            wanted[f"the outputs of {spec}"] = self.output_digests(spec, self.ok_ids(spec))
        lost = {what: len(self.store.missing(d)) for what, d in wanted.items()}
        total = len({d for digests in wanted.values() for d in digests})
        missing = sum(lost.values())
        if missing:
            parts = ", ".join(f"{what}: {k}" for what, k in lost.items() if k)
            raise RunFeaturesError(
                f"{self.rundir.path}: {missing} of {total} features are not stored in {self.store.path} ({parts}); "
                + _rerun_hint(self.rundir)
            )

    def _get(self, digests: list[str], what: str) -> np.ndarray:
        lost = self.store.missing(digests)
        if lost:
            raise RunFeaturesError(
                f"{self.rundir.path}: {len(lost)} of {len(set(digests))} features of {what} are not stored in "
                f"{self.store.path}; " + _rerun_hint(self.rundir)
            )
        return self.store.get(digests)
