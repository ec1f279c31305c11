"""Channel removal (the study's Table 4) and the identity-layer experiment.

For each requested layer and channel the sweep builds the registry variant
``BASE:drop=convL.C`` (a forward hook zeroes that output channel; no network is
copied), inpaints the protocol's images and re-measures FID and the per-image
metrics against the baseline ``BASE``. Reference features and the baseline are
computed once; each channel's row is appended to ``channels_convL.csv`` so the
sweep resumes after an interruption. Channels are measured by the sweep's executor:
one after another here, or each channel a task on a Dask cluster.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core.files import atomic_write_json
from bench.experiments.ablate.sweep import ResultsCSV, Sweep, paired_difference
from methods.registry import canonical_spec, create, parse_spec

log = logging.getLogger("bench")
STUDY_LAYERS = (1, 2, 3, 4, 10, 14, 15, 16)


def variant(base: str, **options: str) -> str:
    """``base`` with extra registry options, e.g. ``variant("iizuka", drop="conv1.44")``."""
    name, opts = parse_spec(base)
    clash = set(opts) & set(options)
    if clash:
        raise ValueError(f"base spec {base!r} already sets {', '.join(sorted(clash))}")
    return canonical_spec(name, {**opts, **options})


def layer_width(base: str, layer: str) -> int:
    """Output channels of ``layer`` in the base method's network."""
    from methods.glcic.hooks import layer_channels

    method = create(base)
    if not hasattr(method, "model"):
        raise ValueError(f"{base}: channel ablation needs a CNN method with a completion network")
    return layer_channels(method.model, layer)


def parse_channels(text: str, width: int) -> list[int]:
    """``"all"`` or a comma list of channel indices (checked against ``width``)."""
    if text.strip().lower() == "all":
        return list(range(width))
    chans = sorted({int(c) for c in text.split(",") if c.strip()})
    bad = [c for c in chans if not 0 <= c < width]
    if bad:
        raise ValueError(f"channels {bad} outside 0..{width - 1}")
    return chans


def baseline(sweep: Sweep, base: str) -> dict[str, Any]:
    """The unmodified method's measurement, cached in ``baseline.json``."""
    path = sweep.out / "baseline.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == json.loads(json.dumps({**sweep.key, "base": base, "n_boot": sweep.n_boot})):
            return cached
    ((_, m, _),) = list(sweep.measure_specs([base], desc="baseline"))
    result = {
        "key": {**sweep.key, "base": base, "n_boot": sweep.n_boot},
        **m.row(),
        "replicates": None if m.replicates is None else m.replicates.tolist(),
    }
    atomic_write_json(path, result)
    return result


def sweep_channels(sweep: Sweep, base: str, layers: list[int], channels: str = "all") -> dict[str, Any]:
    """Zero each channel of each layer in turn and measure.

    Parameters
    ----------
    sweep : Sweep
        Protocol, extractor and output directory.
    base : str
        Method spec without ``drop`` (e.g. ``iizuka`` or ``iizuka:ckpt=PATH``).
    layers : list of int
        Layer numbers (``1`` means ``conv1``).
    channels : str
        ``"all"`` or comma-separated channel indices.

    Returns
    -------
    dict
        ``baseline`` (its row), ``layers`` ({layer: list of rows of every channel measured
        in ``sweep.out``, this call's and earlier calls', of these layers and of any other
        layer measured there before}, by layer number) and ``flagged`` (rows whose FID
        lies outside the baseline's interval or whose paired difference excludes 0).
    """
    base_row = baseline(sweep, base)
    tables: dict[str, ResultsCSV] = {}
    todo: dict[str, tuple[str, int]] = {}  # spec -> (layer, channel), every layer's at once
    for number in layers:
        layer = f"conv{number}"
        chans = parse_channels(channels, layer_width(base, layer))
        tables[layer] = ResultsCSV(sweep.out / f"channels_{layer}.csv", key="channel")
        done = tables[layer].done()
        todo.update({variant(base, drop=f"{layer}.{c}"): (layer, c) for c in chans if str(c) not in done})
    for spec, m, seconds in sweep.measure_specs(list(todo), desc="channels"):
        layer, c = todo[spec]
        delta, low, high = paired_difference(m, base_row["fid"], base_row.get("replicates"))
        tables[layer].append_row(
            {
                "layer": layer,
                "channel": c,
                **m.row(),
                "fid_delta": delta,
                "fid_delta_low": low,
                "fid_delta_high": high,
                "channel_seconds": seconds,
            }
        )
    # Every channel measured in this directory so far, of every layer, so sweeps of different
    # layers and channel subsets (all of conv1, then a few of conv4) add up to one table and one
    # figure instead of the latest call's partial view.
    for path in sweep.out.glob("channels_conv*.csv"):
        layer = path.stem[len("channels_") :]
        if layer[4:].isdigit() and layer not in tables:
            tables[layer] = ResultsCSV(path, key="channel")
    results = {
        layer: sorted(tables[layer].rows(), key=lambda r: int(r["channel"]))
        for layer in sorted(tables, key=lambda name: int(name[4:]))
    }
    results = {layer: rows for layer, rows in results.items() if rows}
    flagged = [
        {
            **r,
            "test": ("outside baseline interval" if outside_baseline(r, base_row) else "")
            + (" paired difference excludes 0" if paired_significant(r) else ""),
        }
        for rows in results.values()
        for r in rows
        if outside_baseline(r, base_row) or paired_significant(r)
    ]
    return {"baseline": base_row, "layers": results, "flagged": flagged}


def outside_baseline(row: dict[str, Any], base_row: dict[str, Any]) -> bool:
    """The variant's FID lies outside the baseline's own 95 % interval (the study's criterion)."""
    return not base_row["fid_low"] <= float(row["fid"]) <= base_row["fid_high"]


def paired_significant(row: dict[str, Any]) -> bool:
    """The paired bootstrap interval of the FID difference excludes zero (same images resampled)."""
    low, high = float(row.get("fid_delta_low", "nan")), float(row.get("fid_delta_high", "nan"))
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


def channel_tables(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's Table 4 as text: a summary per layer and the channels outside the baseline interval.

    Parameters
    ----------
    result : dict
        What :func:`sweep_channels` returns.

    Returns
    -------
    summary : pandas.DataFrame
        One row per layer (index ``convL``): channels measured, FID range, how many lie
        outside the baseline's 95 % interval (the study's criterion), how many have a
        paired difference interval excluding 0 (raising / lowering FID), lowest hole PSNR.
    outside : pandas.DataFrame
        One row per channel outside the baseline interval (index ``convL.C``), by FID
        descending: FID, the paired difference with its interval, hole PSNR and SSIM.
    """
    base = result["baseline"]
    summary, outside = {}, []
    for layer, rows in result["layers"].items():
        if not rows:
            continue
        fids = [float(r["fid"]) for r in rows]
        paired = [r for r in rows if paired_significant(r)]
        raising = sum(float(r["fid_delta_low"]) > 0 for r in paired)
        summary[layer] = {
            "channels": str(len(rows)),
            "FID range": f"{min(fids):.2f}-{max(fids):.2f}",
            "outside interval": str(sum(outside_baseline(r, base) for r in rows)),
            "paired (raise / lower)": f"{len(paired)} ({raising} / {len(paired) - raising})",
            "min hole PSNR": f"{min(float(r['hole_psnr']) for r in rows):.2f}",
        }
        outside += [r for r in rows if outside_baseline(r, base)]
    outside.sort(key=lambda r: -float(r["fid"]))
    out_table = {
        f"{r['layer']}.{r['channel']}": {
            "FID": f"{float(r['fid']):.2f}",
            "FID difference [95 % paired]": (
                f"{float(r['fid_delta']):+.2f} [{float(r['fid_delta_low']):+.2f}, {float(r['fid_delta_high']):+.2f}]"
            ),
            "hole PSNR (dB)": f"{float(r['hole_psnr']):.2f}",
            "hole SSIM": f"{float(r['hole_ssim']):.3f}",
        }
        for r in outside
    }
    columns = ["FID", "FID difference [95 % paired]", "hole PSNR (dB)", "hole SSIM"]
    return (
        pd.DataFrame.from_dict(summary, orient="index"),
        pd.DataFrame.from_dict(out_table, orient="index", columns=columns),
    )


def sweep_identity(sweep: Sweep, base: str, layers: list[int]) -> dict[str, Any]:
    """Replace each layer by the identity (where shapes allow) and measure.

    Layers whose shapes do not allow it are reported with the reason instead of a score.
    """
    base_row = baseline(sweep, base)
    table = ResultsCSV(sweep.out / "identity.csv", key="layer")
    done = table.done()
    skipped: dict[str, str] = {}
    todo: dict[str, str] = {}  # spec -> layer
    for number in layers:
        layer = f"conv{number}"
        if layer in done:
            continue
        try:
            todo[create(variant(base, identity=layer)).spec] = layer  # built here: shapes are checked at once
        except ValueError as err:
            skipped[layer] = str(err)
    for spec, m, _ in sweep.measure_specs(list(todo), desc="identity layers"):
        delta, low, high = paired_difference(m, base_row["fid"], base_row.get("replicates"))
        table.append_row(
            {"layer": todo[spec], **m.row(), "fid_delta": delta, "fid_delta_low": low, "fid_delta_high": high}
        )
    rows = sorted(table.rows(), key=lambda r: int(r["layer"].removeprefix("conv")))  # a cluster appends as it finishes
    return {"baseline": base_row, "rows": rows, "not_applicable": skipped}


def channel_figure(result: dict[str, Any], path_stem: Path) -> list[Path]:
    """The study's Table 4 figure: FID per removed channel, one panel per layer.

    The baseline FID is a horizontal line with its interval shaded; channels
    outside that interval are circled, and channels whose paired bootstrap interval
    of the FID difference excludes zero are crossed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(result["layers"])
    cols = min(4, len(layers))
    rows = int(np.ceil(len(layers) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    base = result["baseline"]
    for ax, layer in zip(axes.flat, layers):
        data = result["layers"][layer]
        ch = np.array([int(r["channel"]) for r in data])
        fid = np.array([float(r["fid"]) for r in data])
        ax.axhspan(base["fid_low"], base["fid_high"], color="0.85", label="baseline 95 % interval")
        ax.axhline(base["fid"], color="k", lw=1, label="baseline")
        ax.plot(ch, fid, ".", ms=4, color="tab:blue")
        out = np.array([outside_baseline(r, base) for r in data], dtype=bool)
        sig = np.array([paired_significant(r) for r in data], dtype=bool)
        ax.plot(ch[out], fid[out], "o", mfc="none", color="tab:red", ms=8, label="outside baseline interval")
        ax.plot(ch[sig], fid[sig], "x", color="tab:orange", ms=6, label="paired difference excludes 0")
        ax.set_title(layer)
        ax.set_xlabel("channel zeroed")
        ax.set_ylabel("FID")
    for ax in list(axes.flat)[len(layers) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    written = []
    for suffix in (".png", ".pdf"):
        target = Path(str(path_stem) + suffix)
        fig.savefig(target, dpi=150)
        written.append(target)
    plt.close(fig)
    return written
