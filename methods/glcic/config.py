"""GLCIC training configuration: one dataclass, read from and written to TOML.

Defaults are the paper's (Iizuka et al. 2017, section 3.3 and 4) and the study's
CelebA protocol (160 px images, one 48-96 px hole, 96 px local patch); small CPU runs
override ``width``, ``resolution``, ``batch_size`` and the step counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from bench.core.files import atomic_write_text

VARIANTS = ("full", "global", "local")
OPTIMIZERS = ("adadelta", "adam")

# Fields that fix the shapes or the data stream: a resumed or branched run must agree
# on them, while step counts and logging cadence may change between invocations.
STRUCTURAL = (
    "width",
    "resolution",
    "load_size",
    "hole_min",
    "hole_max",
    "local_size",
    "batch_size",
    "dataset",
    "split",
    "max_images",
    "seed",
    "optimizer",
    "lr",
    "rho",
)


@dataclass(frozen=True)
class GLCICConfig:
    """Everything that determines a GLCIC training run.

    Attributes
    ----------
    variant : {"full", "global", "local"}
        Discriminator branches trained in phases 2 and 3 (the study's ablation).
    width : float
        Channel multiplier of every network (1.0 = the paper).
    resolution : int
        Side of the square training crops (multiple of 4).
    load_size : int
        Side images are resized to (centre crop + resize) before the random crop.
    hole_min, hole_max : int
        Range of the hole's sides in pixels (one rectangle per training image).
    local_size : int
        Side of the hole-centred patch seen by the local discriminator.
    batch_size : int
        Images per step (per process under torchrun).
    steps_phase1, steps_phase2, steps_phase3 : int
        Tc (completion net, MSE), Td (discriminator only), T (joint).
    alpha : float
        Weight of the adversarial term in phase 3.
    optimizer : {"adadelta", "adam"}
        Optimiser of both networks; the paper uses Adadelta.
    lr, rho : float
        Learning rate (and Adadelta's rho; ignored by Adam).
    dataset, data_root, split, max_images
        Training images: a ``bench.inputs.data`` source (``max_images`` 0 = all ids).
    seed : int
        Seeds network initialisation and every batch (batches are a function of
        ``(seed, step, rank)``, which makes resumed runs bit-identical).
    ckpt_every : int
        Steps between checkpoints (the latest is kept, plus the end of phase 1).
    snapshot_every : int
        Steps between fp16 completion-net snapshots in ``snapshots/`` (0 = none), the
        points of the learning curve (``bench.experiments.curve``).
    mean_pixel_images : int
        Number of training images (evenly spaced over the ids) averaged for the mean pixel.
    """

    variant: str = "full"
    width: float = 1.0
    resolution: int = 160
    load_size: int = 160
    hole_min: int = 48
    hole_max: int = 96
    local_size: int = 96
    batch_size: int = 96
    steps_phase1: int = 90_000
    steps_phase2: int = 10_000
    steps_phase3: int = 400_000
    alpha: float = 4e-4
    optimizer: str = "adadelta"
    lr: float = 1.0
    rho: float = 0.9
    dataset: str = "builtin"
    data_root: str = ""
    split: str = "train"
    max_images: int = 0
    seed: int = 0
    ckpt_every: int = 200
    snapshot_every: int = 0
    mean_pixel_images: int = 2000

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant={self.variant!r} (known: {', '.join(VARIANTS)})")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer={self.optimizer!r} (known: {', '.join(OPTIMIZERS)})")
        if self.width <= 0:
            problems.append(f"width={self.width} must be > 0")
        if self.resolution <= 0 or self.resolution % 4:
            problems.append(f"resolution={self.resolution} must be a positive multiple of 4")
        if self.load_size < self.resolution:
            problems.append(f"load_size={self.load_size} must be >= resolution={self.resolution}")
        if not 1 <= self.hole_min <= self.hole_max <= self.resolution:
            problems.append(
                f"hole_min={self.hole_min}, hole_max={self.hole_max} must satisfy "
                f"1 <= hole_min <= hole_max <= resolution={self.resolution}"
            )
        if not self.hole_max <= self.local_size <= self.resolution:
            problems.append(
                f"local_size={self.local_size} must lie in [hole_max={self.hole_max}, resolution={self.resolution}]"
            )
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} must be >= 1")
        for name in ("steps_phase1", "steps_phase2", "steps_phase3", "max_images"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} must be >= 0")
        if self.snapshot_every < 0:
            problems.append(f"snapshot_every={self.snapshot_every} must be >= 0")
        if self.ckpt_every < 1:
            problems.append(f"ckpt_every={self.ckpt_every} must be >= 1")
        if problems:
            raise ValueError("invalid GLCIC config: " + "; ".join(problems))

    @property
    def total_steps(self) -> int:
        """Tc + Td + T."""
        return self.steps_phase1 + self.steps_phase2 + self.steps_phase3

    def phase(self, step: int) -> int:
        """Phase (1, 2 or 3) of the 0-based ``step``."""
        if step < self.steps_phase1:
            return 1
        if step < self.steps_phase1 + self.steps_phase2:
            return 2
        return 3

    def with_overrides(self, **overrides: Any) -> GLCICConfig:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> GLCICConfig:
        """Build a config from a mapping; unknown keys and wrong types are errors."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{source}: unknown GLCIC config keys {unknown} (known: {', '.join(known)})")
        values = {}
        for key, value in data.items():
            default = getattr(cls, key)
            if isinstance(default, bool) or not isinstance(default, (int, float)):
                ok = isinstance(value, type(default))
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                value = float(value) if ok else value
            else:
                ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok:
                raise ValueError(f"{source}: {key}={value!r} should be a {type(default).__name__}")
            values[key] = value
        return cls(**values)


def load_config(path: str | Path) -> GLCICConfig:
    """Read a config from a TOML file (keys at the top level or under ``[glcic]``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"GLCIC config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    if "glcic" in data and isinstance(data["glcic"], dict):
        data = data["glcic"]
    return GLCICConfig.from_dict(data, source=str(path))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def dumps_config(config: GLCICConfig) -> str:
    """TOML text of a config (flat table ``[glcic]``), readable by :func:`load_config`."""
    lines = ["[glcic]"] + [f"{k} = {_toml_value(v)}" for k, v in config.to_dict().items()]
    return "\n".join(lines) + "\n"


def save_config(config: GLCICConfig, path: str | Path) -> None:
    """Write a config as TOML."""
    atomic_write_text(path, dumps_config(config))


def structural_mismatch(a: GLCICConfig, b: GLCICConfig) -> list[str]:
    """Structural fields on which two configs differ, as ``"name: a != b"`` strings."""
    return [f"{k}: {getattr(a, k)!r} != {getattr(b, k)!r}" for k in STRUCTURAL if getattr(a, k) != getattr(b, k)]
