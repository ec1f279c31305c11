"""Peak memory of a 512 px run against the number of images: flat when the run streams.

Runs ``bench run --dataset folder --data-root DIR --size 512 --methods mean --metrics mse,fid`` for
each ``--n`` and samples the resident memory of the command and of all its processes (feature
workers included) every 50 ms. The images are made here, deterministically: smooth random
colour fields with edges, 600 x 600 JPEG, so the run decodes, crops and resizes as it would real
photos. ``--extractor small`` scores FID with a small TorchScript network (for large n in little
time); ``--code DIR`` runs another checkout of the suite (the code before a change) side by side.

Usage::

    python results/benchmarks/streaming_memory.py --n 100,400,2000 [--extractor small] [--code /tmp/old]

Writes ``results/benchmarks/streaming_memory.json`` (appending one entry per n and code) and
prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "streaming_memory.json"


def make_images(folder: Path, n: int, side: int = 600) -> None:
    """``n`` deterministic JPEG images in ``folder`` (kept between calls)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        path = folder / f"img{k:06d}.jpg"
        if path.is_file():
            continue
        rng = np.random.default_rng(k)
        low = rng.random((6, 6, 3)).astype(np.float32)
        image = cv2.resize(low, (side, side), interpolation=cv2.INTER_CUBIC)
        yy, xx = np.mgrid[0:side, 0:side]
        edge = ((xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) > rng.uniform(-200, 200) * 2).astype(np.float32)
        image = np.clip(0.7 * image + 0.3 * edge[..., None] * rng.random(3), 0, 1)
        cv2.imwrite(str(path), (image[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])


def small_extractor(path: Path) -> Path:
    """A small TorchScript feature network (64-d), fixed by its seed."""
    import torch

    if path.is_file():
        return path
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.AvgPool2d(8),
        torch.nn.Conv2d(3, 32, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, stride=2),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    ).eval()
    torch.jit.script(net).save(str(path))
    return path


def peak_memory(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``command``; its peak resident memory alone and with its child processes, in MB, and its wall time."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    main = psutil.Process(proc.pid)
    peak_main = peak_tree = 0
    while proc.poll() is None:
        try:
            rss = main.memory_info().rss
            tree = rss + sum(c.memory_info().rss for c in main.children(recursive=True))
        except psutil.Error:
            continue
        peak_main, peak_tree = max(peak_main, rss), max(peak_tree, tree)
        time.sleep(0.05)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out[-3000:]}")
    return {
        "peak_main_mb": peak_main / 2**20,
        "peak_tree_mb": peak_tree / 2**20,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="100,400,2000")
    parser.add_argument("--extractor", choices=["inception", "small"], default="inception")
    parser.add_argument("--code", default=None, help="another checkout to run (PYTHONPATH), e.g. the code before")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "streaming-memory"))
    args = parser.parse_args()
    counts = [int(x) for x in args.n.split(",")]
    work = Path(args.work)
    data = work / "images"
    make_images(data, max(counts))
    env = dict(os.environ)
    if args.code:
        env["PYTHONPATH"] = args.code
    extra = ["--fid-features", str(small_extractor(work / "small.pt"))] if args.extractor == "small" else []
    label = "before (" + args.code + ")" if args.code else "this checkout"
    entries = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    load = os.getloadavg()[0]
    for n in counts:
        out = work / f"run-{n}-{args.extractor}-{abs(hash(label)) % 10**6}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        command = [sys.executable, "-m", "bench.cli", "run", "--dataset", "folder", "--data-root", str(data)]
        command += ["--size", "512", "--methods", "mean", "--metrics", "mse,fid", "--n", str(n), "--out", str(out)]
        command += ["--no-progress", *extra]
        measured = peak_memory(command, env)
        commit = subprocess.run(
            ["git", "-C", args.code or str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        entry = {"code": label, "commit": commit, "n": n, "extractor": args.extractor, "load_1min": load, **measured}
        entries.append(entry)
        print(
            f"{label:28s} n = {n:5d} {args.extractor:9s} peak {measured['peak_main_mb']:7.0f} MB "
            f"(with workers {measured['peak_tree_mb']:7.0f} MB), {measured['seconds']:6.0f} s",
            flush=True,
        )
        subprocess.run(["rm", "-rf", str(out)], check=True)
    RESULTS.write_text(json.dumps(entries, indent=2) + "\n")


if __name__ == "__main__":
    main()
