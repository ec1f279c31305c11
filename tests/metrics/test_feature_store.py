"""The feature store: exact rows by pixel digest, crash-safe appends, one file per extractor."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from bench.metrics.feature_store import CRC_BYTES, MAGIC, FeatureStore, FeatureStoreError, open_store, store_for_writing

IDENTITY = {"extractor": "test-net", "extractor_sha256": "ab" * 32, "resize": "none"}


def _digest(k: int) -> str:
    return hashlib.sha256(f"image {k}".encode()).hexdigest()


def _feats(n: int, d: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32).astype(np.float64)


def test_rows_come_back_exactly_in_the_order_asked(tmp_path):
    store = FeatureStore(tmp_path, IDENTITY)
    feats = _feats(10)
    assert store.put([_digest(k) for k in range(10)], feats) == 10
    again = FeatureStore(tmp_path, IDENTITY)  # read back from the file
    order = [7, 0, 3, 3, 9]
    got = again.get([_digest(k) for k in order])
    np.testing.assert_array_equal(got, feats[order])
    assert got.dtype == np.float64
    assert again.digests() == [_digest(k) for k in range(10)]


def test_known_pixels_are_stored_once_and_missing_ones_named(tmp_path):
    store = FeatureStore(tmp_path, IDENTITY)
    store.put([_digest(0), _digest(1)], _feats(2))
    assert store.put([_digest(1), _digest(2), _digest(2)], _feats(3, seed=1)) == 1
    assert len(FeatureStore(tmp_path, IDENTITY)) == 3
    assert store.missing([_digest(5), _digest(0), _digest(5)]) == [_digest(5)]
    with pytest.raises(KeyError, match="no features stored for 1 image"):
        store.get([_digest(0), _digest(5)])


def test_a_torn_tail_is_ignored_and_cut_by_the_next_append(tmp_path):
    store = FeatureStore(tmp_path, IDENTITY)
    feats = _feats(4)
    store.put([_digest(k) for k in range(4)], feats)
    size = store.path.stat().st_size
    with open(store.path, "ab") as fh:  # a writer killed in the middle of a record
        fh.write(b"\x01" * (store.record_bytes // 2))
    resumed = FeatureStore(tmp_path, IDENTITY)
    assert len(resumed) == 4
    resumed.put([_digest(9)], _feats(1, seed=9))
    assert store.path.stat().st_size == size + store.record_bytes
    final = FeatureStore(tmp_path, IDENTITY)
    np.testing.assert_array_equal(final.get([_digest(9)]), _feats(1, seed=9))
    np.testing.assert_array_equal(final.get([_digest(k) for k in range(4)]), feats)


def test_a_damaged_record_ends_what_is_trusted(tmp_path):
    store = FeatureStore(tmp_path, IDENTITY)
    store.put([_digest(k) for k in range(5)], _feats(5))
    data = bytearray(store.path.read_bytes())
    start = len(data) - 3 * store.record_bytes  # the third record's features
    data[start + 40] ^= 0xFF
    store.path.write_bytes(bytes(data))
    read = FeatureStore(tmp_path, IDENTITY)
    assert read.missing([_digest(k) for k in range(5)]) == [_digest(2), _digest(3), _digest(4)]


def test_a_zero_filled_tail_fails_the_checksum(tmp_path):
    # Zeros are what a file system may leave at the end of a file after a power cut.
    store = FeatureStore(tmp_path, IDENTITY)
    store.put([_digest(k) for k in range(3)], _feats(3))
    data = bytearray(store.path.read_bytes())
    data[-store.record_bytes :] = b"\0" * store.record_bytes
    store.path.write_bytes(bytes(data))
    assert FeatureStore(tmp_path, IDENTITY).missing([_digest(k) for k in range(3)]) == [_digest(2)]
    assert CRC_BYTES == 4


def test_another_extractor_gets_another_file_and_a_foreign_file_is_refused(tmp_path):
    a = FeatureStore(tmp_path, IDENTITY)
    a.put([_digest(0)], _feats(1))
    b = FeatureStore(tmp_path, {**IDENTITY, "resize": "bilinear-299"})
    assert b.path != a.path and _digest(0) not in b
    b.path.write_bytes(b"not a store\n")
    with pytest.raises(FeatureStoreError, match="not a feature store"):
        FeatureStore(tmp_path, {**IDENTITY, "resize": "bilinear-299"})
    # A file renamed to another extractor's name is refused, not read as that extractor's.
    a.path.rename(b.path)
    with pytest.raises(FeatureStoreError, match="holds features of"):
        FeatureStore(tmp_path, {**IDENTITY, "resize": "bilinear-299"})


def test_open_store_reads_the_identity_from_the_header(tmp_path):
    store = FeatureStore(tmp_path, IDENTITY)
    store.put([_digest(0)], _feats(1))
    opened = open_store(store.path)
    assert opened.identity == IDENTITY and opened.dim == 6 and len(opened) == 1


def test_values_a_float32_cannot_hold_are_refused(tmp_path):
    store = FeatureStore(tmp_path, IDENTITY)
    with pytest.raises(ValueError, match="float32"):
        store.put([_digest(0)], np.full((1, 6), 0.1, dtype=np.float64))
    with pytest.raises(FeatureStoreError, match="6-d"):
        store.put([_digest(0)], _feats(1, d=6))
        store.put([_digest(1)], _feats(1, d=7))


@pytest.mark.parametrize(
    "damage",
    [b"\x00" * 40, MAGIC + b"{\x00\x00", b""],
    ids=["zeroed", "garbled header", "empty"],
)
def test_a_run_sets_an_unreadable_store_aside_and_starts_a_new_one(tmp_path, damage):
    good = FeatureStore(tmp_path, IDENTITY)
    good.put([_digest(0)], _feats(1))
    original = good.path.read_bytes()
    store, aside = store_for_writing(tmp_path, IDENTITY)
    assert aside is None and len(store) == 1  # a readable store is used as it is
    good.path.write_bytes(damage + original[len(damage) :] if damage else b"")
    damaged = good.path.read_bytes()
    with pytest.raises(FeatureStoreError, match="feature store|header"):
        FeatureStore(tmp_path, IDENTITY)
    store, aside = store_for_writing(tmp_path, IDENTITY)
    assert aside == tmp_path / f"{good.path.name}.damaged-1"
    assert aside.read_bytes() == damaged  # kept, not deleted
    assert len(store) == 0 and store.missing([_digest(0)]) == [_digest(0)]
    store.put([_digest(0)], _feats(1))
    assert len(FeatureStore(tmp_path, IDENTITY)) == 1
    _, aside_again = store_for_writing(tmp_path, IDENTITY)
    assert aside_again is None
