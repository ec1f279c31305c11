"""Every bad input tried on the suite, and what the user sees: a message naming it, never a traceback.

Each entry of :data:`CASES` builds one hostile input in a fresh folder and runs one command on
it. The table is the record: ``what`` says what was tried, ``exit_code`` how the command ends
(0: it goes on, skipping or warning; 1: a refusal; 2: click rejects an option), and
``says`` what the output must contain, with ``{tmp}`` standing for the folder, so the
message names the bad file or value. README.md's reliability line quotes the number of cases.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bench.cli import cli

CHEAP = ["run", "--methods", "mean", "--n", "2", "--metrics", "mse", "--no-progress"]
WEIGHTS = Path(__file__).resolve().parents[2] / "methods" / "glcic" / "weights" / "builtin" / "iizuka.pt"


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, the command run on it, and what the user must see."""

    id: str
    what: str
    make: Callable[[Path], list[str]]  # builds the input under the folder, returns the command line
    exit_code: int
    says: tuple[str, ...]


# ---------------------------------------------------------------- builders


def _cheap(tmp: Path, *options: str) -> list[str]:
    """The cheap run with ``options``, writing into ``tmp/run``."""
    return [*CHEAP, *options, "--out", str(tmp / "run")]


def _photo(path: Path, size: int = 48, mode: str = "RGB", seed: int = 0) -> Path:
    pixels = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if mode == "P":
        image = image.quantize(16)
    elif mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _folder(tmp: Path, *extra: Callable[[Path], object]) -> Path:
    """Two good photos plus whatever ``extra`` writes into the folder."""
    folder = tmp / "photos"
    _photo(folder / "good-a.png", seed=1)
    _photo(folder / "good-b.png", seed=2)
    for write in extra:
        write(folder)
    return folder


def _run_folder(tmp: Path, *extra, options: tuple[str, ...] = ()) -> list[str]:
    folder = _folder(tmp, *extra)
    return [*CHEAP, "--n", "3", "--dataset", "folder", "--data-root", str(folder), *options, "--out", str(tmp / "run")]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (a decompression bomb's few bytes; the data is cut short)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (3 * width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _bomb(folder: Path) -> None:
    (folder / "bomb.png").write_bytes(_png_header(20000, 12000))  # 240 megapixels in a few kB


def _big(folder: Path) -> None:
    (folder / "big.png").write_bytes(_png_header(12000, 10000))


def _truncated(folder: Path) -> None:
    data = _photo(folder / "cut.png", seed=3).read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])


def _ckpt(tmp: Path, obj=None, raw: bytes | None = None, name: str = "weights.pt") -> list[str]:
    path = tmp / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        torch.save(obj, path)
    return [*CHEAP, "--methods", f"iizuka:ckpt={path}", "--out", str(tmp / "run")]


def _weights(change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        weights = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
        change(weights)
        return _ckpt(tmp, weights)

    return make


def _mask_folder(tmp: Path, ids=("astronaut-000", "coffee-000"), shape=(160, 160), fill=None) -> Path:
    folder = tmp / "masks"
    folder.mkdir()
    for image_id in ids:
        mask = np.zeros(shape, np.uint8)
        mask[40:80, 40:80] = 255
        if fill is not None:
            mask[:] = fill
        Image.fromarray(mask).save(folder / f"{image_id}.png")
    return folder


def _run_masks(tmp: Path, **kwargs) -> list[str]:
    folder = _mask_folder(tmp, **kwargs)
    return [*CHEAP, "--masks", f"file:dir={folder}", "--out", str(tmp / "run")]


def _with(make: Callable[[Path], list[str]], then: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    def both(tmp: Path) -> list[str]:
        args = make(tmp)
        then(tmp)
        return args

    return both


def _finished_run(tmp: Path, *options: str) -> list[str]:
    args = [*CHEAP, *options, "--out", str(tmp / "run")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    return args


def _garbage_line(tmp: Path) -> None:
    records = tmp / "run" / "records.jsonl"
    first, *rest = records.read_bytes().splitlines(keepends=True)
    records.write_bytes(b"\x00garbage\n" + b"".join(rest))


def _non_utf8(folder: Path) -> None:
    try:
        with open(os.fsencode(folder) + b"/\xff\xfe.png", "wb") as fh:
            fh.write((folder / "good-a.png").read_bytes())
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")


def _undecodable(tmp: Path, name: bytes) -> str:
    """``tmp/NAME`` for a name whose bytes are not UTF-8, as Python hands such a path to the CLI."""
    return os.fsdecode(os.fsencode(tmp) + b"/" + name)


def _non_utf8_mask(folder: Path) -> None:
    try:
        with open(os.fsencode(folder) + b"/\xff.png", "wb") as fh:
            fh.write((folder / "coffee-000.png").read_bytes())
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")


def _non_utf8_out(tmp: Path) -> list[str]:
    out = _undecodable(tmp, b"\xffrun")
    try:
        os.mkdir(out)
        os.rmdir(out)
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    return [*CHEAP, "--out", out]


def _in_masks(write: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    """Good masks for both builtin images, then ``write`` spoils the folder."""
    return _with(lambda t: _run_masks(t), lambda t: write(t / "masks"))


def _half_of(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _predictions(tmp: Path, spoil: Callable[[Path], object]) -> list[str]:
    folder = tmp / "predicted"
    _photo(folder / "astronaut-000.png", size=160, seed=4)
    _photo(folder / "coffee-000.png", size=160, seed=5)
    spoil(folder)
    return [*CHEAP, "--methods", f"predictions:dir={folder}", "--out", str(tmp / "run")]


def _celeba_root(tmp: Path, partition: bytes) -> Path:
    _photo(tmp / "celeba" / "img_align_celeba" / "182638.jpg", size=64)
    (tmp / "celeba" / "list_eval_partition.txt").write_bytes(partition)
    return tmp / "celeba"


# ---------------------------------------------------------------- the table

CASES = [
    # Data folders and the files in them
    Case(
        "folder-missing",
        "--data-root that does not exist",
        lambda t: _cheap(t, "--dataset", "folder", "--data-root", str(t / "nope")),
        1,
        ("{tmp}/nope is not a directory",),
    ),
    Case(
        "data-root-is-a-file",
        "--data-root naming a file",
        lambda t: [*CHEAP, "--dataset", "folder", "--data-root", str(_photo(t / "x.png")), "--out", str(t / "r")],
        2,
        ("{tmp}/x.png", "is a file"),
    ),
    Case(
        "celeba-root-empty",
        "--dataset celeba on a folder without img_align_celeba/",
        lambda t: _cheap(t, "--dataset", "celeba", "--data-root", str(t)),
        1,
        ("{tmp}", "img_align_celeba"),
    ),
    Case(
        "folder-empty",
        "a folder with no image files",
        lambda t: [*CHEAP, "--dataset", "folder", "--data-root", str(_folder(t) / "sub"), "--out", str(t / "r")],
        1,
        ("{tmp}/photos/sub is not a directory",),
    ),
    Case(
        "only-broken-images",
        "a folder whose every file is unusable",
        lambda t: [
            *CHEAP,
            "--dataset",
            "folder",
            "--data-root",
            str(_only_broken(t)),
            "--out",
            str(t / "run"),
        ],
        1,
        ("{tmp}/broken/empty.png: empty file", "{tmp}/broken/text.jpg: corrupt or not an image"),
    ),
    Case(
        "truncated-png",
        "a PNG cut in half beside good photos",
        lambda t: _run_folder(t, _truncated),
        0,
        ("skipping {tmp}/photos/cut.png: truncated",),
    ),
    Case(
        "empty-file",
        "a zero-byte .png",
        lambda t: _run_folder(t, lambda f: (f / "zero.png").write_bytes(b"")),
        0,
        ("skipping {tmp}/photos/zero.png: empty file",),
    ),
    Case(
        "not-an-image",
        "a text file named .jpg",
        lambda t: _run_folder(t, lambda f: (f / "notes.jpg").write_text("not a photo")),
        0,
        ("skipping {tmp}/photos/notes.jpg: corrupt or not an image",),
    ),
    Case(
        "decompression-bomb",
        "a PNG claiming 240 megapixels",
        lambda t: _run_folder(t, _bomb),
        0,
        ("skipping {tmp}/photos/bomb.png: 240,000,000 pixels, over the limit of 100,000,000", "--max-pixels"),
    ),
    Case(
        "over-max-pixels",
        "ordinary photos over a lowered --max-pixels (native size, so the files meet the limit)",
        lambda t: _run_folder(t, options=("--max-pixels", "1000", "--size", "0")),
        1,
        ("{tmp}/photos/good-a.png: 2,304 pixels, over the limit of 1,000",),
    ),
    Case(
        "max-pixels-zero",
        "--max-pixels 0",
        lambda t: _run_folder(t, options=("--max-pixels", "0")),
        2,
        ("--max-pixels", "0"),
    ),
    Case(
        "large-under-a-raised-limit",
        "a 120-megapixel header with --max-pixels raised above it: decoded, then found cut short",
        lambda t: _run_folder(t, _big, options=("--max-pixels", "200000000")),
        0,
        ("skipping {tmp}/photos/big.png: ",),
    ),
    Case(
        "large-under-the-default-limit",
        "the same 120-megapixel header under the default limit",
        lambda t: _run_folder(t, _big),
        0,
        ("skipping {tmp}/photos/big.png: 12000 x 10000 = 120,000,000 pixels, over the limit of 100,000,000",),
    ),
    Case(
        "too-small",
        "an 8 x 8 image",
        lambda t: _run_folder(t, lambda f: _photo(f / "tiny.png", size=8)),
        0,
        ("skipping {tmp}/photos/tiny.png: too small (8x8",),
    ),
    Case(
        "same-stem-two-suffixes",
        "dup.png and dup.jpg in one folder",
        lambda t: _run_folder(t, lambda f: _photo(f / "dup.png"), lambda f: _photo(f / "dup.jpg")),
        1,
        ("{tmp}/photos: files share a name with different suffixes (dup.jpg, dup.png)",),
    ),
    Case(
        "symlink-loop",
        "a symbolic link pointing at itself",
        lambda t: _run_folder(t, lambda f: os.symlink("loop.png", f / "loop.png")),
        0,
        ("skipping {tmp}/photos/loop.png: a symbolic link loop",),
    ),
    Case(
        "broken-symlink",
        "a symbolic link to a file that does not exist",
        lambda t: _run_folder(t, lambda f: os.symlink("gone.png", f / "link.png")),
        0,
        ("skipping {tmp}/photos/link.png: a symbolic link to gone.png, which does not exist",),
    ),
    Case(
        "folder-symlink-to-parent",
        "a symbolic link named like an image, pointing at the folder itself",
        lambda t: _run_folder(t, lambda f: os.symlink(".", f / "again.png")),
        0,
        ("skipping {tmp}/photos/again.png: a symbolic link to something that is not a file",),
    ),
    Case(
        "non-utf8-name",
        "a file name whose bytes are not UTF-8",
        lambda t: _run_folder(t, _non_utf8),
        0,
        ("skipping {tmp}/photos/\\xff\\xfe.png: the file name is not valid UTF-8",),
    ),
    Case(
        "non-utf8-data-root",
        "--data-root whose name is not UTF-8 (and does not exist)",
        lambda t: [*CHEAP, "--dataset", "folder", "--data-root", _undecodable(t, b"\xffdir"), "--out", str(t / "r")],
        1,
        ("{tmp}/\\xffdir is not a directory",),
    ),
    Case(
        "data-root-symlink-loop",
        "--data-root a symbolic link pointing at itself",
        lambda t: [
            *CHEAP,
            "--dataset",
            "folder",
            "--data-root",
            str(_link(t / "loop", "loop")),
            "--out",
            str(t / "run"),
        ],
        1,
        ("{tmp}/loop is not a directory",),
    ),
    Case(
        "groups-csv-not-utf8",
        "a groups.csv of bytes that are not UTF-8 text",
        lambda t: _run_folder(t, lambda f: (f / "groups.csv").write_bytes(b"\xff\xfe\x00image_id")),
        1,
        ("{tmp}/photos/groups.csv: not UTF-8 text",),
    ),
    Case(
        "celeba-partition-not-text",
        "a CelebA list_eval_partition.txt of binary bytes",
        lambda t: [
            *CHEAP,
            "--dataset",
            "celeba",
            "--data-root",
            str(_celeba_root(t, b"\x89PNG\x00\xff")),
            "--out",
            str(t / "run"),
        ],
        1,
        ("{tmp}/celeba/list_eval_partition.txt: not the CelebA partition list",),
    ),
    Case(
        "celeba-partition-bad-number",
        "a CelebA partition line whose partition is not a number",
        lambda t: [
            *CHEAP,
            "--dataset",
            "celeba",
            "--data-root",
            str(_celeba_root(t, b"182638.jpg 2\n182639.jpg test\n")),
            "--out",
            str(t / "run"),
        ],
        1,
        ("{tmp}/celeba/list_eval_partition.txt, line 2: partition 'test' is not 0, 1 or 2",),
    ),
    Case(
        "size-over-max-pixels",
        "--size 100000 (a 10-gigapixel resize of every image)",
        lambda t: _cheap(t, "--size", "100000"),
        1,
        ("--size 100000: 10,000,000,000 pixels per image, over the limit of 100,000,000", "--max-pixels"),
    ),
    Case(
        "export-decompression-bomb",
        "bench export of a folder holding a 240-megapixel PNG",
        lambda t: (
            ["export", "--dataset", "folder", "--data-root", str(_folder(t, _bomb)), "--n", "3"]
            + ["--out", str(t / "exported"), "--no-progress"]
        ),
        0,
        ("skipping {tmp}/photos/bomb.png: 240,000,000 pixels, over the limit", "exported 2 images"),
    ),
    Case(
        "16-bit-palette-cmyk-rgba",
        "16-bit grey, palette, CMYK and RGBA images: converted and used",
        lambda t: _run_folder(
            t,
            lambda f: Image.fromarray(np.full((48, 48), 40000, np.uint16)).save(f / "deep.png"),
            lambda f: _photo(f / "palette.png", mode="P"),
            lambda f: _photo(f / "cmyk.jpg", mode="CMYK"),
            lambda f: _photo(f / "alpha.png", mode="RGBA"),
            options=("--n", "6"),
        ),
        0,
        ("6 rows (6 computed now, 0 resumed), 0 errors, 0 images skipped",),
    ),
    # Method specs and checkpoints
    Case(
        "unknown-method",
        "a misspelt method",
        lambda t: _cheap(t, "--methods", "teela"),
        1,
        ("teela", "telea"),
    ),
    Case(
        "bad-option-value",
        "patch:size=abc",
        lambda t: _cheap(t, "--methods", "patch:size=abc"),
        1,
        ("size", "abc"),
    ),
    Case(
        "unknown-option",
        "patch:bogus=1",
        lambda t: _cheap(t, "--methods", "patch:bogus=1"),
        1,
        ("bogus",),
    ),
    Case(
        "method-twice",
        "the same method listed twice",
        lambda t: _cheap(t, "--methods", "mean,mean"),
        1,
        ("a method is listed twice: mean, mean",),
    ),
    Case(
        "ckpt-missing",
        "iizuka:ckpt= naming no file",
        lambda t: _cheap(t, "--methods", f"iizuka:ckpt={t / 'none.pt'}"),
        1,
        ("GLCIC checkpoint not found: {tmp}/none.pt",),
    ),
    Case(
        "ckpt-random-bytes",
        "a checkpoint of random bytes",
        lambda t: _ckpt(t, raw=np.random.default_rng(0).bytes(4096)),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file: torch.load cannot read it",),
    ),
    Case(
        "ckpt-empty",
        "an empty checkpoint file",
        lambda t: _ckpt(t, raw=b""),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file: torch.load cannot read it",),
    ),
    Case(
        "ckpt-text",
        "a text file as checkpoint",
        lambda t: _ckpt(t, raw=b"hello\n"),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file: torch.load cannot read it",),
    ),
    Case(
        "ckpt-other-object",
        "a torch file holding a list",
        lambda t: _ckpt(t, [1, 2, 3]),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file",),
    ),
    Case(
        "ckpt-training-format",
        "a training checkpoint instead of exported weights",
        lambda t: _ckpt(t, {"format": "glcic-train-v1"}),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file (it is a training checkpoint",),
    ),
    Case(
        "ckpt-wrong-width",
        "weights claiming another width than their tensors have",
        _weights(lambda w: w.update(width=1.0)),
        1,
        ("{tmp}/weights.pt: its weights do not fit the width-1.0 completion net", "size mismatch"),
    ),
    Case(
        "ckpt-missing-tensor",
        "weights with a layer's tensor removed",
        _weights(lambda w: w["state_dict"].pop("conv1.conv.weight")),
        1,
        ("{tmp}/weights.pt: its weights do not fit", "conv1.conv.weight"),
    ),
    Case(
        "ckpt-no-mean-pixel",
        "weights without their mean pixel",
        _weights(lambda w: w.pop("mean_pixel")),
        1,
        ("{tmp}/weights.pt is a GLCIC weights file without mean_pixel",),
    ),
    Case(
        "ckpt-folder",
        "iizuka:ckpt= naming a folder",
        lambda t: _cheap(t, "--methods", f"iizuka:ckpt={t}"),
        1,
        ("{tmp} is a folder, not a GLCIC weights file",),
    ),
    Case(
        "ckpt-truncated",
        "the first half of a real weights file",
        lambda t: _ckpt(t, raw=_half_of(WEIGHTS, t / "half.pt").read_bytes()),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file: torch.load cannot read it",),
    ),
    Case(
        "ckpt-pickled-object",
        "a torch file holding a Python object (refused by weights_only loading)",
        lambda t: _ckpt(t, {"format": "glcic-weights-v1", "path": Path("/")}),
        1,
        ("{tmp}/weights.pt is not a GLCIC weights file: torch.load cannot read it",),
    ),
    Case(
        "ckpt-extra-tensor",
        "weights with a tensor no layer of the net has",
        _weights(lambda w: w["state_dict"].update({"conv99.conv.weight": torch.zeros(1)})),
        1,
        ("{tmp}/weights.pt: its weights do not fit", "conv99.conv.weight"),
    ),
    Case(
        "ckpt-state-dict-not-a-dict",
        "weights whose state_dict is a list",
        _weights(lambda w: w.update(state_dict=[1, 2])),
        1,
        ("{tmp}/weights.pt is a GLCIC weights file that cannot be used: state_dict is a list",),
    ),
    Case(
        "ckpt-width-text",
        "weights whose width is a string",
        _weights(lambda w: w.update(width="wide")),
        1,
        ("{tmp}/weights.pt is a GLCIC weights file that cannot be used: width='wide' is not a positive number",),
    ),
    Case(
        "ckpt-mean-pixel-short",
        "weights whose mean pixel has one channel",
        _weights(lambda w: w.update(mean_pixel=[0.5])),
        1,
        ("{tmp}/weights.pt is a GLCIC weights file that cannot be used: mean_pixel=[0.5] is not three",),
    ),
    Case(
        "ckpt-nan",
        "weights with a NaN in a tensor",
        _weights(lambda w: w["state_dict"]["conv1.conv.bias"].fill_(float("nan"))),
        1,
        ("{tmp}/weights.pt is a GLCIC weights file that cannot be used: NaN or infinite values in conv1.conv.bias",),
    ),
    Case(
        "unknown-metric",
        "a misspelt metric",
        lambda t: _cheap(t, "--metrics", "mse,psnx"),
        1,
        ("psnx",),
    ),
    # Masks
    Case(
        "unknown-mask-family",
        "--masks of a family that does not exist",
        lambda t: _cheap(t, "--masks", "rectangles"),
        2,
        ("rectangles",),
    ),
    Case(
        "mask-folder-missing",
        "--masks file:dir= naming no folder",
        lambda t: _cheap(t, "--masks", f"file:dir={t / 'nope'}"),
        2,
        ("file:dir={tmp}/nope: no such folder of mask images",),
    ),
    Case(
        "mask-file-missing",
        "a mask folder lacking one image's mask",
        lambda t: _run_masks(t, ids=("astronaut-000",)),
        1,
        ("no mask for image 'coffee-000' in {tmp}/masks",),
    ),
    Case(
        "mask-file-extra",
        "a mask folder with a file that matches no image",
        lambda t: _run_masks(t, ids=("astronaut-000", "coffee-000", "stranger")),
        0,
        ("{tmp}/masks: 1 mask file matches no image of the data source and is ignored: stranger.png",),
    ),
    Case(
        "mask-wrong-size",
        "masks of another size than the images",
        lambda t: _run_masks(t, shape=(100, 120)),
        1,
        ("{tmp}/masks/astronaut-000.png", "resize=1"),
    ),
    Case(
        "mask-empty",
        "a mask with no missing pixel",
        lambda t: _run_masks(t, fill=0),
        1,
        ("{tmp}/masks/astronaut-000.png",),
    ),
    Case(
        "mask-full",
        "a mask with every pixel missing",
        lambda t: _run_masks(t, fill=255),
        1,
        ("{tmp}/masks/astronaut-000.png",),
    ),
    Case(
        "mask-not-an-image",
        "a mask file that is not an image",
        _with(lambda t: _run_masks(t), lambda t: (t / "masks" / "coffee-000.png").write_text("no")),
        1,
        ("{tmp}/masks/coffee-000.png: not a readable mask image",),
    ),
    Case(
        "mask-empty-file",
        "a zero-byte mask file",
        _in_masks(lambda m: (m / "coffee-000.png").write_bytes(b"")),
        1,
        ("{tmp}/masks/coffee-000.png: an empty file, not a mask image",),
    ),
    Case(
        "mask-decompression-bomb",
        "a mask PNG claiming 240 megapixels",
        _in_masks(lambda m: (m / "coffee-000.png").write_bytes(_png_header(20000, 12000))),
        1,
        ("{tmp}/masks/coffee-000.png: 240,000,000 pixels, over the limit of 100,000,000",),
    ),
    Case(
        "mask-symlink-loop",
        "a mask that is a symbolic link pointing at itself",
        _in_masks(lambda m: ((m / "coffee-000.png").unlink(), os.symlink("coffee-000.png", m / "coffee-000.png"))),
        1,
        ("{tmp}/masks/coffee-000.png: a symbolic link loop",),
    ),
    Case(
        "mask-two-suffixes",
        "coffee-000.png and coffee-000.bmp in the mask folder",
        _in_masks(lambda m: Image.open(m / "coffee-000.png").save(m / "coffee-000.bmp")),
        1,
        ("several masks for image 'coffee-000' in {tmp}/masks: coffee-000.bmp, coffee-000.png",),
    ),
    Case(
        "mask-non-utf8-name",
        "an extra mask file whose name is not UTF-8",
        _in_masks(_non_utf8_mask),
        0,
        ("{tmp}/masks: 1 mask file matches no image of the data source and is ignored: \\xff.png",),
    ),
    Case(
        "mask-dir-is-a-file",
        "--masks file:dir= naming a file",
        lambda t: _cheap(t, "--masks", f"file:dir={_photo(t / 'm.png')}"),
        2,
        ("file:dir={tmp}/m.png: no such folder of mask images",),
    ),
    # Another tool's outputs
    Case(
        "predictions-missing-dir",
        "predictions:dir= naming no folder",
        lambda t: _cheap(t, "--methods", f"predictions:dir={t / 'nope'}"),
        1,
        ("predictions:dir={tmp}/nope: no such folder",),
    ),
    Case(
        "predictions-decompression-bomb",
        "a predicted PNG claiming 240 megapixels: that row is an error, the run goes on",
        lambda t: _predictions(t, lambda p: (p / "astronaut-000.png").write_bytes(_png_header(20000, 12000))),
        0,
        ("{tmp}/predicted/astronaut-000.png: 240,000,000 pixels, over the limit", "1 errors"),
    ),
    Case(
        "predictions-not-an-image",
        "a predicted PNG that is text",
        lambda t: _predictions(t, lambda p: (p / "coffee-000.png").write_text("no")),
        0,
        ("{tmp}/predicted/coffee-000.png: not a readable prediction PNG", "1 errors"),
    ),
    # Run directories
    Case(
        "out-is-a-file",
        "--out naming a file",
        lambda t: [*CHEAP, "--out", str(_photo(t / "taken.png"))],
        2,
        ("{tmp}/taken.png", "is a file"),
    ),
    Case(
        "non-utf8-out",
        "--out whose name is not UTF-8: the run works, its folder is printed with \\xNN escapes",
        _non_utf8_out,
        0,
        ("run directory: {tmp}/\\xffrun",),
    ),
    Case(
        "negative-n",
        "--n -1",
        lambda t: _cheap(t, "--n", "-1"),
        2,
        ("--n", "-1"),
    ),
    Case(
        "garbage-record-line",
        "a garbage line in records.jsonl",
        _with(_finished_run, _garbage_line),
        0,
        ("{tmp}/run/records.jsonl: unreadable line 1", "moved to {tmp}/run/records.jsonl.damaged-1"),
    ),
    Case(
        "corrupt-config-json",
        "resuming a run whose config.json is not JSON",
        _with(_finished_run, lambda t: (t / "run" / "config.json").write_text("{oops")),
        1,
        ("{tmp}/run/config.json: not valid JSON",),
    ),
    Case(
        "masks-json-not-text",
        "resuming a run whose masks.json holds bytes that are not text",
        _with(_finished_run, lambda t: (t / "run" / "masks.json").write_bytes(b"\xff\xfe\x00")),
        1,
        ("{tmp}/run/masks.json: not valid JSON",),
    ),
    Case(
        "corrupt-set-metrics-json",
        "resuming a run whose set_metrics.json is cut short: recomputed",
        _with(
            lambda t: _finished_run(t, "--metrics", "mse,kid"),
            lambda t: (t / "run" / "set_metrics.json").write_text('{"mean": {"kid'),
        ),
        0,
        ("{tmp}/run/set_metrics.json: not valid JSON", "computing the set metrics again"),
    ),
    Case(
        "no-method",
        "--methods with no method in it",
        lambda t: _cheap(t, "--methods", ","),
        2,
        ("--methods", "no method"),
    ),
    Case(
        "resume-other-masks",
        "resuming a run with other masks",
        lambda t: [*_finished_run(t), "--seed", "7"],
        1,
        ("{tmp}/run holds a run with different masks",),
    ),
    Case(
        "corrupt-baseline",
        "bench check against a baseline that is not JSON",
        lambda t: ["check", str(_finished_dir(t)), "--baseline", str(_write(t / "base.json", "{not json"))],
        2,
        ("{tmp}/base.json",),
    ),
    Case(
        "baseline-not-utf8",
        "bench check against a baseline of binary bytes",
        lambda t: ["check", str(_finished_dir(t)), "--baseline", str(_write_bytes(t / "base.json", b"\xff\xfe\x00"))],
        2,
        ("baseline {tmp}/base.json: not valid JSON (byte 0 is not UTF-8 text)",),
    ),
    Case(
        "baseline-wrong-schema",
        "bench check against a JSON list",
        lambda t: ["check", str(_finished_dir(t)), "--baseline", str(_write(t / "base.json", "[1, 2]"))],
        2,
        ("baseline {tmp}/base.json: expected schema",),
    ),
]


def _only_broken(tmp: Path) -> Path:
    folder = tmp / "broken"
    folder.mkdir()
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not a photo")
    return folder


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _link(path: Path, target: str) -> Path:
    os.symlink(target, path)
    return path


def _finished_dir(tmp: Path) -> Path:
    _finished_run(tmp)
    return tmp / "run"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_input_gets_a_message_naming_it(case, tmp_path, caplog):
    result = CliRunner().invoke(cli, case.make(tmp_path))
    said = result.output + caplog.text
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{case.id}: {type(result.exception).__name__}: {result.exception}\n{said}")
    assert "Traceback" not in said, said
    assert result.exit_code == case.exit_code, f"{case.id}: exit {result.exit_code}\n{said}"
    for text in case.says:
        assert text.format(tmp=tmp_path) in said, f"{case.id}: {text!r} not in\n{said}"


def test_the_table_has_every_case_once():
    assert len({c.id for c in CASES}) == len(CASES) >= 30


def test_skipped_reasons_are_written_as_json(tmp_path):
    result = CliRunner().invoke(cli, _run_folder(tmp_path, _bomb, _non_utf8))
    assert result.exit_code == 0, result.output
    skipped = json.loads((tmp_path / "run" / "skipped.json").read_text())
    assert {s["reason"].split(":")[0] for s in skipped} == {
        f"{tmp_path}/photos/bomb.png",
        f"{tmp_path}/photos/\\xff\\xfe.png",
    }
