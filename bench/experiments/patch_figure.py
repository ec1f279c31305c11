"""Figure of the ``patch`` method: input with the hole shown, output, ground truth.

Usage (from the repository root)::

    python -m bench.experiments.patch_figure                  # builtin test crops
    python -m bench.experiments.patch_figure --dataset celeba --data-root ../shared/data/celeba \
        --out runs/patch_celeba.png                           # faces: never commit this one

Masks are the benchmark's own: ``make_mask(0, image_id, shape, "rects")``.
Each row is titled with the image id, the hole's share of the image and the
hole PSNR of the output, scored by the suite's evaluation loop (the 8-bit composite).
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
@click.option(
    "--ids",
    default=None,
    help=f"Comma-separated image ids [default: {','.join(BUILTIN_IDS)} for builtin, the first 6 ids otherwise].",
)
@click.option("--method", "spec", default="patch", show_default=True)
@click.option("--out", default="reports/patch/patch_builtin.png", show_default=True)
def main(dataset: str, data_root: str | None, ids: str | None, spec: str, out: str) -> None:
    """Render input / output / ground truth for a few images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    import methods
    from bench.engine.evaluate import evaluate_one
    from bench.experiments.patch_options import hole_psnr_metric
    from bench.inputs.data import Sample, get_source
    from bench.inputs.masks import make_mask

    source = get_source(dataset, root=data_root)
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
    else:
        wanted = list(BUILTIN_IDS) if dataset == "builtin" else source.ids()[:6]
    method = methods.create(spec)
    metrics = hole_psnr_metric()
    fig, axes = plt.subplots(len(wanted), 3, figsize=(7.5, 2.6 * len(wanted)), squeeze=False)
    for row, image_id in zip(axes, tqdm(wanted, desc="figure")):
        image = source.load(image_id)
        mask, _ = make_mask(0, image_id, image.shape[:2], "rects")
        scored, output = evaluate_one(method, Sample(image_id, image), mask, metrics)
        if output is None:
            raise click.ClickException(f"{spec} failed on {image_id}: {scored['error']}")
        shown = np.where(mask[..., None], HOLE_COLOUR, image)
        titles = (
            f"{image_id} (hole {mask.mean():.0%})",
            f"{spec}: {scored['hole_psnr']:.1f} dB in hole",
            "ground truth",
        )
        for ax, img, title in zip(row, (shown, output, image), titles):
            ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
