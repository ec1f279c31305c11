"""Features of images on disk, keyed by the extractor and the pixels: a run's set metrics read them here.

A store is one append-only file per feature extractor, ``FOLDER/<key>.features``, where ``key``
names the extractor's sha256 and resize mode (:func:`extractor_key`). The file starts with a
header line (JSON: the extractor's identity and the feature dimension) and then holds
fixed-size records::

    sha256 of the pixels (32 bytes) | D float32 features | crc32 of the two (4 bytes)

A record is appended and fsynced as a chunk of rows, so a killed writer loses at most the
chunk in flight; a torn or damaged tail (a partial record, a record whose checksum fails) is
cut off when the store is opened for writing and ignored when it is read. Features are a
function of the pixels alone, so real images and every method's outputs share one store and
identical pixels are stored once; a store of another extractor or resize mode is another file,
so stale features are never used. The float32 rows are what the networks return, so storing
them loses nothing (the metrics compute in float64).
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import atomic_write, free_name

MAGIC = b"inpaint-bench features 1\n"
# Features shipped with the package: those of the README's main job's real images (builtin, test
# split, 160 px, the first 280), so a fresh machine does not extract them. A run copies a row
# from here into its own store when the pixels and extractor match; regenerate the file with
# results/benchmarks/ship_reference_features.sh.
SHIPPED_DIR = Path(__file__).resolve().parent / "reference_features"
DIGEST_BYTES = 32
CRC_BYTES = 4
SUFFIX = ".features"


class FeatureStoreError(RuntimeError):
    """A store file is not one of this suite's, or belongs to another extractor; the message names it."""


def extractor_key(identity: dict[str, Any]) -> str:
    """File stem for an extractor: 16 hex digits over its sha256 and resize mode.

    Parameters
    ----------
    identity : dict
        ``{"extractor", "extractor_sha256", "resize"}`` (``FeatureExtractor.identity``).
    """
    text = f"{identity['extractor_sha256']}\n{identity['resize']}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FeatureStore:
    """The stored features of one extractor in ``folder``.

    Parameters
    ----------
    folder : path
        Where the store file lives (a run's ``features/``).
    identity : dict
        The extractor's ``{"extractor", "extractor_sha256", "resize"}``.
    dim : int or None
        Feature dimension; None takes it from an existing file (a new file needs it before
        the first :meth:`put`, which also sets it from the rows).
    """

    def __init__(self, folder: str | os.PathLike, identity: dict[str, Any], dim: int | None = None):
        self.folder = Path(folder)
        self.identity = {k: identity[k] for k in ("extractor", "extractor_sha256", "resize")}
        self.path = self.folder / f"{extractor_key(self.identity)}{SUFFIX}"
        self.dim = dim
        self._index: dict[bytes, int] = {}  # pixel digest -> record number
        self._data_start = 0
        self._records = 0
        if self.path.is_file():
            self._read_header()
            self._scan()

    # ------------------------------------------------------------ reading

    @property
    def record_bytes(self) -> int:
        assert self.dim is not None
        return DIGEST_BYTES + 4 * self.dim + CRC_BYTES

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, digest: str) -> bool:
        return bytes.fromhex(digest) in self._index

    def digests(self) -> list[str]:
        """Every stored digest (hex), in the order the rows were written."""
        return [d.hex() for d in self._index]

    def missing(self, digests: Iterable[str]) -> list[str]:
        """The digests (hex) among ``digests`` without stored features, in order, once each."""
        return [d for d in dict.fromkeys(digests) if bytes.fromhex(d) not in self._index]

    def get(self, digests: list[str]) -> np.ndarray:
        """``len(digests) x D`` float64 features, one row per digest in order.

        Raises
        ------
        KeyError
            When a digest has no stored features (the message gives how many and one of them).
        """
        lost = self.missing(digests)
        if lost:
            raise KeyError(f"{self.path}: no features stored for {len(lost)} image(s), e.g. pixels {lost[0][:12]}")
        out = np.empty((len(digests), self.dim or 0), dtype=np.float64)
        if not digests:
            return out
        rows = np.array([self._index[bytes.fromhex(d)] for d in digests], dtype=np.int64)
        with open(self.path, "rb") as fh:
            view = np.memmap(
                fh, dtype=np.uint8, mode="r", offset=self._data_start, shape=(self._records, self.record_bytes)
            )
            # Sorted reads: a set of 30,000 rows is then one pass over the file.
            order = np.argsort(rows, kind="stable")
            for start in range(0, len(order), 4096):
                pick = order[start : start + 4096]
                block = np.asarray(view[rows[pick], DIGEST_BYTES : DIGEST_BYTES + 4 * self.dim])
                out[pick] = block.view("<f4").reshape(len(pick), self.dim)
            del view
        return out

    # ------------------------------------------------------------ writing

    def put(self, digests: list[str], feats: np.ndarray) -> int:
        """Append the features of images not stored yet and fsync them; returns how many were new.

        Parameters
        ----------
        digests : list of str
            Hex sha256 of each image's pixels (:func:`bench.core.digest.image_sha256`).
        feats : np.ndarray
            ``len(digests) x D`` features (stored as float32, what every extractor returns).
        """
        feats = np.asarray(feats)
        if feats.ndim != 2 or feats.shape[0] != len(digests):
            raise ValueError(f"features of shape {feats.shape} offered for {len(digests)} images")
        if self.dim is None:
            self.dim = int(feats.shape[1])
        if feats.shape[1] != self.dim:
            raise FeatureStoreError(f"{self.path}: holds {self.dim}-d features, offered {feats.shape[1]}-d ones")
        single = feats.astype("<f4")
        if not np.array_equal(single.astype(np.float64), feats.astype(np.float64)):
            raise ValueError("features must be float32 values (the store keeps them exactly)")
        new = [(k, d) for k, d in enumerate(digests) if bytes.fromhex(d) not in self._index]
        seen: set[bytes] = set()
        chunks = []
        for k, d in new:
            key = bytes.fromhex(d)
            if key in seen:
                continue
            seen.add(key)
            body = key + single[k].tobytes()
            chunks.append(body + zlib.crc32(body).to_bytes(CRC_BYTES, "little"))
        if not chunks:
            return 0
        if not self.path.is_file():
            self._create()
        with open(self.path, "r+b") as fh:
            fh.seek(self._data_start + self._records * self.record_bytes)
            fh.truncate()  # a torn tail left by a killed writer is cut before appending
            fh.write(b"".join(chunks))
            fh.flush()
            os.fsync(fh.fileno())
        for body in chunks:
            self._index[body[:DIGEST_BYTES]] = self._records
            self._records += 1
        return len(chunks)

    # ------------------------------------------------------------ the file

    def _header(self) -> bytes:
        return MAGIC + json.dumps({**self.identity, "dim": self.dim}, sort_keys=True).encode() + b"\n"

    def _create(self) -> None:
        header = self._header()
        # The header is written whole before the file appears under its name.
        atomic_write(self.path, lambda fh: fh.write(header))
        self._data_start = len(header)

    def _read_header(self) -> None:
        with open(self.path, "rb") as fh:
            magic = fh.read(len(MAGIC))
            line = fh.readline(1 << 16)
        if magic != MAGIC or not line.endswith(b"\n"):
            raise FeatureStoreError(f"{self.path}: not a feature store of inpaint-bench")
        try:
            header = json.loads(line)
        except ValueError:
            raise FeatureStoreError(f"{self.path}: unreadable header") from None
        stored = {k: header.get(k) for k in self.identity}
        if stored != self.identity:
            raise FeatureStoreError(f"{self.path}: holds features of {stored}, not of {self.identity}")
        if self.dim is not None and header.get("dim") != self.dim:
            raise FeatureStoreError(f"{self.path}: holds {header.get('dim')}-d features, expected {self.dim}-d")
        self.dim = int(header["dim"])
        self._data_start = len(MAGIC) + len(line)

    def _scan(self) -> None:
        size = self.path.stat().st_size - self._data_start
        whole = max(0, size) // self.record_bytes
        with open(self.path, "rb") as fh:
            fh.seek(self._data_start)
            for record in range(whole):
                chunk = fh.read(self.record_bytes)
                body, crc = chunk[:-CRC_BYTES], chunk[-CRC_BYTES:]
                if zlib.crc32(body).to_bytes(CRC_BYTES, "little") != crc:
                    break  # damaged from here on: a later put cuts it off
                self._index.setdefault(body[:DIGEST_BYTES], record)
                self._records = record + 1


def store_for_writing(folder: str | os.PathLike, identity: dict[str, Any]) -> tuple[FeatureStore, Path | None]:
    """The store a run appends to in ``folder``, setting aside a file in its place that cannot be read.

    A store file whose header is damaged, or that holds another extractor's features, has no
    row this run can use; it is moved to ``PATH.damaged-N`` (kept, not deleted) and a new store
    is started, so its features are extracted again instead of the run stopping.

    Parameters
    ----------
    folder : path
        The run's ``features/``.
    identity : dict
        The extractor's ``{"extractor", "extractor_sha256", "resize"}``.

    Returns
    -------
    store : FeatureStore
    aside : Path or None
        Where the unreadable file went, or None when there was none.
    """
    try:
        return FeatureStore(folder, identity), None
    except FeatureStoreError:
        path = Path(folder) / f"{extractor_key(identity)}{SUFFIX}"
        aside = free_name(path, "damaged")
        os.replace(path, aside)
        return FeatureStore(folder, identity), aside


def shipped_store(identity: dict[str, Any]) -> FeatureStore | None:
    """The package's store of shipped features for this extractor, or None when it ships none."""
    store = FeatureStore(SHIPPED_DIR, identity)
    return store if store.path.is_file() else None


def open_store(path: str | os.PathLike) -> FeatureStore:
    """The store in ``path`` (a ``*.features`` file), with the identity its header names.

    Raises
    ------
    FeatureStoreError
        The file is not a feature store of this suite.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic, line = fh.read(len(MAGIC)), fh.readline(1 << 16)
        header = json.loads(line) if magic == MAGIC else None
    except (OSError, ValueError):
        header = None
    if not isinstance(header, dict) or not {"extractor", "extractor_sha256", "resize"} <= set(header):
        raise FeatureStoreError(f"{path}: not a feature store of inpaint-bench")
    store = FeatureStore(path.parent, header)
    if store.path != path:
        raise FeatureStoreError(f"{path}: its name does not match its extractor (expected {store.path.name})")
    return store
