#!/usr/bin/env bash
# Regenerate the real-image features shipped with the package (bench/metrics/reference_features/):
# those of the README's main job (builtin, test split, 160 px, n = 280, seed 0) under the default
# Inception extractor, as a feature store (bench/metrics/feature_store.py). A run copies them into
# its own store instead of extracting them (about 56 CPU-s on the 2-core dev machine). Run it when
# the builtin data or the extractor change: tests/metrics/test_shipped_reference.py fails until then.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=bench/metrics/reference_features
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The old file would be copied instead of computed: move it out of the way first.
mkdir -p "$tmp/old" && find "$dest" -name '*.features' -exec mv {} "$tmp/old/" \;
bench run --methods mean --n 280 --seed 0 --metrics fid --out "$tmp/run" --no-progress
# The run's store holds the outputs' features too: only the real images' rows are shipped.
python - "$tmp/run" "$dest" <<'PY'
import json, sys
from pathlib import Path
from bench.metrics.feature_store import FeatureStore
from bench.metrics.inception import load_extractor

run, dest = Path(sys.argv[1]), sys.argv[2]
identity = load_extractor().identity
digests = list(dict.fromkeys(json.loads(line)["image_sha256"] for line in (run / "records.jsonl").open()))
FeatureStore(dest, identity).put(digests, FeatureStore(run / "features", identity).get(digests))
PY
ls -l "$dest"
