"""Inception features and GLCIC on a device: speed, and parity with the CPU and the shipped reference features.

python results/benchmarks/device_parity.py --device cuda --n 280 [--batch 50] [--cpu] [--no-glcic] [--json FILE]

The images are the first ``n`` (at most 280) of the main job's real set, whose CPU features ship in
``bench/metrics/reference_features/`` (their ids and pixel hashes are checked against the file's
key first). Prints one JSON object:

- ``features``: features per second on the device (after one warm-up batch), the largest absolute
  difference from the shipped CPU features and that difference over their largest value, and the
  FID of a fixed fake set (the images with seeded Gaussian noise, sigma 0.1, extracted on the
  device) against the shipped features and against the device's own features of the same images;
- with ``--cpu``: the same extraction timed on this machine's CPU, and the FID with every feature
  extracted on the CPU beside the FID with every feature extracted on the device;
- ``glcic`` (unless ``--no-glcic``): ``iizuka`` images per second on the device and the largest
  output difference from the same method on the CPU (protocol masks, ``n`` images);
- ``device`` (:func:`bench.core.device.device_record`), ``machine``, the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.core.device import device_record, resolve_device
from bench.core.images import blank_hole
from bench.core.machine import describe_machine
from bench.inputs.protocol import load_protocol
from bench.metrics.feature_store import shipped_store
from bench.metrics.frechet import fid_gram
from bench.metrics.inception import load_extractor
from methods.registry import create

NOISE_SIGMA = 0.1


def reference_set():
    """The README's main job's real images (builtin, 160 px, n = 280, seed 0) and their shipped CPU features.

    The shipped store is keyed by pixels, so finding every image there checks that they are the same images.
    """
    proto = load_protocol("builtin", n=280, seed=0, size=160)
    store = shipped_store(load_extractor().identity)
    if store is None:
        raise SystemExit("no shipped features for the default extractor (bench/metrics/reference_features/)")
    try:
        shipped = store.get([proto.image_digest(i) for i in proto.ids])
    except KeyError as err:
        raise SystemExit(f"the builtin images are not those of the shipped features: {err}") from None
    samples = list(proto.samples)
    return shipped, proto, samples, [s.image for s in samples]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def feature_parity(images, shipped, device: str, batch: int, with_cpu: bool) -> dict:
    n = len(images)
    ext = load_extractor(device=device)
    ext(images[: min(batch, n)], batch_size=batch)  # warm-up: CUDA context, cuDNN, allocator
    feats, seconds = timed(ext, images, batch_size=batch)
    rng = np.random.default_rng(0)
    fakes = [np.clip(im + rng.normal(0.0, NOISE_SIGMA, im.shape), 0.0, 1.0).astype(np.float32) for im in images]
    fake_feats = ext(fakes, batch_size=batch)
    diff = float(np.abs(feats - shipped).max())
    out = {
        "n": n,
        "batch": batch,
        "seconds": round(seconds, 3),
        "features_per_second": round(n / seconds, 2),
        "max_abs_diff_vs_shipped_cpu": diff,
        "max_abs_diff_over_max_feature": diff / float(np.abs(shipped).max()),
        "fid_fake_vs_shipped_cpu_reference": fid_gram(shipped, fake_feats),
        "fid_fake_vs_device_reference": fid_gram(feats, fake_feats),
    }
    out["fid_difference"] = abs(out["fid_fake_vs_shipped_cpu_reference"] - out["fid_fake_vs_device_reference"])
    if with_cpu:
        cpu = load_extractor(device="cpu")
        cpu(images[: min(batch, n)], batch_size=batch)
        cpu_feats, cpu_seconds = timed(cpu, images, batch_size=batch)
        fid_all_cpu = fid_gram(cpu_feats, cpu(fakes, batch_size=batch))
        out.update(
            cpu_seconds=round(cpu_seconds, 3),
            cpu_features_per_second=round(n / cpu_seconds, 2),
            max_abs_diff_device_vs_cpu_here=float(np.abs(feats - cpu_feats).max()),
            fid_all_cpu=fid_all_cpu,
            fid_all_device=out["fid_fake_vs_device_reference"],
            fid_all_cpu_minus_all_device=fid_all_cpu - out["fid_fake_vs_device_reference"],
        )
    return out


def glcic_parity(proto, samples, device: str) -> dict:
    masks = [proto.masks[s.id][0] for s in samples]
    images = [blank_hole(s.image, m) for s, m in zip(samples, masks)]
    on_cpu, on_device = create("iizuka"), create(f"iizuka:device={device}")
    expected = on_cpu.inpaint_batch(images, masks)
    on_device.inpaint_batch(images[:1], masks[:1])  # warm-up
    outs, seconds = timed(on_device.inpaint_batch, images, masks)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(outs, expected))
    changed = sum(int((np.round(a * 255) != np.round(b * 255)).any(axis=2).sum()) for a, b in zip(outs, expected))
    return {
        "n": len(images),
        "images_per_second": round(len(images) / seconds, 2),
        "max_abs_diff_vs_cpu": diff,
        "pixels_whose_8bit_value_differs": changed,
        "fingerprint_device": on_device.fingerprint().get("device"),
    }


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cpu, cuda, cuda:N or auto (default cuda)")
    parser.add_argument("--n", type=int, default=280, help="images, 2 to 280 (default 280)")
    parser.add_argument("--batch", type=int, default=50, help="images per forward pass (default 50)")
    parser.add_argument("--cpu", action="store_true", help="also time the CPU and compare all-CPU with all-device FID")
    parser.add_argument("--no-glcic", action="store_true", help="skip the GLCIC comparison")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    shipped, proto, samples, images = reference_set()
    if not 2 <= args.n <= len(shipped):
        parser.error(f"--n {args.n}: the shipped set has {len(shipped)} images; use 2 to {len(shipped)}")
    samples, images = samples[: args.n], images[: args.n]
    result = {
        "command": "python results/benchmarks/device_parity.py " + " ".join(argv),
        "device": device_record(device),
        "features": feature_parity(images, shipped[: args.n], device, args.batch, args.cpu),
    }
    if not args.no_glcic:
        result["glcic"] = glcic_parity(proto, samples, device)
    result["machine"] = describe_machine()
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
