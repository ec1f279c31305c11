"""``bench time``: speed and memory of registry methods on builtin crops.

Each (method, size) runs in a fresh Python process so that its JIT warm-up and
its peak memory are its own: the worker builds the method, times a first call
on a small image (JIT compilation or cache loading), then times ``n`` builtin
crops at the requested size, each with 1-3 seeded rectangles covering about
20 % of the image, and reports the median seconds per image and the peak
resident memory (``getrusage`` maxrss).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import click
import numpy as np

from bench.commands.options import output_file_check
from bench.core.files import atomic_write_text

TARGET_AREA = 0.20
AREA_TOL = 0.03


def timing_mask(
    seed: int,
    image_id: str,
    shape: tuple[int, int],
    area: float = TARGET_AREA,
    tol: float = AREA_TOL,
    max_tries: int = 10_000,
) -> np.ndarray:
    """A seeded ``rects`` mask (1-3 rectangles) whose area is within ``tol`` of ``area``.

    Masks are drawn with :func:`bench.inputs.masks.make_mask` for the ids ``image_id#0``,
    ``image_id#1``, ... and the first one in range is kept, so the choice is a
    pure function of the arguments.

    Parameters
    ----------
    seed : int
        Mask seed.
    image_id : str
        Image id.
    shape : tuple of int
        ``(H, W)``.
    area, tol : float
        Wanted hole fraction and tolerance.

    Returns
    -------
    np.ndarray
        bool ``H x W``, True = missing.
    """
    from bench.inputs.masks import MAX_AREA, make_mask

    if not 0 < area <= MAX_AREA or tol <= 0:
        raise ValueError(f"timing mask: area={area} must be in (0, {MAX_AREA}] and tol={tol} > 0")
    for k in range(max_tries):
        mask, _ = make_mask(seed, f"{image_id}#{k}", shape, "rects")
        if abs(mask.mean() - area) <= tol:
            return mask
    raise RuntimeError(f"no rects mask within {area:.0%} +- {tol:.0%} for {image_id!r} after {max_tries} draws")


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux's ``getrusage`` maxrss survives ``exec``, so a worker would inherit
    its parent's peak; the address space's own high-water mark (``VmHWM``)
    starts afresh and is used where available.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def prepare_inputs(size: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """The images and masks a timing run uses, plus a small warm-up pair.

    Parameters
    ----------
    size : int
        Side of the square builtin crops.
    n : int
        Number of images.
    seed : int
        Mask seed.

    Returns
    -------
    dict
        ``images`` (n x size x size x 3 float32, holes blanked), ``masks``
        (n x size x size bool), ``ids``, ``warm_image``, ``warm_mask``.
    """
    from bench.core.images import blank_hole
    from bench.inputs.data import get_source

    samples, skipped = get_source("builtin", size=size).take(n)
    if len(samples) < n:
        raise click.ClickException(f"only {len(samples)} builtin images could be loaded ({skipped})")
    masks = np.stack([timing_mask(seed, s.id, s.image.shape[:2]) for s in samples])
    images = np.stack([blank_hole(s.image, m) for s, m in zip(samples, masks)])
    # 96 px: large enough for a multiscale run of the patch method, so its
    # warm-up compiles every kernel (a 64 px image needs no pyramid).
    warm = get_source("builtin", size=96).load("coffee-000")
    warm_mask = timing_mask(seed, "warmup", warm.shape[:2])
    return {
        "images": images,
        "masks": masks,
        "ids": np.array([s.id for s in samples]),
        "warm_image": blank_hole(warm, warm_mask),
        "warm_mask": warm_mask,
    }


def measure(spec: str, inputs: dict[str, np.ndarray], progress: bool = True) -> dict:
    """Time one method on prepared inputs in the current process (the worker's job).

    The worker imports only numpy and the method (not the data loaders, which
    pull in scikit-learn and matplotlib), so its peak memory is the method's.

    Parameters
    ----------
    spec : str
        Method spec, e.g. ``"patch:features=0"``.
    inputs : dict
        As returned by :func:`prepare_inputs`.
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    dict
        ``spec, size, n, median_s, min_s, max_s, hole_px_median, ms_per_khole,
        warmup_s, import_s, rss_after_warmup_mb, peak_rss_mb``.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    import methods

    method = methods.create(spec)
    import_s = time.perf_counter() - t0
    # The first call pays for JIT compilation (or for loading the JIT cache).
    t1 = time.perf_counter()
    methods.inpaint_images(method, [inputs["warm_image"]], [inputs["warm_mask"]], ["warmup"])
    warmup_s = time.perf_counter() - t1
    rss_after_warmup = _peak_rss_mb()
    images, masks = inputs["images"], inputs["masks"]
    times, holes = [], []
    for image, mask, image_id in tqdm(
        list(zip(images, masks, inputs["ids"])),
        desc=f"{spec} {images.shape[1]}px",
        disable=not progress,
        file=sys.stderr,
    ):
        t = time.perf_counter()
        methods.inpaint_images(method, [image], [mask], [str(image_id)])
        times.append(time.perf_counter() - t)
        holes.append(int(mask.sum()))
    times_a = np.array(times)
    return {
        "spec": spec,
        "size": int(images.shape[1]),
        "n": int(images.shape[0]),
        "median_s": float(np.median(times_a)),
        "min_s": float(times_a.min()),
        "max_s": float(times_a.max()),
        "hole_px_median": float(np.median(holes)),
        "ms_per_khole": float(np.median(times_a / np.array(holes)) * 1e6),
        "warmup_s": warmup_s,
        "import_s": import_s,
        "threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
        "rss_after_warmup_mb": rss_after_warmup,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_worker(
    spec: str, size: int, n: int, seed: int, cold: bool = False, progress: bool = True, threads: int | None = None
) -> dict:
    """Run :func:`measure` in a fresh Python process and return its result.

    Parameters
    ----------
    cold : bool
        Point numba at an empty cache directory, so the warm-up time is the
        full JIT compilation rather than a cache load.
    threads : int, optional
        Numba threads in the worker (``NUMBA_NUM_THREADS``); default: all cores.
    """
    env = dict(os.environ)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="bench-time-") as tmp:
        if cold:
            env["NUMBA_CACHE_DIR"] = tmp
        path = os.path.join(tmp, "inputs.npz")
        np.savez(path, **prepare_inputs(size, n, seed))
        args = json.dumps({"spec": spec, "inputs": path, "progress": progress})
        proc = subprocess.run(
            [sys.executable, "-m", "bench.commands.timing", args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=None if progress else subprocess.PIPE,
            text=True,
        )
    if proc.returncode != 0:
        detail = proc.stderr[-2000:] if proc.stderr else "(see stderr above)"
        raise click.ClickException(f"timing {spec} at {size}px failed (exit {proc.returncode}): {detail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict]) -> str:
    """Markdown table of timing results."""
    head = (
        "| method | size | n | threads | median s/image | min-max s | hole px | ms / 1k hole px "
        "| JIT warm-up s | peak RSS MB | RSS after warm-up MB |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['spec']} | {r['size']} | {r['n']} | {r['threads']} | {r['median_s']:.3f} "
            f"| {r['min_s']:.3f}-{r['max_s']:.3f} "
            f"| {r['hole_px_median']:.0f} | {r['ms_per_khole']:.2f} | {r['warmup_s']:.2f} "
            f"| {r['peak_rss_mb']:.0f} | {r['rss_after_warmup_mb']:.0f} |"
        )
    return "\n".join(lines)


def _int_list(ctx, param, value: str) -> list[int]:
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not sizes or min(sizes) < 16:
        raise click.BadParameter(f"sizes must be integers >= 16, got {value!r}")
    return sizes


@click.command("time")
@click.option(
    "--methods",
    "specs",
    default="patch",
    show_default=True,
    help="Comma-separated method specs; use ';' between specs that contain commas.",
)
@click.option("--sizes", default="160,320,640", show_default=True, callback=_int_list, help="Image sides to time.")
@click.option("--n", default=10, show_default=True, type=click.IntRange(1), help="Images per size.")
@click.option("--seed", default=0, show_default=True, help="Mask seed.")
@click.option("--cold", is_flag=True, help="Empty JIT cache: warm-up = full numba compilation.")
@click.option("--threads", default=None, type=click.IntRange(1), help="Numba threads per worker [default: all cores].")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    callback=output_file_check(),
    default=None,
    help="Also write the results to this JSON file.",
)
def time_cmd(
    specs: str, sizes: list[int], n: int, seed: int, cold: bool, threads: int | None, json_path: str | None
) -> None:
    """Median seconds per image, JIT warm-up and peak memory of methods on builtin crops.

    Every image gets 1-3 seeded rectangles covering 20 % +- 3 % of it. Each
    (method, size) runs in its own process. Timings share the machine with
    whatever else runs: on a busy machine compare with --threads 1 as well,
    since parallel regions stall when a core is taken by another process.
    """
    import methods

    spec_list = [s.strip() for s in (specs.split(";") if ";" in specs else specs.split(",")) if s.strip()]
    if not spec_list:
        raise click.BadParameter("no method given", param_hint="--methods")
    for spec in spec_list:
        try:
            methods.create(spec)  # fail on a bad spec before spawning anything
        except (KeyError, ValueError) as err:
            raise click.BadParameter(str(err), param_hint="--methods") from None
    from bench.core.machine import describe_machine, load_average, machine_line

    # Speed claims quote this line: the same numbers on a busy machine mean something else.
    machine = describe_machine()
    rows = []
    for spec in spec_list:
        for size in sizes:
            rows.append(run_worker(spec, size, n, seed, cold=cold, threads=threads))
    load_after = load_average()
    click.echo(f"machine: {machine_line(machine)}")
    click.echo(f"load average after timing: {'/'.join(f'{v:.2f}' for v in load_after) if load_after else 'unknown'}")
    click.echo(format_table(rows))
    if json_path:
        # Rebuilt from the options, so the record is right whatever process called the command.
        command = (
            f"bench time --methods '{specs}' --sizes {','.join(map(str, sizes))} --n {n} --seed {seed}"
            + (" --cold" if cold else "")
            + (f" --threads {threads}" if threads else "")
        )
        atomic_write_text(
            json_path,
            json.dumps(
                {"command": command, "machine": machine, "load_average_after": load_after, "rows": rows}, indent=2
            ),
        )


if __name__ == "__main__":
    # Worker entry point: one JSON argument in, one JSON line out.
    opts = json.loads(sys.argv[1])
    with np.load(opts["inputs"]) as npz:
        loaded = {k: npz[k] for k in npz.files}
    print(json.dumps(measure(opts["spec"], loaded, opts["progress"])))
