"""Reference statistics for FID and KID kept as files: pytorch-fid's ``.npz`` and clean-fid's custom statistics.

Read them (checked against this run's extractor), write a feature set in both formats, and
compute FID (and KID, when the file keeps per-image features) of generated features against them.

Public names
------------
ReferenceStats
    What a reference file holds: mean, covariance, per-image features when present, and where
    they came from (path, sha256, format, clean-fid mode, n).
load_reference_stats(path, *, feature_dim, resize, extractor_name, extractor_sha256=None)
    Read and check a file; every problem is a :class:`ReferenceStatsError` naming the file.
save_pytorch_fid_stats(path, feats, *, extractor=None) -> Path
save_clean_fid_stats(folder, name, feats, mode="legacy_pytorch", split="custom", res=None, *, extractor=None)
    Write a feature set's statistics as those tools write theirs, crash-safe.
fid_against_reference(ref, fake_feats, *, n_boot, seed, level=0.95) -> SetMetricResult
kid_against_reference(ref, fake_feats, *, subsets, subset_size, n_boot, seed, level=0.95) -> SetMetricResult
bootstrap_fid_against_reference(mu, sigma, fake, n_boot, seed) -> replicates

The formats
-----------
pytorch-fid (``pytorch_fid.fid_score.save_fid_stats``): one ``.npz`` with ``mu`` (``D``) and
``sigma`` (``D x D``), ``np.mean(act, axis=0)`` and ``np.cov(act, rowvar=False)`` of the
Inception pool3 activations; ``compute_statistics_of_path`` reads any path ending in ``.npz``
this way. Its network resizes with ``F.interpolate(mode="bilinear", align_corners=False)``,
which is this suite's :data:`~bench.metrics.inception.INCEPTION_RESIZE`.

clean-fid (``cleanfid.fid.make_custom_stats``): ``{name}_{mode}_{split}_{res}.npz`` with ``mu``
and ``sigma`` and ``{name}_{mode}_{split}_{res}_kid.npz`` with ``feats`` (``N x D``), names
lower-cased, in ``cleanfid/stats/``; custom statistics have ``split = "custom"`` and
``res = "na"`` (``get_reference_statistics`` looks them up by exactly that name, and a model
other than Inception adds ``_{model}`` after the mode). The mode says how images were resized:
``legacy_pytorch`` is pytorch-fid's bilinear resize and network, the same as this suite's;
``clean`` resizes with PIL's bicubic filter (antialiased, per channel in float) and
``legacy_tensorflow`` inside the TF graph with TF1's bilinear resize. Features of different
resize modes give FIDs that differ by far more than method differences (the clean-fid paper),
so a file of another mode is refused rather than compared.

Which files are accepted
------------------------
A reference is accepted only when it is known to come from the same features as this run's:

- Files this suite writes record the extractor (name, sha256, resize) and ``n`` in one extra
  array, ``inpaint_bench`` (a JSON string; pytorch-fid and clean-fid read only their own keys,
  so the files stay theirs). Such a file is accepted when the record matches this run's
  extractor (its sha256 too, which callers with a user extractor must pass).
- A file without that record says nothing about its network, only its dimension. With the
  default Inception it is accepted when it is a pytorch-fid file or clean-fid ``legacy_pytorch``
  Inception statistics, since both are that network with that resize. With a user extractor
  (``torchscript:...``) it is refused even when the dimensions agree: a 2048-d file is most
  likely Inception statistics, and agreeing numbers of columns prove nothing. The message says
  how to go on: export the reference with this suite from the same extractor.

A file named as clean-fid names its statistics is read as clean-fid's (its mode taken from the
name); any other ``.npz`` as pytorch-fid's. When clean-fid's ``_kid`` file is there, its features
are loaded too (they must be the ones the mean was computed from), which makes KID available;
``sha256`` then covers both files (:func:`bench.core.digest.files_sha256` of the pair).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.digest import file_sha256, files_sha256
from bench.core.files import atomic_write
from bench.metrics.frechet import (
    BIAS_N,
    bootstrap_kid,
    centred_interval,
    check_features,
    feature_stats,
    frechet_distance_info,
    kid_subset_values,
)
from bench.metrics.inception import INCEPTION_RESIZE
from bench.metrics.registry import SetMetricResult, withheld

__all__ = [
    "CLEAN_FID",
    "CLEAN_FID_MODES",
    "PYTORCH_FID",
    "ReferenceStats",
    "ReferenceStatsError",
    "bootstrap_fid_against_reference",
    "clean_fid_file_names",
    "fid_against_reference",
    "kid_against_reference",
    "load_reference_stats",
    "save_clean_fid_stats",
    "save_pytorch_fid_stats",
]

PYTORCH_FID = "pytorch-fid"
CLEAN_FID = "clean-fid"
# How each clean-fid mode makes a 299 x 299 input (cleanfid/resize.py build_resizer, features.py).
CLEAN_FID_MODES = {
    "clean": "PIL bicubic resize to 299 (antialiased, per channel in float), TF Inception",
    "legacy_pytorch": "torch bilinear resize to 299 (align_corners=False, no antialias), pytorch-fid's Inception",
    "legacy_tensorflow": "TF1 bilinear resize inside the TF Inception graph",
}
# The clean-fid mode whose features are this suite's, by the suite's resize string.
MODE_OF_RESIZE = {INCEPTION_RESIZE: "legacy_pytorch"}
PROVENANCE_KEY = "inpaint_bench"
CUSTOM_PREFIX = "torchscript:"
KID_SUFFIX = "_kid"

# {name}_{mode}[_{model}]_{split}_{res}[_kid].npz, lower case; the name may hold underscores (the last
# mode token ends it), split and res may not (clean-fid's are "custom"/"na", "train"/"256", ...).
_CLEAN_NAME = re.compile(
    r"^(?P<name>.+)_(?P<mode>clean|legacy_pytorch|legacy_tensorflow)(?:_(?P<model>clip_vit_b_32))?"
    r"_(?P<split>[^_]+)_(?P<res>[^_]+?)(?P<kid>_kid)?\.npz$"
)


class ReferenceStatsError(ValueError):
    """A reference statistics file cannot be used for this run; the message names the file and why."""


@dataclass(frozen=True, eq=False)
class ReferenceStats:
    """The real side of FID (and of KID, with per-image features) read from a file.

    Arrays are float64 and read-only. Compared by identity (arrays have no single truth value).

    Attributes
    ----------
    mu : np.ndarray
        ``D`` mean of the reference features.
    sigma : np.ndarray
        ``D x D`` covariance (``N - 1`` denominator, as both tools compute it).
    feats : np.ndarray or None
        ``N x D`` per-image features (clean-fid's ``_kid`` file), None when the file has none.
    path : str
        The statistics file (clean-fid: the one with ``mu``/``sigma``), absolute.
    sha256 : str
        Of the file's bytes; of both files (names and digests, :func:`~bench.core.digest.files_sha256`)
        when clean-fid's ``_kid`` file was read too.
    format : str
        ``"pytorch-fid"`` or ``"clean-fid"``.
    mode : str or None
        clean-fid's resize mode (``clean``, ``legacy_pytorch``, ``legacy_tensorflow``); None for pytorch-fid.
    n : int or None
        Number of reference images, when the file says (per-image features, or this suite's record).
    extractor : str or None
        The extractor this suite recorded when it wrote the file; None for other writers.
    extractor_sha256 : str or None
        That extractor's sha256.
    """

    mu: np.ndarray
    sigma: np.ndarray
    feats: np.ndarray | None
    path: str
    sha256: str
    format: str
    mode: str | None
    n: int | None
    extractor: str | None = None
    extractor_sha256: str | None = None

    def details(self) -> dict[str, Any]:
        """``reference_*`` entries for a result's ``details``."""
        return {
            "reference_path": self.path,
            "reference_sha256": self.sha256,
            "reference_format": self.format,
            "reference_mode": self.mode,
            "n_reference": self.n,
        }


# --------------------------------------------------------------------------------------------- reading


def load_reference_stats(
    path: str | Path,
    *,
    feature_dim: int,
    resize: str,
    extractor_name: str,
    extractor_sha256: str | None = None,
) -> ReferenceStats:
    """Read pytorch-fid or clean-fid reference statistics and check them against this run's extractor.

    Parameters
    ----------
    path : path
        A pytorch-fid ``.npz``, or either file of clean-fid's pair (the ``_kid`` one finds its sibling).
    feature_dim : int
        Dimension of this run's features.
    resize : str
        This run's extractor's resize string (:data:`~bench.metrics.inception.INCEPTION_RESIZE` for the
        default Inception).
    extractor_name : str
        This run's extractor's name (``torchscript:FILE`` for a user's).
    extractor_sha256 : str, optional
        Its sha256, compared with the one a file written by this suite records (required for a user
        extractor's file to be accepted: its name is only a file name).

    Returns
    -------
    ReferenceStats

    Raises
    ------
    ReferenceStatsError
        A missing, unreadable or malformed file (keys, shapes, non-finite values, a covariance that
        is not symmetric), a dimension other than ``feature_dim``, or statistics of other features
        (another clean-fid mode or network, another recorded extractor, or a file that records
        none when this run's extractor is a user's). The message names the file.
    """
    given = Path(path).expanduser().absolute()
    if given.is_dir():
        raise ReferenceStatsError(
            f"{given} is a folder; give the statistics file (pytorch-fid's .npz or clean-fid's "
            "{name}_{mode}_{split}_{res}.npz)"
        )
    if not given.is_file():
        raise ReferenceStatsError(f"{given}: no such reference statistics file")
    match = _CLEAN_NAME.match(given.name)
    fmt, mode, model = PYTORCH_FID, None, None
    main, kid = given, None
    if match:
        fmt, mode, model = CLEAN_FID, match["mode"], match["model"]
        if match["kid"]:
            main = given.with_name(given.name[: -len(KID_SUFFIX + ".npz")] + ".npz")
            kid = given
            if not main.is_file():
                raise ReferenceStatsError(
                    f"{given}: clean-fid's per-image features without their statistics file {main.name} "
                    "beside them (clean-fid writes both)"
                )
        else:
            kid = main.with_name(main.stem + KID_SUFFIX + ".npz")
            kid = kid if kid.is_file() else None

    arrays = _read_npz(main, ("mu", "sigma"), optional=(PROVENANCE_KEY,))
    mu, sigma = _checked_stats(main, arrays["mu"], arrays["sigma"], feature_dim)
    record = _read_record(main, arrays.get(PROVENANCE_KEY))
    _check_extractor(main, fmt, mode, model, record, resize, extractor_name, extractor_sha256)

    feats = None
    if kid is not None:
        feats = _checked_feats(kid, _read_npz(kid, ("feats",))["feats"], mu, main)
        digest = files_sha256([main, kid], root=main.parent)
    else:
        digest = file_sha256(main)
    n = int(feats.shape[0]) if feats is not None else record.get("n")
    return ReferenceStats(
        mu=_frozen(mu),
        sigma=_frozen(sigma),
        feats=None if feats is None else _frozen(feats),
        path=str(main),
        sha256=digest,
        format=fmt,
        mode=mode,
        n=None if n is None else int(n),
        extractor=record.get("extractor"),
        extractor_sha256=record.get("extractor_sha256"),
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _read_npz(path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file, refusing a missing file, another kind of file or a missing key."""
    if not path.is_file():
        raise ReferenceStatsError(f"{path}: no such reference statistics file")
    try:
        # No pickles: a statistics file holds plain arrays, and unpickling runs code.
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ReferenceStatsError(f"{path}: a single .npy array, not an .npz archive of named arrays")
        with data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise ReferenceStatsError(
                    f"{path}: no {', '.join(repr(k) for k in missing)} array "
                    f"(it holds {', '.join(sorted(data.files)) or 'nothing'}; expected {', '.join(keys)})"
                )
            return {k: np.asarray(data[k]) for k in keys + tuple(k for k in optional if k in data.files)}
    except ReferenceStatsError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ReferenceStatsError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None


def _numeric(path: Path, name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "fiu":
        raise ReferenceStatsError(f"{path}: '{name}' has dtype {a.dtype}, expected real numbers")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ReferenceStatsError(f"{path}: '{name}' holds NaN or infinite values")
    return a


def _checked_stats(path: Path, mu: np.ndarray, sigma: np.ndarray, feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
    if mu.ndim != 1 or mu.shape[0] < 1:
        raise ReferenceStatsError(f"{path}: 'mu' has shape {mu.shape}, expected a vector of D values")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ReferenceStatsError(f"{path}: 'sigma' has shape {sigma.shape}, expected {(d, d)} to match 'mu'")
    if d != feature_dim:
        raise ReferenceStatsError(f"{path} has {d}-d statistics, this run's extractor gives {feature_dim}-d features")
    mu, sigma = _numeric(path, "mu", mu), _numeric(path, "sigma", sigma)
    scale = float(np.abs(sigma).max())
    # np.cov's product is symmetric up to rounding; anything more is not a covariance.
    if float(np.abs(sigma - sigma.T).max()) > 1e-6 * scale or float(np.diagonal(sigma).min()) < 0:
        raise ReferenceStatsError(f"{path}: 'sigma' is not a covariance matrix (not symmetric, or a negative variance)")
    return mu, sigma


def _checked_feats(path: Path, feats: np.ndarray, mu: np.ndarray, main: Path) -> np.ndarray:
    d = mu.shape[0]
    if feats.ndim != 2 or feats.shape[1] != d or feats.shape[0] < 2:
        raise ReferenceStatsError(
            f"{path}: 'feats' has shape {feats.shape}, expected N x {d} (N >= 2) to match {main.name}"
        )
    feats = _numeric(path, "feats", feats)
    # clean-fid computes mu from these features (in float32): a pair from two feature sets is refused.
    gap = float(np.abs(feats.mean(axis=0) - mu).max())
    if gap > 1e-4 * max(1.0, float(np.abs(feats).max())):
        raise ReferenceStatsError(
            f"{path}: its features' mean differs from the 'mu' of {main.name} by up to {gap:.3g}; "
            "the two files are not one reference set"
        )
    return feats


def _read_record(path: Path, raw: np.ndarray | None) -> dict[str, Any]:
    """The extractor record the suite writes into its files (empty for files other tools wrote)."""
    if raw is None:
        return {}
    try:
        record = json.loads(str(raw[()]))
    except (ValueError, TypeError, IndexError):
        record = None
    if not isinstance(record, dict):
        raise ReferenceStatsError(f"{path}: its '{PROVENANCE_KEY}' entry is not the JSON object this suite writes")
    return record


def _check_extractor(
    path: Path,
    fmt: str,
    mode: str | None,
    model: str | None,
    record: Mapping[str, Any],
    resize: str,
    extractor_name: str,
    extractor_sha256: str | None,
) -> None:
    """Refuse statistics that are not known to come from this run's extractor (see the module docstring)."""
    custom = extractor_name.startswith(CUSTOM_PREFIX) or resize not in MODE_OF_RESIZE
    ours = f"{extractor_name} ({resize})"
    if record:
        theirs_sha = record.get("extractor_sha256")
        differs = record.get("extractor") != extractor_name or record.get("resize") != resize
        if extractor_sha256 is not None and theirs_sha is not None:
            differs = differs or theirs_sha != extractor_sha256
        if differs:
            raise ReferenceStatsError(
                f"{path}: statistics of {record.get('extractor')} (sha256 {str(theirs_sha)[:12]}, "
                f"{record.get('resize')}); this run's features come from {ours}"
                + (f" sha256 {extractor_sha256[:12]}" if extractor_sha256 else "")
            )
        if custom and (extractor_sha256 is None or theirs_sha is None):
            missing = "the file records none" if theirs_sha is None else "this run's was not given"
            raise ReferenceStatsError(
                f"{path}: written from {record.get('extractor')}, and a user extractor is recognised only by "
                f"its sha256 ({missing})"
            )
        return
    if custom:
        raise ReferenceStatsError(
            f"{path}: a {fmt} file does not record which network made its features, so they cannot be "
            f"checked against this run's {ours}; export the reference with this suite from the same "
            "extractor file (it records the extractor's sha256), or use the default Inception features"
        )
    if fmt == CLEAN_FID:
        if model is not None:
            raise ReferenceStatsError(
                f"{path}: clean-fid statistics of {model} features; this run's features come from {ours}"
            )
        wanted = MODE_OF_RESIZE[resize]
        if mode != wanted:
            raise ReferenceStatsError(
                f"{path}: clean-fid statistics of mode '{mode}' ({CLEAN_FID_MODES[str(mode)]}); this run's "
                f"features use {resize}, clean-fid's '{wanted}' mode, and FIDs across resize modes are not "
                "comparable (rename the file if it is not clean-fid's)"
            )


# --------------------------------------------------------------------------------------------- writing


def _record_array(extractor: Mapping[str, Any] | None, n: int) -> dict[str, np.ndarray]:
    """The ``inpaint_bench`` entry: the extractor's name, sha256 and resize, and n (nothing without an extractor)."""
    if extractor is None:
        return {}
    record = {
        "extractor": extractor.get("extractor"),
        "extractor_sha256": extractor.get("extractor_sha256"),
        "resize": extractor.get("resize"),
        "n": int(n),
    }
    missing = [k for k, v in record.items() if v is None]
    if missing:
        raise ValueError(f"extractor record lacks {', '.join(missing)}: give extractor, extractor_sha256 and resize")
    # A unicode array: np.load reads it without pickles, the other tools never look at it.
    return {PROVENANCE_KEY: np.array(json.dumps(record, sort_keys=True))}


def _savez(path: Path, arrays: dict[str, Any]) -> None:
    # np.savez appends ".npz" to a name but not to a file object: the temporary keeps the final name.
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


def save_pytorch_fid_stats(path: str | Path, feats, *, extractor: Mapping[str, Any] | None = None) -> Path:
    """Write a feature set's statistics as ``pytorch_fid.fid_score.save_fid_stats`` does.

    ``mu = np.mean(feats, axis=0)`` and ``sigma = np.cov(feats, rowvar=False)`` in float64, saved with
    ``np.savez_compressed`` under the keys ``mu`` and ``sigma``; written to a temporary file in the
    same folder and renamed, so a reader never sees half a file.

    Parameters
    ----------
    path : path
        The file; must end in ``.npz`` (pytorch-fid reads any other path as a folder of images).
    feats : array_like
        ``N x D`` features, ``N >= 2``, finite.
    extractor : mapping, optional
        ``{"extractor", "extractor_sha256", "resize"}`` (as ``extractor_details`` gives them): recorded in
        the file's ``inpaint_bench`` entry, with ``n``, so this suite can check it when reading it back.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: pytorch-fid reads statistics only from a file ending in .npz")
    x = check_features(feats, "features")
    mu, sigma = feature_stats(x)
    _savez(path, {"mu": mu, "sigma": sigma, **_record_array(extractor, x.shape[0])})
    return path


def clean_fid_file_names(name: str, mode: str = "legacy_pytorch", split: str = "custom", res=None) -> tuple[str, str]:
    """The two file names clean-fid gives statistics of ``name`` (FID file, KID file), lower-cased as it does.

    Raises
    ------
    ValueError
        An unknown mode, a name with a path separator, a split or resolution with ``_`` (clean-fid's
        names could not be read back), a custom split with a resolution other than ``na`` (clean-fid
        looks custom statistics up under ``na``), or another split without one.
    """
    if mode not in CLEAN_FID_MODES:
        raise ValueError(f"unknown clean-fid mode {mode!r}; expected one of {', '.join(CLEAN_FID_MODES)}")
    if not name or "/" in name or "\\" in name or name != name.strip():
        raise ValueError(f"clean-fid statistics name {name!r}: give a plain name (no path, no surrounding spaces)")
    if split == "custom":
        if res not in (None, "na"):
            raise ValueError(f"clean-fid looks custom statistics up with resolution 'na', not {res!r}")
        res = "na"
    elif res is None:
        raise ValueError(f"clean-fid statistics of split {split!r} need a resolution (res=256, ...)")
    for label, value in (("split", split), ("resolution", res)):
        if not str(value) or "_" in str(value) or "/" in str(value):
            raise ValueError(f"clean-fid {label} {value!r}: must be non-empty, without '_' or '/'")
    stem = f"{name}_{mode}_{split}_{res}".lower()
    return f"{stem}.npz", f"{stem}{KID_SUFFIX}.npz"


def save_clean_fid_stats(
    folder: str | Path,
    name: str,
    feats,
    mode: str = "legacy_pytorch",
    split: str = "custom",
    res: int | str | None = None,
    *,
    extractor: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write a feature set as clean-fid's custom statistics, as ``cleanfid.fid.make_custom_stats`` does.

    ``{name}_{mode}_{split}_{res}.npz`` holds ``mu`` and ``sigma`` (float64, ``np.mean`` axis 0 and
    ``np.cov(rowvar=False)``) and ``..._kid.npz`` holds ``feats``, both ``np.savez_compressed`` and
    lower-cased. Written into clean-fid's stats folder (``os.path.dirname(cleanfid.__file__)/stats``),
    ``cleanfid.fid.compute_fid(fdir, dataset_name=name, mode=mode, dataset_split="custom")`` and
    ``compute_kid`` use them. The ``_kid`` file is written first, each file through a temporary
    and a rename, so a kill leaves either both, or a features file that :func:`load_reference_stats`
    refuses by name, never a statistics file that lies about its pair.

    Parameters
    ----------
    folder : path
        Where to write (created).
    name : str
        clean-fid's dataset name.
    feats : array_like
        ``N x D`` features, ``N >= 2``, finite; stored in their own float dtype (float32 stays float32).
    mode : str
        The clean-fid mode the features follow: ``legacy_pytorch`` for this suite's Inception features.
    split, res
        clean-fid's split and resolution: ``custom`` and ``na`` (the default) for custom statistics.
    extractor : mapping, optional
        As for :func:`save_pytorch_fid_stats`; with this suite's Inception resize the mode must be
        ``legacy_pytorch`` (the features are that mode's, and clean-fid users would compare others
        against them).

    Returns
    -------
    (Path, Path)
        The statistics file and the features file.
    """
    fid_name, kid_name = clean_fid_file_names(name, mode, split, res)
    resize = (extractor or {}).get("resize")
    wanted = MODE_OF_RESIZE.get(str(resize))
    if wanted is not None and mode != wanted:
        raise ValueError(f"features resized with {resize} are clean-fid's '{wanted}' mode, not {mode!r}")
    x = check_features(feats, "features")
    raw = np.asarray(feats)
    stored = raw if raw.dtype in (np.float32, np.float64) else x
    mu, sigma = feature_stats(x)
    folder = Path(folder)
    main, kid = folder / fid_name, folder / kid_name
    _savez(kid, {"feats": stored})
    _savez(main, {"mu": mu, "sigma": sigma, **_record_array(extractor, x.shape[0])})
    return main, kid


# --------------------------------------------------------------------------------------------- metrics


def bootstrap_fid_against_reference(mu, sigma, fake, n_boot: int = 200, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of FID against fixed statistics, resampling the generated features only.

    Replicate ``b`` draws the rows ``np.random.default_rng(seed).multinomial(n, [1/n] * n, size=n_boot)[b]``
    times each and computes ``||mu - mu_b||^2 + tr(sigma) + tr(sigma_b) - 2 tr sqrt(sigma sigma_b)``
    exactly, with ``tr sqrt(sigma sigma_b)`` as the sum of square roots of the eigenvalues of
    ``F sigma F^T`` (``F`` the replicate's centred, weighted rows: the nonzero eigenvalues of
    ``sigma F^T F`` and ``F sigma F^T`` agree). While ``n <= D`` every replicate comes from
    ``n x n`` matrices computed once (``O(n^2)`` plus an eigenproblem of its distinct rows); above,
    from the ``D x D`` covariance of its rows once multiplied by a square-root factor of ``sigma``
    (``O(n D^2 + D^3)`` per replicate, as the run's own FID bootstrap at that size).

    Parameters
    ----------
    mu, sigma : array_like
        The reference mean (``D``) and covariance (``D x D``).
    fake : array_like
        ``N x D`` generated features.
    n_boot : int
        Number of replicates.
    seed : int
        Seed of the resampling.

    Returns
    -------
    np.ndarray
        ``n_boot`` FIDs.
    """
    f = check_features(fake, "fake features")
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    n, d = f.shape
    if mu.shape != (d,) or sigma.shape != (d, d):
        raise ValueError(f"reference statistics of dimension {mu.shape} do not match {d}-d features")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    mean = f.mean(axis=0)
    x = f - mean
    d0 = mu - mean
    base = float(d0 @ d0 + np.trace(sigma))
    out = np.empty(n_boot)
    if n <= d:
        gx = x @ x.T
        k = (x @ sigma) @ x.T
        xd, sq = x @ d0, np.diagonal(gx)
        for b, w in enumerate(counts):
            a = w / n
            gxa, ka = gx @ a, k @ a
            mm, aka = float(a @ gxa), float(a @ ka)
            u = np.flatnonzero(w)
            s = np.sqrt(w[u] / (n - 1.0))
            # F sigma F^T restricted to the rows drawn, from K = X sigma X^T of the globally centred rows.
            c = (k[np.ix_(u, u)] - ka[u][:, None] - ka[u][None, :] + aka) * s[:, None] * s[None, :]
            trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(c), 0.0, None)).sum()
            tr_f = (w @ sq - n * mm) / (n - 1.0)
            out[b] = base - 2.0 * float(a @ xd) + mm + tr_f - 2.0 * trace_sqrt
        return out
    vals, vecs = np.linalg.eigh(sigma)
    # sigma = root @ root.T; in y = x @ root the replicate's (root^T sigma_b root) is a plain covariance.
    y = x @ (vecs * np.sqrt(np.clip(vals, 0.0, None)))
    sq = np.einsum("ij,ij->i", x, x)
    for b, w in enumerate(counts):
        u = np.flatnonzero(w)
        wu = w[u]
        m, my = (wu @ x[u]) / n, (wu @ y[u]) / n
        cov = ((y[u] * wu[:, None]).T @ y[u] - n * np.outer(my, my)) / (n - 1.0)
        trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(cov), 0.0, None)).sum()
        tr_f = (wu @ sq[u] - n * float(m @ m)) / (n - 1.0)
        out[b] = base - 2.0 * float(m @ d0) + float(m @ m) + tr_f - 2.0 * trace_sqrt
    return out


def _small_n_warning(n_fake: int, n_ref: int | None, dim: int, name: str) -> str | None:
    n = n_fake if n_ref is None else min(n_fake, n_ref)
    limit = max(BIAS_N, dim)
    if n >= limit:
        return None
    if name == "fid":
        return (
            f"n = {n} < {limit}: the feature covariance is rank-deficient, FID is biased upwards and "
            "comparable only between runs of equal n against the same reference; prefer KID (unbiased) for small sets"
        )
    return f"n = {n} < {limit}: KID is unbiased but noisy at this n; compare its interval, not just the value"


def _fake_side(ref: ReferenceStats, fake_feats) -> np.ndarray:
    f = check_features(fake_feats, "fake features")
    if f.shape[1] != ref.mu.shape[0]:
        raise ValueError(f"{ref.path} has {ref.mu.shape[0]}-d statistics, the generated features are {f.shape[1]}-d")
    return f


def fid_against_reference(
    ref: ReferenceStats, fake_feats, *, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> SetMetricResult:
    """FID of generated features against reference statistics, with a bootstrap interval over the generated side.

    The value is :func:`~bench.metrics.frechet.frechet_distance_info` (pytorch-fid's ``sqrtm`` route, float64)
    of the reference's ``mu``/``sigma`` and the features' mean and covariance. The reference is fixed
    statistics, the same for every method compared against it, so only the generated images are
    resampled (:func:`bootstrap_fid_against_reference`); the interval is centred on the value.

    Parameters
    ----------
    ref : ReferenceStats
        From :func:`load_reference_stats`.
    fake_feats : array_like
        ``N x D`` generated features.
    n_boot : int
        Replicates; 0 leaves ``low``/``high`` NaN.
    seed : int
        Seed of the bootstrap.
    level : float
        Interval coverage.

    Returns
    -------
    SetMetricResult
        ``details``: ``n``, ``n_fake``, ``n_reference`` (None when the file does not say), ``feature_dim``,
        ``reference_path``/``_sha256``/``_format``/``_mode``, the estimator, ``sqrtm_offset``, the
        bootstrap's settings and bias, and ``warning`` at small n.
    """
    f = _fake_side(ref, fake_feats)
    value, info = frechet_distance_info(ref.mu, ref.sigma, *feature_stats(f))
    details: dict[str, Any] = {
        "n": int(f.shape[0] if ref.n is None else min(f.shape[0], ref.n)),
        "n_fake": int(f.shape[0]),
        "feature_dim": int(f.shape[1]),
        **ref.details(),
        "estimator": "Frechet distance, float64, scipy.linalg.sqrtm (pytorch-fid), against fixed reference statistics",
        "sqrtm_offset": info["offset"],
        "sqrtm_max_imag": info["max_imag"],
    }
    low = high = float("nan")
    if n_boot > 0:
        reps = bootstrap_fid_against_reference(ref.mu, ref.sigma, f, n_boot=n_boot, seed=seed)
        low, high = centred_interval(value, reps, level)
        details["bootstrap"] = {
            "replicates": int(reps.size),
            "level": level,
            "seed": seed,
            "resampled": "generated images only (the reference is fixed statistics)",
            "interval": "percentile, centred on the value",
            "bias": float(reps.mean() - value),
        }
    warning = _small_n_warning(int(f.shape[0]), ref.n, int(f.shape[1]), "fid")
    if warning:
        details["warning"] = warning
    return SetMetricResult(value, low, high, details)


def kid_against_reference(
    ref: ReferenceStats,
    fake_feats,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> SetMetricResult:
    """KID of generated features against the reference's per-image features, or withheld when it has none.

    The unbiased MMD^2 with the cubic kernel over independent subsets of both sets (the reference
    and the generated images are different images: unpaired), as ``kid_result`` computes it for a
    run's own real images; its bootstrap resamples both sets, because per-image reference features
    are a sample too. Equal to clean-fid's ``kernel_distance`` when one subset covers both sets.

    Parameters
    ----------
    ref : ReferenceStats
        With ``feats`` for a value (clean-fid's ``_kid`` file); otherwise the result is withheld.
    fake_feats : array_like
        ``N x D`` generated features.
    subsets, subset_size : int
        Subset draws and rows per subset (clipped to the smaller set).
    n_boot, seed, level
        As for :func:`fid_against_reference`.

    Returns
    -------
    SetMetricResult
    """
    f = _fake_side(ref, fake_feats)
    if ref.feats is None:
        return withheld(
            f"KID needs the reference's per-image features; {ref.path} holds only their mean and "
            "covariance (clean-fid statistics with their _kid.npz file have them)",
            n_fake=int(f.shape[0]),
            **ref.details(),
        )
    r = ref.feats
    values = kid_subset_values(r, f, subsets=subsets, subset_size=subset_size, seed=seed, paired=False)
    value = float(values.mean())
    m = int(min(subset_size, r.shape[0], f.shape[0]))
    details: dict[str, Any] = {
        "n": int(min(r.shape[0], f.shape[0])),
        "n_fake": int(f.shape[0]),
        "feature_dim": int(f.shape[1]),
        **ref.details(),
        "estimator": "unbiased MMD^2, k(x,y) = (x.y/D + 1)^3, independent subsets",
        "subsets": 1 if m == r.shape[0] == f.shape[0] else int(subsets),
        "subset_size": m,
        "subset_std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
    }
    low = high = float("nan")
    if n_boot > 0:
        reps = bootstrap_kid(r, f, n_boot=n_boot, seed=seed, paired=False)
        low, high = centred_interval(value, reps, level)
        details["bootstrap"] = {
            "replicates": int(reps.size),
            "level": level,
            "seed": seed,
            "resampled": "both sets, independently",
            "interval": "percentile, centred on the value",
            "bias": float(reps.mean() - value),
        }
    warning = _small_n_warning(int(f.shape[0]), int(r.shape[0]), int(f.shape[1]), "kid")
    if warning:
        details["warning"] = warning
    return SetMetricResult(value, low, high, details)
