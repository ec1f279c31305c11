"""A feature store for a synthetic run directory (tests/outputs/test_report_latex_width.py's ``synthetic_run``).

Rows get pixel digests (``image_sha256``, ``output_sha256``) and the store random float32
features under them, of the extractor its ``set_metrics.json`` names, so reports that read a
run's stored features (``--bins area``) work on a synthetic run as on one that ``bench run`` wrote.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bench.metrics.feature_store import FeatureStore


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_feature_store(path: Path, dim: int = 64, seed: int = 0) -> Path:
    """Give every row of the run at ``path`` digests and store features for them; returns ``path``.

    Real features are standard normal; a method's outputs are its images' real features plus noise
    that grows with the method's position in the run, so methods differ in FID.
    """
    rows = [json.loads(line) for line in (path / "records.jsonl").read_text().splitlines() if line.strip()]
    sets = json.loads((path / "set_metrics.json").read_text())
    details = next(iter(next(iter(sets.values())).values()))["details"]
    identity = {k: details[k] for k in ("extractor", "extractor_sha256", "resize")}
    rng = np.random.default_rng(seed)
    ids = list(dict.fromkeys(r["image_id"] for r in rows))
    real = {i: rng.standard_normal(dim).astype(np.float32) for i in ids}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    digests, feats = [_digest(f"real {i}") for i in ids], [real[i] for i in ids]
    for r in rows:
        r["image_sha256"] = _digest(f"real {r['image_id']}")
        r["output_sha256"] = _digest(f"{r['method']} {r['image_id']}")
        noise = 0.2 * (1 + methods.index(r["method"])) * rng.standard_normal(dim)
        digests.append(r["output_sha256"])
        feats.append((real[r["image_id"]] + noise).astype(np.float32))
    (path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    FeatureStore(path / "features", identity).put(digests, np.stack(feats))
    return path
