"""The patch option study: today's ``patch`` beside each of its changes, alone and together.

Quality (hole PSNR) on builtin photos at 160 and 320 px, speed at 320, 640 and
1024 px and peak memory at 1024 px, every configuration run in the same process
and interleaved image by image, so that the machine's load weighs on all alike.

Usage (from the repository root; about 40 minutes on 2 cores)::

    nice -n 5 python -m bench.experiments.patch_options
    nice -n 5 python -m bench.experiments.patch_options --sizes 160 --n 12 --seeds 0 --no-timing --no-memory

Inputs: the builtin test crops in id order (``bench.inputs.data`` ``builtin`` source at
the given size), each with its benchmark mask ``make_mask(0, id, shape, "rects")``
(1-3 rectangles by construction); a crop is kept when the mask covers 10-25 %
of it, and the first ``n`` kept crops are used. Masks are never redrawn, so the
inputs are exactly the benchmark's own for those ids.

Hole PSNR is scored by the suite's one evaluation loop (:mod:`bench.engine.evaluate`): on the
8-bit composite, exactly as ``bench run`` scores it. Writes to ``--out`` (default:
``reports/patch``): ``compare_quality.csv`` (one row per
image, size, seed and configuration), ``compare_timing.csv``,
``compare_memory.json`` and ``compare_summary.md``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from bench.core.files import atomic_write_text

OUT = Path("reports/patch")
MODULE = "bench.experiments.patch_options"

# Every option spelled out, so that a row means the same whatever the defaults
# (``repr`` of a float parses back to the same float).
TODAY = {"stop": "change", "tol": repr(0.1 / 255), "tol_px": "0", "init": "onion", "search": "clip", "final": "search"}
# Stopping rules that fire: the article's with half a grey level instead of a
# tenth on every level; the same tolerance for a hole of 6144 pixels, grown in
# proportion to each level's hole; and the share of moved matches (either
# rule, whichever comes first).
CHANGES = {
    "stop": {"tol": repr(0.5 / 255)},
    "stop-px": {"tol": repr(0.5 / 255), "tol_px": "6144"},
    "stop-matches": {"stop": "either", "frac": "0.3"},
    "init": {"init": "partial"},
    "search": {"search": "valid"},
    "final": {"final": "field"},
}
# The changes together: the default (without the valid-range search, which
# loses at 160 px what it gains at 320 px), with a constant tolerance, with the
# valid-range search, and with the matches rule.
TOGETHER = {
    "all": ("stop-px", "init", "final"),
    "all-const": ("stop", "init", "final"),
    "all-valid": ("stop-px", "init", "search", "final"),
    "all-matches": ("stop-matches", "init", "search", "final"),
}
AREA = (0.10, 0.25)
WARM_SIZE = 96


def config_specs() -> dict[str, str]:
    """Name -> spec of today's configuration, each change alone, and the changes together."""

    def spec(opts: dict[str, str]) -> str:
        return "patch:" + ",".join(f"{k}={v}" for k, v in opts.items())

    out = {"today": spec(TODAY)}
    for name, change in CHANGES.items():
        out[name] = spec({**TODAY, **change})
    for name, parts in TOGETHER.items():
        opts = dict(TODAY)
        for part in parts:
            opts.update(CHANGES[part])
        out[name] = spec(opts)
    return out


def default_config(specs: dict[str, str]) -> str | None:
    """The configuration whose parameters equal those of plain ``patch`` (the registry default)."""
    import methods

    plain = methods.create("patch").params
    for name, spec in specs.items():
        if methods.create(spec).params == plain:
            return name
    return None


def select_inputs(size: int, n: int, skip: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The first ``n`` builtin crops whose benchmark mask covers 10-25 % (see the module notes), after ``skip`` of them.

    ``skip`` sets aside the inputs of the committed comparison, so that a
    parameter can be chosen on others (``--skip 40``).

    Returns
    -------
    list of (id, image, mask)
        ``image`` float32 ``size x size x 3``, ``mask`` bool (True = missing).
    """
    from bench.inputs.data import get_source
    from bench.inputs.masks import make_mask

    source = get_source("builtin", size=size)
    kept = []
    for image_id in source.ids():
        image = source.load(image_id)
        mask, rects = make_mask(0, image_id, image.shape[:2], "rects")
        if not 1 <= len(rects) <= 3:
            raise RuntimeError(f"{image_id}: {len(rects)} rectangles, expected 1-3")
        if AREA[0] <= mask.mean() <= AREA[1]:
            kept.append((image_id, image, mask))
            if len(kept) == skip + n:
                return kept[skip:]
    raise RuntimeError(f"only {len(kept)} builtin crops at {size} px have a mask of {AREA[0]:.0%}-{AREA[1]:.0%}")


def _warm(method) -> None:
    """Load (or compile) the JIT code before anything is timed."""
    from bench.core.images import blank_hole
    from bench.inputs.data import get_source
    from bench.inputs.masks import make_mask

    image = get_source("builtin", size=WARM_SIZE).load("coffee-000")
    mask, _ = make_mask(0, "coffee-000", image.shape[:2], "rects")
    method.inpaint(blank_hole(image, mask), mask)


def _run(method, image_id: str, image, mask, metrics) -> tuple[dict, float]:
    """One image through the evaluation loop: the scored row and the method's seconds."""
    from bench.engine.evaluate import evaluate_one
    from bench.inputs.data import Sample

    row, _ = evaluate_one(method, Sample(image_id, image), mask, metrics)
    if row["status"] != "ok":
        raise RuntimeError(f"{method.spec} failed on {image_id}: {row['error']}")
    return row, row["seconds"]


def hole_psnr_metric() -> list:
    """The registry's PSNR metric alone (scored on the whole image and the hole: ``hole_psnr``)."""
    from bench.metrics import all_metrics

    return [m for m in all_metrics("image") if m.name == "psnr"]


def run_quality(specs: dict[str, str], sizes: list[int], n: int, seeds: list[int], skip: int = 0) -> list[dict]:
    """Hole PSNR and seconds of every configuration and seed on every input, interleaved."""
    from tqdm import tqdm

    import methods

    rows = []
    metrics = hole_psnr_metric()
    built = {(name, s): methods.create(f"{spec},seed={s}") for name, spec in specs.items() for s in seeds}
    for m in built.values():
        _warm(m)
    for size in sizes:
        inputs = select_inputs(size, n, skip)
        for image_id, image, mask in tqdm(inputs, desc=f"quality {size}px", file=sys.stderr):
            for s in seeds:
                for name, spec in specs.items():
                    m = built[(name, s)]
                    scored, dt = _run(m, image_id, image, mask, metrics)
                    st = m.last_stats
                    rows.append(
                        {
                            "image": image_id,
                            "size": size,
                            "seed": s,
                            "config": name,
                            "spec": spec,
                            "hole_psnr": scored["hole_psnr"],
                            "seconds": dt,
                            "iterations": sum(st.iterations),
                            "levels": st.levels,
                            "distance_evals": st.distance_evals,
                            "hole_fraction": float(mask.mean()),
                        }
                    )
    return rows


def run_timing(specs: dict[str, str], sizes: list[int], n: int) -> list[dict]:
    """Seconds per image of every configuration (seed 0), interleaved image by image."""
    from tqdm import tqdm

    import methods

    built = {name: methods.create(spec) for name, spec in specs.items()}
    for m in built.values():
        _warm(m)
    rows, metrics = [], hole_psnr_metric()
    for size in sizes:
        for image_id, image, mask in tqdm(select_inputs(size, n), desc=f"timing {size}px", file=sys.stderr):
            for name, m in built.items():
                _, dt = _run(m, image_id, image, mask, metrics)
                rows.append(
                    {
                        "image": image_id,
                        "size": size,
                        "config": name,
                        "spec": specs[name],
                        "seconds": dt,
                        "iterations": sum(m.last_stats.iterations),
                        "hole_fraction": float(mask.mean()),
                    }
                )
    return rows


def _vm_hwm_mb() -> float:
    """Peak resident memory of this process (``VmHWM``, reset at exec, unlike ``ru_maxrss``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_worker(job: dict) -> dict:
    """In a fresh process: warm the method up, then inpaint one large image; peak RSS before and after.

    Only numpy and the method are imported (no data loaders), so the peak is
    the method's plus the interpreter's.
    """
    import methods

    arrays = np.load(job["npz"])
    method = methods.create(job["spec"])
    method.inpaint(arrays["warm_image"], arrays["warm_mask"])
    after_warmup = _vm_hwm_mb()
    t = time.perf_counter()
    method.inpaint(arrays["image"], arrays["mask"])
    seconds = time.perf_counter() - t
    return {"spec": job["spec"], "rss_after_warmup_mb": after_warmup, "peak_rss_mb": _vm_hwm_mb(), "seconds": seconds}


def run_memory(specs: dict[str, str], size: int) -> list[dict]:
    """Peak RSS of a fresh process per configuration on one ``size`` px input.

    The peak is read twice: in the worker (``VmHWM``) and by this process from
    ``getrusage(RUSAGE_CHILDREN)`` around a one-worker launcher, which agree.
    A bare worker (imports and the warm-up only) gives the baseline.
    """
    from bench.core.images import blank_hole
    from bench.inputs.data import get_source
    from bench.inputs.masks import make_mask

    # The largest hole of the first five inputs: memory grows with the hole.
    image_id, image, mask = max(select_inputs(size, 5), key=lambda item: item[2].sum())
    warm = get_source("builtin", size=WARM_SIZE).load("coffee-000")
    warm_mask, _ = make_mask(0, "coffee-000", warm.shape[:2], "rects")
    rows = []
    with tempfile.TemporaryDirectory(prefix="patch-mem-") as tmp:
        npz = os.path.join(tmp, "inputs.npz")
        np.savez(
            npz, image=blank_hole(image, mask), mask=mask, warm_image=blank_hole(warm, warm_mask), warm_mask=warm_mask
        )
        for name, spec in specs.items():
            job = json.dumps({"spec": spec, "npz": npz})
            proc = subprocess.run(
                [sys.executable, "-m", MODULE, "--memory-worker", job, "--launch"],
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                {"config": name, "image": image_id, "size": size, "hole_fraction": float(mask.mean()), **result}
            )
    return rows


def launch_one(job: str) -> dict:
    """Run one memory worker as this process's only child; add its ``RUSAGE_CHILDREN`` peak."""
    import resource

    proc = subprocess.run(
        [sys.executable, "-m", MODULE, "--memory-worker", job], stdout=subprocess.PIPE, text=True, check=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Linux reports KiB. The child was forked from this small launcher, so an
    # inherited pre-exec peak cannot exceed the launcher's own few tens of MB.
    result["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by :func:`_write_csv`, numbers converted back."""

    def convert(value: str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
        return value

    with open(path, newline="") as fh:
        return [{k: convert(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def summarise_quality(rows: list[dict], specs: dict[str, str], default: str | None) -> str:
    """Markdown: per size, mean hole PSNR per configuration, paired difference to today, time, iterations."""
    from bench.core.stats import bootstrap_ci
    from bench.inputs.data.builtin import Builtin

    lines = []
    sizes = sorted({r["size"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    for size in sizes + (["all"] if len(sizes) > 1 else []):
        sub = [r for r in rows if size == "all" or r["size"] == size]
        keys = sorted({(r["size"], r["image"]) for r in sub})
        n_img = len(keys)
        title = f"{' and '.join(map(str, sizes))} px together" if size == "all" else f"{size} px"
        lines += [
            f"### Hole PSNR, {title} ({n_img} inputs x seeds {','.join(map(str, seeds))})",
            "",
            "| config | spec | mean dB | seed 0 dB | vs today dB (95 % CI, by photo) | median s | mean searches |",
            "|---|---|---|---|---|---|---|",
        ]
        table = {}
        for name in specs:
            per = {}
            for r in sub:
                if r["config"] == name:
                    per.setdefault((r["size"], r["image"]), []).append(r)
            table[name] = per
        base = {k: np.mean([r["hole_psnr"] for r in v]) for k, v in table["today"].items()}
        groups = Builtin().groups([k[1] for k in keys])
        for name, spec in specs.items():
            per = table[name]
            mean = np.mean([r["hole_psnr"] for v in per.values() for r in v])
            seed0 = np.mean([r["hole_psnr"] for v in per.values() for r in v if r["seed"] == 0])
            diffs = [np.mean([r["hole_psnr"] for r in per[k]]) - base[k] for k in keys]
            d, lo, hi = bootstrap_ci(diffs, groups=[groups[k[1]] for k in keys])
            secs = np.median([r["seconds"] for v in per.values() for r in v])
            its = np.mean([r["iterations"] for v in per.values() for r in v])
            mark = " (default)" if name == default else ""
            lines.append(
                f"| {name}{mark} | `{spec}` | {mean:.3f} | {seed0:.3f} | {d:+.3f} ({lo:+.3f}, {hi:+.3f}) "
                f"| {secs:.2f} | {its:.1f} |"
            )
        lines.append("")
    # Per-image table: mean over seeds.
    names = list(specs)
    lines += [
        "### Per image (hole PSNR dB, mean over seeds)",
        "",
        "| size | image | hole % | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for size, image in sorted({(r["size"], r["image"]) for r in rows}):
        cells = []
        for name in names:
            vals = [r["hole_psnr"] for r in rows if r["size"] == size and r["image"] == image and r["config"] == name]
            cells.append(f"{np.mean(vals):.2f}")
        frac = next(r["hole_fraction"] for r in rows if r["size"] == size and r["image"] == image)
        lines.append(f"| {size} | {image} | {100 * frac:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summarise_timing(rows: list[dict], specs: dict[str, str]) -> str:
    """Markdown: median seconds per image, and the median over images of the time ratio to today's."""
    sizes = sorted({r["size"] for r in rows})
    n = len({r["image"] for r in rows if r["size"] == sizes[0]})
    lines = [
        (
            f"### Seconds per image (median of {n} inputs per size, seed 0; in brackets the median over "
            "inputs of seconds / today's seconds on the same input)"
        ),
        "",
        "| config | " + " | ".join(f"{s} px" for s in sizes) + f" | searches at {sizes[-1]} px |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    secs = {(r["config"], r["size"], r["image"]): r["seconds"] for r in rows}
    for c in specs:
        cells = []
        for s in sizes:
            images = sorted({r["image"] for r in rows if r["size"] == s})
            med = np.median([secs[(c, s, i)] for i in images])
            ratio = np.median([secs[(c, s, i)] / secs[("today", s, i)] for i in images])
            cells.append(f"{med:.2f} ({ratio:.2f})")
        its = np.mean([r["iterations"] for r in rows if r["config"] == c and r["size"] == sizes[-1]])
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {its:.1f} |")
    return "\n".join(lines) + "\n"


def summarise_memory(rows: list[dict]) -> str:
    """Markdown: whole-process peak RSS, after warm-up, and the difference."""
    r0 = rows[0]
    lines = [
        f"### Peak memory, one {r0['size']} px input ({r0['image']}, hole {100 * r0['hole_fraction']:.0f} %)",
        "",
        (
            "| config | peak RSS MB (VmHWM) | peak RSS MB (RUSAGE_CHILDREN) | after warm-up MB "
            "| peak - after warm-up MB | s |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['peak_rss_mb']:.0f} | {r['children_maxrss_mb']:.0f} "
            f"| {r['rss_after_warmup_mb']:.0f} | {r['peak_rss_mb'] - r['rss_after_warmup_mb']:.0f} "
            f"| {r['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


@click.command()
@click.option("--sizes", default="160,320", show_default=True, help="Quality sizes.")
@click.option("--n", default=16, show_default=True, help="Inputs per quality size.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Method seeds (the masks always use seed 0).")
@click.option("--timing-sizes", default="320,640,1024", show_default=True)
@click.option("--timing-n", default=4, show_default=True, help="Inputs per timing size.")
@click.option("--memory-size", default=1024, show_default=True)
@click.option("--configs", default=None, help="Comma-separated subset of: " + ",".join(config_specs()))
@click.option(
    "--extra",
    multiple=True,
    metavar="NAME=SPEC",
    help="A further configuration, e.g. 'px8k=patch:tol_px=8192' (repeatable).",
)
@click.option(
    "--skip",
    default=0,
    show_default=True,
    help="Quality inputs: skip this many kept crops per size first (--skip 40: inputs other than "
    "the committed comparison's).",
)
@click.option("--no-quality", is_flag=True)
@click.option("--no-timing", is_flag=True)
@click.option("--no-memory", is_flag=True)
@click.option("--out", default=str(OUT), show_default=True)
@click.option(
    "--summarise-only",
    is_flag=True,
    help="Rebuild compare_summary.md from the CSV/JSON files of an earlier run in --out.",
)
@click.option("--memory-worker", "worker_job", default=None, hidden=True)
@click.option("--launch", is_flag=True, hidden=True)
def main(
    sizes,
    n,
    seeds,
    timing_sizes,
    timing_n,
    memory_size,
    configs,
    extra,
    skip,
    no_quality,
    no_timing,
    no_memory,
    out,
    summarise_only,
    worker_job,
    launch,
):
    """Run today's patch configuration beside each change and all changes together."""
    if worker_job is not None:
        print(json.dumps(launch_one(worker_job) if launch else memory_worker(json.loads(worker_job))))
        return
    import numba

    specs = config_specs()
    if configs:
        wanted = [c.strip() for c in configs.split(",")]
        unknown = [c for c in wanted if c not in specs]
        if unknown:
            raise click.BadParameter(f"unknown config(s) {unknown}; choose from {list(specs)}")
        specs = {c: specs[c] for c in (["today"] + [w for w in wanted if w != "today"])}
    for item in extra:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec.startswith("patch") or name in specs:
            raise click.BadParameter(f"--extra {item!r}: expected a new NAME=SPEC with a patch spec")
        specs[name] = spec
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    default = default_config(specs)
    meta_path = out_dir / "compare_meta.json"
    # One record per part (quality, timing, memory), kept across runs that redo only some parts.
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"specs": specs, "parts": {}}
    if summarise_only:
        specs = meta["specs"]
    else:
        if meta["specs"] != specs:
            meta = {"specs": specs, "parts": {}}
        command = f"nice -n 5 python -m {MODULE} " + " ".join(sys.argv[1:])
        jobs = [
            (
                "quality",
                no_quality,
                lambda: _write_csv(
                    out_dir / "compare_quality.csv", run_quality(specs, _ints(sizes), n, _ints(seeds), skip)
                ),
            ),
            (
                "timing",
                no_timing,
                lambda: _write_csv(out_dir / "compare_timing.csv", run_timing(specs, _ints(timing_sizes), timing_n)),
            ),
            (
                "memory",
                no_memory,
                lambda: atomic_write_text(
                    out_dir / "compare_memory.json",
                    json.dumps(
                        run_memory({c: specs[c] for c in specs if c in ("today", default, "all")}, memory_size),
                        indent=1,
                    ),
                ),
            ),
        ]
        for part, skipped, job in jobs:
            if skipped:
                continue
            record = {
                "command": command.strip(),
                "started": time.strftime("%Y-%m-%d %H:%M"),
                "threads": numba.get_num_threads(),
                "cpus": os.cpu_count(),
                "load_before": os.getloadavg(),
            }
            job()
            record.update(finished=time.strftime("%Y-%m-%d %H:%M"), load_after=os.getloadavg())
            meta["parts"][part] = record
            atomic_write_text(meta_path, json.dumps(meta, indent=1))
    parts = [
        "# `patch`: today's configuration beside each change",
        "",
        f"Plain `patch` (the registry default) is `{default or 'none of these'}`.",
        "",
    ]
    for part, r in meta["parts"].items():
        parts.append(
            f"- {part}: `{r['command']}`, {r['started']} to {r['finished']}, {r['threads']} numba "
            f"threads on {r['cpus']} cores, load average (1/5/15 min) "
            + " -> ".join("/".join(f"{v:.1f}" for v in r[k]) for k in ("load_before", "load_after"))
        )
    parts.append("")
    if (out_dir / "compare_quality.csv").exists():
        parts.append(summarise_quality(_read_csv(out_dir / "compare_quality.csv"), specs, default))
    if (out_dir / "compare_timing.csv").exists():
        parts.append(summarise_timing(_read_csv(out_dir / "compare_timing.csv"), specs))
    if (out_dir / "compare_memory.json").exists():
        parts.append(summarise_memory(json.loads((out_dir / "compare_memory.json").read_text())))
    atomic_write_text(out_dir / "compare_summary.md", "\n".join(parts) + "\n")
    click.echo("\n".join(parts))


if __name__ == "__main__":
    main()
