"""What the mask families look like: an example grid over builtin photos and a hole-area table.

Both use the ``builtin`` dataset's ids (never CelebA), so the committed figure holds
only photos that ship inside installed packages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.inputs.masks.registry import available, get_family

# Rows of the figure: the study's families, then LaMa's from thin to thick, then DeepFill's.
FIGURE_ORDER = ("rects", "center", "thin", "medium", "thick", "freeform")


def figure_families() -> list[str]:
    """Every registered family that needs no options, in :data:`FIGURE_ORDER` (others after, by name).

    ``file`` is left out: it needs a folder of the user's own masks.
    """
    names = [i.name for i in available() if i.name != "file"]
    return sorted(names, key=lambda n: (FIGURE_ORDER.index(n) if n in FIGURE_ORDER else len(FIGURE_ORDER), n))


def builtin_ids(n: int, size: int) -> list[str]:
    """The first ``n`` ids of the builtin test split (round-robin over its photos)."""
    from bench.inputs.data import get_source

    return get_source("builtin", None, split="test", size=size).ids()[:n]


def area_table(specs: list[str], n: int = 280, size: int = 160, seed: int = 0) -> pd.DataFrame:
    """Hole area of ``n`` masks per family on ``size x size`` images, as ``bench run`` would draw them.

    Returns
    -------
    pandas.DataFrame
        One row per spec: ``family, n, mean, median, min, max`` (fractions of the image)
        and ``n_rect_masks``, how many of the masks are rectangles.
    """
    ids = builtin_ids(n, size)
    rows = []
    for spec in specs:
        family = get_family(spec)
        drawn = [family(seed, i, (size, size)) for i in ids]
        areas = np.array([mask.mean() for mask, _ in drawn])
        rows.append(
            {
                "family": family.spec,
                "n": len(areas),
                "mean": areas.mean(),
                "median": float(np.median(areas)),
                "min": areas.min(),
                "max": areas.max(),
                "n_rect_masks": sum(bool(r) for _, r in drawn),
            }
        )
    return pd.DataFrame(rows)


def text_table(table: pd.DataFrame) -> str:
    """A Markdown table of :func:`area_table`'s frame (three decimals)."""
    cols = list(table.columns)
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def example_figure(specs: list[str], stem: Path, examples: int = 4, size: int = 160, seed: int = 0) -> list[Path]:
    """A grid: one row per family, ``examples`` builtin photos with the family's hole (white, outlined red).

    Returns
    -------
    list of Path
        ``stem.png`` and ``stem.pdf``.
    """
    import matplotlib

    from bench.inputs.data import get_source

    matplotlib.use("Agg")  # no display needed; Agg keeps the PNG reproducible
    import matplotlib.pyplot as plt

    from bench.outputs.report.figures import hole_input, save_figure

    samples, _ = get_source("builtin", None, split="test", size=size).take(examples)
    fig, axes = plt.subplots(
        len(specs), len(samples), figsize=(1.6 * len(samples) + 0.9, 1.7 * len(specs)), squeeze=False
    )
    for row, spec in enumerate(specs):
        family = get_family(spec)
        for col, sample in enumerate(samples):
            mask, _ = family(seed, sample.id, sample.image.shape[:2])
            ax = axes[row, col]
            ax.imshow(hole_input(sample.image, mask), interpolation="nearest")
            ax.contour(mask, levels=[0.5], colors="red", linewidths=0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{mask.mean():.0%} hole", fontsize=7, pad=2)
            if col == 0:
                ax.set_ylabel(family.spec, fontsize=9)
    fig.suptitle(f"mask families on builtin photos ({size}x{size}, seed {seed})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(stem), dpi=100)
