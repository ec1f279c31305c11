#!/usr/bin/env bash
# Regenerate the real-image features shipped with the package (bench/metrics/reference_features/):
# those of the README's main job (builtin, test split, 160 px, n = 280, seed 0, rects masks) under
# the default Inception extractor, in the feature cache's own file format. A fresh machine then
# skips their extraction (about 56 CPU-s on the 2-core dev machine). Run it when the builtin data,
# the protocol or the extractor change: tests/metrics/test_shipped_reference.py fails until then.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=bench/metrics/reference_features
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Old files would be found instead of computed: move them out of the way first.
mkdir -p "$tmp/old" && find "$dest" -name 'ref-*.npz' -exec mv {} "$tmp/old/" \;
bench run --methods mean --n 280 --seed 0 --metrics fid --out "$tmp/run" --cache-dir "$tmp/cache" --no-progress
# The run cached two feature sets' worth: only the real set goes into a ref-*.npz file.
cp "$tmp"/cache/fid/ref-*.npz "$dest/"
ls -l "$dest"
