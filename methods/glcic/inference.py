"""GLCIC inference: load a checkpoint, complete batches of images, optional blending."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.device import configure_numerics, device_record, resolve_device
from bench.core.images import check_image, check_mask
from methods.glcic.data import completion_input
from methods.glcic.hooks import make_identity, parse_drop, zero_channels
from methods.glcic.networks import SIZE_MULTIPLE, CompletionNet
from methods.glcic.train import WEIGHTS_FORMAT
from methods.registry import Method

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
VARIANT_FILES = {"full": "iizuka.pt", "global": "iizuka-global.pt", "local": "iizuka-local.pt"}
# Committed checkpoint sets, by the data they were trained on: CelebA faces (the study's
# data, the default) and the builtin photos (no faces; kept for the builtin default run).
TRAINING_SETS = ("celeba", "builtin")
DEFAULT_WEIGHTS = {disc: WEIGHTS_DIR / "celeba" / name for disc, name in VARIANT_FILES.items()}


def committed_weights(disc: str = "full", data: str = "celeba") -> Path:
    """Path of the committed checkpoint of a discriminator variant trained on ``data``."""
    if disc not in VARIANT_FILES:
        raise ValueError(f"iizuka: disc={disc!r} is not one of {', '.join(VARIANT_FILES)}")
    if data not in TRAINING_SETS:
        raise ValueError(
            f"iizuka: data={data!r} is not one of {', '.join(TRAINING_SETS)} (or pass ckpt=PATH for your own weights)"
        )
    return WEIGHTS_DIR / data / VARIANT_FILES[disc]


POST = ("none", "blend")


def load_weights(path: str | Path, variant: str = "full") -> dict[str, Any]:
    """Load an exported GLCIC checkpoint (``glcic-VARIANT.pt``) on CPU (see :func:`read_weights`)."""
    return read_weights(path, variant)[0]


def read_weights(path: str | Path, variant: str = "full") -> tuple[dict[str, Any], str]:
    """Load an exported GLCIC checkpoint on CPU, with the SHA-256 of the bytes it was loaded from.

    The file is read once, so the digest describes exactly the weights the network gets.

    Raises
    ------
    FileNotFoundError
        With the command that trains one.
    ValueError
        If the path is a folder or not a GLCIC weights file (e.g. a training ``latest.pt``), or its
        width, tensors or mean pixel are unusable; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a GLCIC weights file (pass ckpt=FOLDER/glcic-{variant}.pt)")
    if not path.is_file():
        raise FileNotFoundError(
            f"GLCIC checkpoint not found: {path}. Train one with "
            f"`bench train --variant {variant} --out runs/glcic-{variant}` and pass "
            f"`iizuka:ckpt=runs/glcic-{variant}/glcic-{variant}.pt` (or copy it to {path})"
        )
    data = path.read_bytes()
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as err:  # garbage bytes fail anywhere inside the unpickler, with any error type
        raise ValueError(
            f"{path} is not a GLCIC weights file: torch.load cannot read it ({type(err).__name__}; not a "
            "PyTorch file, or one holding objects other than tensors and plain values)"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != WEIGHTS_FORMAT:
        hint = ""
        if isinstance(ckpt, dict) and str(ckpt.get("format", "")).startswith("glcic-train"):
            hint = (
                " (it is a training checkpoint: use the run's glcic-VARIANT.pt, or methods.glcic.train.export_weights)"
            )
        raise ValueError(f"{path} is not a GLCIC weights file{hint}")
    missing = [k for k in ("width", "state_dict", "mean_pixel") if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is a GLCIC weights file without {', '.join(missing)}: it cannot be used")
    problem = _contents_problem(ckpt)
    if problem:
        raise ValueError(f"{path} is a GLCIC weights file that cannot be used: {problem}")
    return ckpt, hashlib.sha256(data).hexdigest()


def _contents_problem(ckpt: dict[str, Any]) -> str:
    """What is wrong with the fields of a weights file, or ``""`` (they reach the network unchecked otherwise)."""
    width = ckpt["width"]
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (0 < width < float("inf")):
        return f"width={width!r} is not a positive number"
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        return f"state_dict is a {type(state).__name__}, not a mapping of layer names to tensors"
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        return f"NaN or infinite values in {', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}"
    mean = ckpt["mean_pixel"]
    numbers = isinstance(mean, (list, tuple)) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in mean
    )
    if not numbers or len(mean) != 3 or not np.isfinite(np.asarray(mean, dtype=np.float64)).all():
        return f"mean_pixel={mean!r} is not three finite numbers (the training set's mean colour)"
    return ""


def _weights_digest(ckpt: dict[str, Any]) -> str:
    """SHA-256 of weights held in memory: every tensor (name, dtype, shape, bytes) and the other fields."""
    h = hashlib.sha256()
    for name, tensor in sorted(ckpt["state_dict"].items()):
        data = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    rest = {k: v for k, v in ckpt.items() if k != "state_dict"}
    h.update(repr(sorted(rest.items(), key=lambda kv: str(kv[0]))).encode())
    return h.hexdigest()


def build_model(ckpt: dict[str, Any]) -> CompletionNet:
    """The completion net of a loaded checkpoint, float32, in eval mode."""
    model = CompletionNet(float(ckpt["width"]))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval()


def fold_batch_norm(model: CompletionNet) -> CompletionNet:
    """Fold each block's (eval-mode) batch norm into its convolution, in place, for inference.

    ``BN(conv(x)) = s * (W x + b - mean) + beta`` with ``s = gamma / sqrt(var + eps)`` is one
    convolution with weights ``s * W`` (scaled per output channel: dim 0 of a ``Conv2d`` weight,
    dim 1 of a ``ConvTranspose2d`` one) and bias ``s * (b - mean) + beta``, computed in float64.
    This saves a pass over every activation (and the ReLU runs in place); the outputs equal the
    unfolded network's to float32 rounding. The blocks' outputs, which the channel hooks address,
    are unchanged. Apply it after :func:`methods.glcic.hooks.make_identity`, which edits the norms.

    Returns
    -------
    CompletionNet
        ``model``, whose blocks now have ``norm = None`` (only for inference: it cannot be trained).
    """
    with torch.no_grad():
        for _, block in model.layers():
            norm = block.norm
            if norm is None:
                continue
            if norm.training or norm.running_mean is None:
                raise ValueError("fold_batch_norm needs an eval-mode batch norm with running statistics")
            scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
            conv = block.conv
            shape = (1, -1, 1, 1) if isinstance(conv, torch.nn.ConvTranspose2d) else (-1, 1, 1, 1)
            conv.weight.copy_((conv.weight.double() * scale.view(shape)).float())
            conv.bias.copy_(((conv.bias.double() - norm.running_mean.double()) * scale + norm.bias.double()).float())
            block.norm = None
            block.act = torch.nn.ReLU(inplace=True)
    return model


class GLCIC(Method):
    """A trained GLCIC completion net as a registry method.

    Parameters
    ----------
    ckpt : dict
        Loaded weights (see :func:`load_weights`).
    post : {"none", "blend"}
        ``blend``: Telea fill + Poisson blending of the output (the authors' post-processing).
    drops : dict
        Channels to zero, layer -> indices (see :func:`methods.glcic.hooks.parse_drop`).
    identity : list of str
        Layers replaced by the identity.
    batch_size : int
        Images per forward pass.
    weights_sha256 : str
        SHA-256 of the weights file ``ckpt`` was loaded from (part of :meth:`fingerprint`); when
        not given, a digest of the weights in ``ckpt`` themselves.
    device : str
        Where the network runs: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (see
        :func:`bench.core.device.resolve_device`; on CUDA, TF32 is switched off for the process).

    Attributes
    ----------
    model : CompletionNet
        The network (hooks for ablations live on it).
    mean_pixel : np.ndarray
        The training set's mean colour that fills the hole.
    device : str
        The resolved device, ``"cpu"`` or ``"cuda:N"``.
    """

    parallel_safe = False  # torch already uses every core

    def __init__(
        self,
        ckpt: dict[str, Any],
        post: str = "none",
        drops: dict[str, list[int]] | None = None,
        identity: tuple[str, ...] = (),
        batch_size: int = 16,
        weights_sha256: str = "",
        device: str = "cpu",
    ):
        if post not in POST:
            raise ValueError(f"iizuka: post={post!r} is not one of {', '.join(POST)}")
        if batch_size < 1:
            raise ValueError(f"iizuka: batch={batch_size} must be >= 1")
        # Resolved before the network is built, so a device this machine lacks fails first.
        self.device = resolve_device(device, what=f"iizuka: device={device}")
        self.ckpt_info = {k: v for k, v in ckpt.items() if k != "state_dict"}
        self.weights_sha256 = weights_sha256 or _weights_digest(ckpt)
        self.model = build_model(ckpt)
        self.mean_pixel = np.asarray(ckpt["mean_pixel"], dtype=np.float32)
        self.post = post
        self.batch_size = batch_size
        for layer in identity:
            make_identity(self.model, layer)
        # Batch norm folded into the convolutions: one pass less over every activation.
        fold_batch_norm(self.model)
        # Channels-last weights and activations: oneDNN's fastest CPU layout here (outputs equal
        # to 4e-7); converted after make_identity, which writes new weights.
        self.model = self.model.to(memory_format=torch.channels_last)
        self.use_device(self.device)
        self.hooks = zero_channels(self.model, drops or {})

    def use_device(self, device: str) -> None:
        """Run the network on ``device`` from now on: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

        For a runner that gives a run-wide device to a method whose spec names none: the spec
        stays as it is, and :meth:`fingerprint` records a CUDA device. On CUDA, TF32 is switched
        off and cuDNN made deterministic for the process (:func:`bench.core.device.configure_numerics`).

        Raises
        ------
        ValueError
            A device this machine does not have, or an unknown name (one line).
        """
        self.device = resolve_device(device, what=f"iizuka: device={device}")
        configure_numerics(self.device)
        self.model.to(self.device)  # in place: the channel hooks stay on the same modules

    def fingerprint(self) -> dict[str, str]:
        """The default parts, the digest of the weights file (a replaced file at the same path differs), the GPU.

        A CUDA device is recorded with its GPU and the CUDA and cuDNN versions: its convolutions
        round differently from the CPU's (and from another GPU's or cuDNN's), so rows made there
        are not the CPU's bits and are not reused by a run elsewhere. The CPU adds nothing, so the
        fingerprint of a CPU configuration is the one it had before devices existed and a finished
        CPU run resumes without recomputing; ``device=auto`` on a machine without CUDA is the CPU.
        """
        parts = {**super().fingerprint(), "weights": self.weights_sha256}
        if self.device != "cpu":
            record = device_record(self.device)
            parts["device"] = f"{record['gpu']}, CUDA {record['torch_cuda']}, cuDNN {record['cudnn']}"
        return parts

    def complete(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Raw network output for same-sized images (N x H x W x 3, N x H x W)."""
        n, h, w = masks.shape
        # Replicate-pad to the net's size multiple; the mask channel extends with the image.
        ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        m = torch.from_numpy(masks[:, None].astype(np.float32))
        mean = torch.from_numpy(self.mean_pixel)
        if self.device != "cpu":
            x, m, mean = x.to(self.device), m.to(self.device), mean.to(self.device)
        inp = completion_input(x, m, mean)
        if ph or pw:
            inp = torch.nn.functional.pad(inp, (0, pw, 0, ph), mode="replicate")
        with torch.inference_mode():
            out = self.model(inp.contiguous(memory_format=torch.channels_last))[:, :, :h, :w]
        return np.ascontiguousarray(out.permute(0, 2, 3, 1).cpu().numpy(), dtype=np.float32).clip(0.0, 1.0)

    def inpaint_batch(self, images: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        """Inpaint images in batches of ``batch_size`` (grouped by image size)."""
        if len(images) != len(masks):
            raise ValueError(f"iizuka: {len(images)} images but {len(masks)} masks")
        for i, (im, m) in enumerate(zip(images, masks)):
            check_image(im, f"images[{i}]")
            check_mask(m, im.shape[:2], f"masks[{i}]")
        results: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(im.shape[:2], []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                outs = self.complete(np.stack([images[i] for i in chunk]), np.stack([masks[i] for i in chunk]))
                for i, out in zip(chunk, outs):
                    if self.post == "blend":
                        from methods.glcic.postprocess import blend

                        out = blend(out, images[i], masks[i])
                    results[i] = out
        return results  # type: ignore[return-value]

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.inpaint_batch([image], [mask])[0]


def create_glcic(
    disc: str = "full",
    ckpt: str = "",
    post: str = "none",
    drop: str = "",
    identity: str = "",
    batch: int = 16,
    data: str = "celeba",
    device: str = "cpu",
) -> GLCIC:
    """Build the GLCIC method for a discriminator variant (see ``methods.glcic``)."""
    default = committed_weights(disc, data)
    path = Path(ckpt) if ckpt else default
    weights, digest = read_weights(path, disc)
    layers = tuple(filter(None, (p.strip() for p in identity.split("+"))))
    try:
        return GLCIC(
            weights,
            post=post,
            drops=parse_drop(drop),
            identity=layers,
            batch_size=batch,
            weights_sha256=digest,
            device=device,
        )
    except (RuntimeError, TypeError) as err:  # load_state_dict: weights of another width or architecture
        detail = "; ".join(line.strip() for line in str(err).strip().splitlines()[1:3]) or str(err)
        raise ValueError(
            f"{path}: its weights do not fit the width-{weights['width']} completion net they claim ({detail[:300]})"
        ) from None
