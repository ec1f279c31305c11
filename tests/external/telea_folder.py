"""A stand-alone inpainting tool that knows nothing of inpaint-bench: OpenCV Telea over a folder.

Usage: python telea_folder.py INDIR OUTDIR

Reads LaMa's layout (INDIR/NAME.png with INDIR/NAME_mask000.png, 255 = hole) with OpenCV
only, and writes OUTDIR/NAME_mask000.png as LaMa's bin/predict.py names its outputs.
"""

import sys
from pathlib import Path

import cv2


def main(indir: str, outdir: str) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for mask_path in sorted(Path(indir).glob("*_mask000.png")):
        image = cv2.imread(str(mask_path.with_name(mask_path.name[: -len("_mask000.png")] + ".png")), cv2.IMREAD_COLOR)
        hole = (cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 127).astype("uint8")
        cv2.imwrite(str(out / mask_path.name), cv2.inpaint(image, hole, 3.0, cv2.INPAINT_TELEA))


if __name__ == "__main__":
    main(*sys.argv[1:3])
