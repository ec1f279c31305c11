"""Wall time per image of the features stage's processes on generated 160 px images.

    python results/benchmarks/feature_stage_speed.py [--n 192] [--workers 2]

The processes are started and their network loaded before the clock starts, so the number is
the extraction alone, with every process busy. Run it beside another tree's number only in the
same session (the machine is shared); the load average is printed with it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from bench.core.digest import image_sha256
from bench.core.images import from_uint8
from bench.engine.features import FeatureRequest, FeatureStage, load_extractor
from bench.metrics.feature_store import FeatureStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=192)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = [from_uint8(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)) for _ in range(args.n)]
    warm = [from_uint8(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)) for _ in range(2 * args.workers)]
    extractor = load_extractor(FeatureRequest(None, ""))
    with tempfile.TemporaryDirectory() as folder:
        request = FeatureRequest(None, extractor.sha256)
        with FeatureStage(FeatureStore(folder, extractor.identity), request, args.workers) as stage:
            # One image per process, so every process has loaded the network before timing.
            for im in warm:
                stage.add(image_sha256(im), im)
                stage.flush()
            stage.finish()
            start = time.perf_counter()
            for im in images:
                stage.add(image_sha256(im), im)
            stage.finish()
            wall = time.perf_counter() - start
    load = os.getloadavg()[0]
    print(
        f"{args.n} images, {args.workers} processes: {wall:.1f} s, {1000 * wall / args.n:.1f} ms per image (load {load:.2f})"
    )


if __name__ == "__main__":
    main()
