"""Where torch computes: a device name checked against this machine, its numerics pinned, and recorded.

Importing this module imports nothing heavy; torch is imported by the functions that need it.

Public API
----------
resolve_device(name, what=None) -> str
    ``"cpu"`` or ``"cuda:N"`` for ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; refuses what this machine lacks.
configure_numerics(device) -> None
    On CUDA: TF32 off for matmul and cuDNN, deterministic cuDNN algorithms, no autotuning.
device_record(device) -> dict
    The device, its GPU, the torch, CUDA and cuDNN versions and the numerics flags, for ``config.json``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DEVICE_CHOICES", "configure_numerics", "device_record", "is_cuda", "resolve_device"]

DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "auto")

_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def is_cuda(device: str) -> bool:
    """Whether a device string names a CUDA device (``cuda`` or ``cuda:N``), without importing torch."""
    return device == "cuda" or bool(_CUDA_INDEX.fullmatch(device))


def resolve_device(name: str, what: str | None = None) -> str:
    """The device a name asks for, as torch spells it, checked against this machine.

    Parameters
    ----------
    name : str
        ``"cpu"``, ``"cuda"`` (the current CUDA device), ``"cuda:N"`` or ``"auto"`` (CUDA when
        ``torch.cuda.is_available()``, else the CPU). Case and surrounding spaces are ignored.
    what : str, optional
        How the caller's user spelled the choice, for messages; default ``"--device NAME"``
        (a method option passes e.g. ``"iizuka: device=cuda"``).

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda:N"`` (an index always, so equal devices get equal names).

    Raises
    ------
    ValueError
        One line naming the value: an unknown name (with the accepted ones), CUDA asked for
        where torch has no CUDA device, or a CUDA index this machine does not have.
    """
    if not isinstance(name, str):
        raise ValueError(f"device {name!r} is not a string; use one of {', '.join(DEVICE_CHOICES)}")
    value = name.strip().lower()
    label = what or f"--device {name}"
    if value == "cpu":
        return "cpu"
    if value not in ("auto", "cuda") and not _CUDA_INDEX.fullmatch(value):
        raise ValueError(f"{label}: unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}")
    import torch

    available = torch.cuda.is_available()
    if value == "auto":
        return f"cuda:{torch.cuda.current_device()}" if available else "cpu"
    if not available:
        build = "" if torch.version.cuda else "; this torch is a CPU-only build"
        raise ValueError(
            f"{label}: torch {torch.__version__} has no CUDA device here "
            f"(torch.cuda.is_available() is False{build}); use --device cpu or auto"
        )
    if value == "cuda":
        return f"cuda:{torch.cuda.current_device()}"
    index, count = int(value.split(":")[1]), torch.cuda.device_count()
    if index >= count:
        raise ValueError(
            f"{label}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
            f"(cuda:0 to cuda:{count - 1}); use one of those, cpu or auto"
        )
    return f"cuda:{index}"


def configure_numerics(device: str) -> None:
    """Pin the numerics of computations on ``device`` so its results are reproducible and near the CPU's.

    On the CPU nothing is changed (and torch is not imported). On CUDA, process-wide:

    - TF32 off for matmul and for cuDNN convolutions. TF32 keeps 10 bits of mantissa, so
      Ampere and later GPUs would otherwise round convolutions to about 1e-3 relative,
      a hundred times the float32 differences between two CPUs, and features would no
      longer match the CPU-made reference statistics shipped with the package.
    - ``cudnn.benchmark = False`` and ``cudnn.deterministic = True``. Autotuning times the
      candidate convolution algorithms on each new input shape and keeps the fastest, so the
      algorithm (and the rounding) can change from one run to the next; the deterministic
      choice gives the same features for the same images in every run, which is what a
      resumed run's cached rows and stored features rely on, at a small cost in speed.

    Parameters
    ----------
    device : str
        A device string from :func:`resolve_device`.
    """
    if not is_cuda(device):
        return
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def device_record(device: str) -> dict[str, Any]:
    """What a run's numbers were computed on, JSON-able, for ``config.json``.

    Parameters
    ----------
    device : str
        A device string from :func:`resolve_device`.

    Returns
    -------
    dict
        ``device``, ``torch``, ``torch_cuda`` (``torch.version.cuda``, None for a CPU build) and
        ``cudnn`` (``torch.backends.cudnn.version()``, None where there is none); for a CUDA
        device also ``gpu`` (``torch.cuda.get_device_name``), ``tf32_matmul``, ``tf32_cudnn``,
        ``cudnn_deterministic`` and ``cudnn_benchmark`` as set now (see :func:`configure_numerics`).
    """
    import torch

    record: dict[str, Any] = {
        "device": device,
        "torch": str(torch.__version__),
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if is_cuda(device):
        record.update(
            gpu=torch.cuda.get_device_name(torch.device(device)),
            tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
            tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
            cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        )
    return record
