"""Figure of the ``patch`` method: input with the hole shown, output, ground truth.

Usage (from the repository root)::

    python reports/patch/make_figure.py                       # builtin test crops
    python reports/patch/make_figure.py --dataset celeba --data-root ../shared/data/celeba \
        --out reports/patch/patch_celeba.png

Masks are the benchmark's own: ``make_mask(0, image_id, shape, "rects")``.
Each row is titled with the image id, the hole's share of the image and the
PSNR of the output inside the hole.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

HOLE_COLOUR = np.array([1.0, 0.0, 1.0], dtype=np.float32)  # magenta: never a natural colour here
BUILTIN_IDS = ("astronaut-000", "coffee-000", "chelsea-000", "grace_hopper-000", "china-000", "flower-001")


@click.command()
@click.option("--dataset", default="builtin", show_default=True)
@click.option("--data-root", default=None)
@click.option("--ids", default=None,
              help=f"Comma-separated image ids [default: {','.join(BUILTIN_IDS)} for builtin, "
                   "the first 6 ids otherwise].")
@click.option("--method", "spec", default="patch", show_default=True)
@click.option("--out", default=str(Path(__file__).with_name("patch_builtin.png")), show_default=True)
def main(dataset: str, data_root: str | None, ids: str | None, spec: str, out: str) -> None:
    """Render input / output / ground truth for a few images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    import methods
    from bench.inputs.data import get_source
    from bench.core.images import blank_hole
    from bench.inputs.masks import make_mask

    source = get_source(dataset, root=data_root)
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
    else:
        wanted = list(BUILTIN_IDS) if dataset == "builtin" else source.ids()[:6]
    method = methods.create(spec)
    fig, axes = plt.subplots(len(wanted), 3, figsize=(7.5, 2.6 * len(wanted)), squeeze=False)
    for row, image_id in zip(axes, tqdm(wanted, desc="figure")):
        image = source.load(image_id)
        mask, _ = make_mask(0, image_id, image.shape[:2], "rects")
        output = method.inpaint(blank_hole(image, mask), mask)
        shown = np.where(mask[..., None], HOLE_COLOUR, image)
        psnr = 10 * np.log10(1.0 / np.mean((output - image)[mask] ** 2))
        for ax, img, title in zip(row, (shown, output, image),
                                  (f"{image_id} (hole {mask.mean():.0%})", f"{spec}: {psnr:.1f} dB in hole",
                                   "ground truth")):
            ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
