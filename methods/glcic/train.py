"""Three-phase GLCIC training (Iizuka et al. 2017, section 3.3).

Phase 1 (``Tc`` steps): the completion net alone, MSE on the hole. Phase 2 (``Td``):
the discriminator alone against the fixed completion net. Phase 3 (``T``): both,
the completion net minimising MSE + ``alpha`` x adversarial loss.

The run directory holds ``config.toml`` (the resolved config), ``latest.pt`` (full
training state, rewritten every ``ckpt_every`` steps), ``phase1.pt`` (the state when
phase 1 ends, to branch the discriminator variants from), ``losses.csv`` (one row per
step), ``losses.png`` and, when the run finishes, ``glcic-VARIANT.pt`` (fp16 completion
net + metadata, what inference loads). Re-running the same command after a kill
resumes from ``latest.pt``; batches depend only on ``(seed, step, rank)``, so the
resumed run reaches the same state as an uninterrupted one.
"""

from __future__ import annotations

import os
import platform
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.core import gitinfo
from bench.core.files import CSVLog, atomic_write
from bench.core.outdir import claim_dir
from bench.inputs.protocol import ids_hash
from methods.glcic.config import GLCICConfig, load_config, save_config, structural_mismatch
from methods.glcic.data import TrainImages, completion_input, crop_patches, sample_batch, to_tensors
from methods.glcic.networks import CompletionNet, ContextDiscriminator

TRAIN_FORMAT = "glcic-train-v1"
WEIGHTS_FORMAT = "glcic-weights-v1"
CSV_COLUMNS = ("step", "phase", "mse", "adv", "d_loss", "d_real", "d_fake", "seconds")


def hole_mse(output: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hole pixels only (all channels)."""
    err = ((output - target) ** 2 * masks).sum()
    return err / (masks.sum() * output.shape[1]).clamp_min(1.0)


def git_commit() -> str:
    """The project's git commit (``+dirty`` when the tree has changes).

    Else ``$GLCIC_GIT_COMMIT`` (for copies of the tree without ``.git``, such as a lent GPU
    machine's), else ``unknown``.
    """
    return gitinfo.git_commit() or os.environ.get("GLCIC_GIT_COMMIT", "unknown")


def hardware_description(device: torch.device) -> str:
    """A one-line description of what the run is computed on."""
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return (
        f"CPU {platform.machine()} ({platform.processor() or 'unknown'}), "
        f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if hasattr(module, "module") else module


def _make_optimizer(config: GLCICConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=config.lr, rho=config.rho)
    return torch.optim.Adam(params, lr=config.lr)


class Trainer:
    """One GLCIC training run in one output directory.

    Parameters
    ----------
    config : GLCICConfig
        The run's configuration. If ``out_dir`` already holds a run, its structural
        fields must agree (step counts may be raised to extend a run).
    out_dir : path
        Run directory (created).
    device : {"cpu", "cuda"}
        Where to train. Under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains on
        its own batches and gradients are averaged with DistributedDataParallel
        (gloo on CPU, nccl on CUDA).
    init_from : path, optional
        A training checkpoint (typically another run's ``phase1.pt``) whose completion
        net, its optimiser state and mean pixel start this run; its step must not be
        past phase 1. Ignored when ``out_dir`` already has ``latest.pt``.
    progress : bool
        Show a tqdm progress bar (rank 0 only).
    images : TrainImages, optional
        Already loaded training images of the same dataset, split, size and ids (lets a
        driver that runs several trainers in one process decode the images once).
    """

    def __init__(
        self,
        config: GLCICConfig,
        out_dir: str | Path,
        device: str = "cpu",
        init_from: str | Path | None = None,
        progress: bool = True,
        images: TrainImages | None = None,
    ):
        self.config = config
        self.images = images
        self.out_dir = Path(out_dir)
        self.init_from = Path(init_from) if init_from else None
        self.progress = progress
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was requested but torch sees no CUDA device")
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if device == "cuda" else "gloo")
            self.rank = dist.get_rank()
            if device == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        self.device = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device("cpu")
        if self.device.type == "cuda":
            # Fixed shapes every step: let cuDNN pick the fastest kernels once. TF32 for the
            # discriminators' linear layers as for the convolutions (cuDNN's default).
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True

    # -- state -------------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        # Completion net first: its initial weights are then identical for every variant,
        # which is what lets the variants branch from one phase-1 run.
        torch.manual_seed(cfg.seed)
        self.C = CompletionNet(cfg.width).to(self.device)
        self.D = ContextDiscriminator(cfg.variant, cfg.resolution, cfg.local_size, cfg.width).to(self.device)
        self.opt_c = _make_optimizer(cfg, self.C.parameters())
        self.opt_d = _make_optimizer(cfg, self.D.parameters())
        self.step = 0
        self.mean_pixel: np.ndarray | None = None
        self.history: dict[str, Any] = {
            "wall_s": {"1": 0.0, "2": 0.0, "3": 0.0},
            "init_from": None,
            "hardware": hardware_description(self.device),
            "world_size": self.world,
        }

    def state(self) -> dict[str, Any]:
        """The full training state as saved in ``latest.pt``."""
        return {
            "format": TRAIN_FORMAT,
            "config": self.config.to_dict(),
            "step": self.step,
            "mean_pixel": [float(v) for v in self.mean_pixel],
            "completion": _unwrap(self.C).state_dict(),
            "discriminator": _unwrap(self.D).state_dict(),
            "opt_c": self.opt_c.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "history": self.history,
        }

    def _load(self, path: Path, *, branch: bool) -> None:
        if branch and _is_weights_file(path):
            self._branch_from_weights(path)
            return
        ckpt = load_training_checkpoint(path)
        saved = GLCICConfig.from_dict(ckpt["config"], source=str(path))
        diff = structural_mismatch(saved, self.config)
        if diff:
            raise ValueError(f"{path} was trained with a different config: " + "; ".join(diff))
        _unwrap(self.C).load_state_dict(ckpt["completion"])
        self.opt_c.load_state_dict(ckpt["opt_c"])
        self.mean_pixel = np.asarray(ckpt["mean_pixel"], dtype=np.float32)
        self.step = int(ckpt["step"])
        self.history.update({k: v for k, v in ckpt["history"].items() if k != "hardware"})
        if branch:
            if self.step > self.config.steps_phase1:
                raise ValueError(
                    f"--init-from {path}: it is at step {self.step}, past phase 1 "
                    f"(Tc={self.config.steps_phase1}); branch from a phase-1 checkpoint"
                )
            if saved.steps_phase1 != self.config.steps_phase1 and self.step == saved.steps_phase1:
                raise ValueError(
                    f"--init-from {path}: it finished phase 1 at Tc={saved.steps_phase1} "
                    f"but this run has Tc={self.config.steps_phase1}"
                )
            self.history["init_from"] = str(path)
        else:
            if saved.variant != self.config.variant:
                raise ValueError(f"{path} is a {saved.variant!r} run, not {self.config.variant!r}")
            _unwrap(self.D).load_state_dict(ckpt["discriminator"])
            self.opt_d.load_state_dict(ckpt["opt_d"])

    def _branch_from_weights(self, path: Path) -> None:
        """Start from an exported phase-1 net (e.g. a committed one on a fresh machine).

        Only the completion net, its step and the mean pixel are in such a file; the
        optimiser starts afresh, which the run's history records.
        """
        weights = torch.load(path, map_location="cpu", weights_only=True)
        saved = GLCICConfig.from_dict(weights["config"], source=str(path))
        diff = structural_mismatch(saved, self.config)
        if diff:
            raise ValueError(f"{path} was trained with a different config: " + "; ".join(diff))
        step = int(weights["step"])
        if step != self.config.steps_phase1:
            raise ValueError(
                f"--init-from {path}: it is at step {step}, but this run's phase 1 "
                f"ends at Tc={self.config.steps_phase1}; branch from a net exported "
                "at the end of phase 1"
            )
        _unwrap(self.C).load_state_dict(
            {k: (v.float() if v.is_floating_point() else v) for k, v in weights["state_dict"].items()}
        )
        self.mean_pixel = np.asarray(weights["mean_pixel"], dtype=np.float32)
        self.step = step
        self.history.update({k: v for k, v in weights["history"].items() if k != "hardware"})
        self.history["init_from"] = f"{path} (fp16 weights; optimiser state reset)"

    # -- logging -----------------------------------------------------------------------

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "losses.csv"

    def _prepare_csv(self, source: Path | None) -> None:
        """Keep only rows before ``self.step`` (rows after the checkpoint are redone).

        A torn last row or a damaged line of this run's file is moved aside and named by line
        number (a branch's source, another run's, is only read); the kept rows replace the file atomically.
        """
        rows: list[dict[str, str]] = []
        for path in (self.csv_path, source):
            if path is not None and path.exists():
                log = CSVLog(path)
                if path == self.csv_path:
                    log.repair()
                rows = log.rows()
                break
        rows = [r for r in rows if (r.get("step") or "").isdigit() and int(r["step"]) < self.step]
        CSVLog(self.csv_path, list(CSV_COLUMNS)).rewrite(rows)

    def plot(self) -> Path:
        """Plot ``losses.csv`` to ``losses.png`` and return its path."""
        return plot_losses(self.csv_path, self.out_dir / "losses.png", self.config)

    # -- training ----------------------------------------------------------------------

    def _save(self, name: str) -> None:
        if self.rank == 0:
            _atomic_save(self.state(), self.out_dir / name)
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def _snapshot(self) -> Path:
        """Write the completion net as it is now (fp16 weights file) to ``snapshots/``."""
        path = self.out_dir / "snapshots" / f"step-{self.step:07d}.pt"
        path.parent.mkdir(exist_ok=True)
        _atomic_save(weights_payload(self.state(), None), path)
        return path

    def _wrap_ddp(self) -> None:
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.C = DDP(self.C, device_ids=ids)
            self.D = DDP(self.D, device_ids=ids)

    def train_step(
        self, batch_images: torch.Tensor, masks: torch.Tensor, boxes: np.ndarray, phase: int
    ) -> dict[str, float]:
        """One optimisation step of ``phase``; returns the losses of the step."""
        cfg = self.config
        mean = torch.as_tensor(self.mean_pixel, device=self.device)
        x = completion_input(batch_images, masks, mean)
        out: dict[str, float] = {
            "mse": float("nan"),
            "adv": float("nan"),
            "d_loss": float("nan"),
            "d_real": float("nan"),
            "d_fake": float("nan"),
        }
        if phase == 2:
            # The completion net is fixed in phase 2, batch-norm statistics included.
            self.C.eval()
            with torch.no_grad():
                pred = self.C(x)
            self.C.train()
        else:
            pred = self.C(x)
        if phase in (2, 3):
            fake = batch_images * (1 - masks) + pred.detach() * masks
            both = torch.cat([batch_images, fake])
            patches = crop_patches(both, np.concatenate([boxes, boxes]), cfg.local_size)
            # Real and fake in one forward: one DDP reduction per discriminator step.
            logits = self.D(both, patches)
            n = batch_images.shape[0]
            target = torch.cat([torch.ones(n, device=self.device), torch.zeros(n, device=self.device)])
            d_loss = F.binary_cross_entropy_with_logits(logits, target)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            out.update(
                d_loss=d_loss.item(),
                d_real=torch.sigmoid(logits[:n]).mean().item(),
                d_fake=torch.sigmoid(logits[n:]).mean().item(),
            )
        if phase in (1, 3):
            mse = hole_mse(pred, batch_images, masks)
            loss = mse
            if phase == 3:
                fake = batch_images * (1 - masks) + pred * masks
                logits = self.D(fake, crop_patches(fake, boxes, cfg.local_size))
                adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                loss = mse + cfg.alpha * adv
                out["adv"] = adv.item()
            self.opt_c.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_c.step()
            out["mse"] = mse.item()
        return out

    def run(self, stop_at: int | None = None) -> Path | None:
        """Train until ``Tc + Td + T`` steps (or until step ``stop_at``, exclusive).

        The first process claims ``out_dir`` for the run (:func:`bench.core.outdir.claim_dir`):
        a folder of other files or another command's directory is refused before anything is
        written, and a second training into it is refused while this one runs.

        Returns
        -------
        Path or None
            The exported fp16 weights when the run is complete, else None.
        """
        claim = claim_dir(self.out_dir, "train", legacy=is_training_dir) if self.rank == 0 else nullcontext()
        with claim:
            return self._run(stop_at)

    def _run(self, stop_at: int | None) -> Path | None:
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._build()
        latest = self.out_dir / "latest.pt"
        csv_source = None
        if latest.exists():
            self._load(latest, branch=False)
        elif self.init_from is not None:
            self._load(self.init_from, branch=True)
            csv_source = self.init_from.parent / "losses.csv"
        images = self.images if self.images is not None else TrainImages(cfg)
        self.history["data"] = images.source.describe() | {
            "n_ids": len(images),
            "first_id": images.ids[0],
            "last_id": images.ids[-1],
            "ids_sha256": ids_hash(images.ids),
        }
        self.history.setdefault("git_commit", git_commit())
        if self.mean_pixel is None:
            self.mean_pixel = images.mean_pixel(cfg.mean_pixel_images)
        if self.rank == 0:
            save_config(cfg, self.out_dir / "config.toml")
            self._prepare_csv(csv_source)
        self._wrap_ddp()
        self.C.train()
        self.D.train()
        end = cfg.total_steps if stop_at is None else min(stop_at, cfg.total_steps)
        bar = tqdm(
            total=cfg.total_steps,
            initial=self.step,
            desc=f"glcic-{cfg.variant}",
            disable=not self.progress or self.rank != 0,
            dynamic_ncols=True,
        )
        # The next batch is drawn on a second thread while this step computes (batches are a
        # pure function of the step, so this changes timing only, never the numbers).
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)
        pending = pool.submit(sample_batch, images, cfg, self.step, self.rank) if self.step < end else None
        # Not fsynced row by row: rows after the last checkpoint are redone on resume anyway.
        losses_log = CSVLog(self.csv_path, list(CSV_COLUMNS), fsync=False)
        with pool, losses_log if self.rank == 0 else nullcontext() as losses_out:
            while self.step < end:
                phase = cfg.phase(self.step)
                t0 = time.perf_counter()
                batch = pending.result()
                pending = (
                    pool.submit(sample_batch, images, cfg, self.step + 1, self.rank) if self.step + 1 < end else None
                )
                imgs, masks = to_tensors(batch, self.device)
                losses = self.train_step(imgs, masks, batch.boxes, phase)
                dt = time.perf_counter() - t0
                self.history["wall_s"][str(phase)] += dt
                if losses_out is not None:
                    losses_out.append_row(
                        {"step": self.step, "phase": phase, **{k: f"{losses[k]:.6g}" for k in CSV_COLUMNS[2:7]}}
                        | {"seconds": f"{dt:.4f}"}
                    )
                self.step += 1
                bar.update(1)
                bar.set_postfix(
                    phase=phase, **{k: f"{v:.4g}" for k, v in losses.items() if v == v and k in ("mse", "d_loss")}
                )
                if self.step == cfg.steps_phase1 and phase == 1:
                    self._save("phase1.pt")
                if (
                    cfg.snapshot_every
                    and self.rank == 0
                    and (self.step % cfg.snapshot_every == 0 or self.step in (cfg.steps_phase1, cfg.total_steps))
                ):
                    self._snapshot()
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.total_steps:
                    self._save("latest.pt")
                    if self.rank == 0 and self.step % (10 * cfg.ckpt_every) == 0:
                        self.plot()
        bar.close()
        if self.rank == 0:
            self.plot()
        if self.step < cfg.total_steps:
            return None
        if self.rank == 0:
            from methods.glcic.card import write_card

            weights = export_weights(self.out_dir / "latest.pt", self.out_dir / f"glcic-{cfg.variant}.pt")
            write_card(weights)
            return weights
        return None


def is_training_dir(path: Path) -> bool:
    """Whether an unmarked directory is a training run's written before directories were marked.

    Its ``config.toml``, or the ``requested.toml`` a budget run writes before starting a variant.
    """
    return (path / "config.toml").is_file() or (path / "requested.toml").is_file()


def _is_weights_file(path: Path) -> bool:
    if not path.is_file():
        return False
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return isinstance(obj, dict) and obj.get("format") == WEIGHTS_FORMAT


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a ``latest.pt``/``phase1.pt`` training checkpoint on CPU, checking its format."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"training checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{path} is not a GLCIC training checkpoint (format {TRAIN_FORMAT})")
    return ckpt


def losses_frame(csv_path: Path):
    """``losses.csv`` as a numeric DataFrame, without a torn last row or damaged lines (logged by number)."""
    import io

    import pandas as pd

    return pd.read_csv(io.StringIO("\n".join(CSVLog(csv_path).lines()) + "\n"))


def final_losses(csv_path: Path, window: int = 100) -> dict[str, float]:
    """Mean of each loss over the last ``window`` steps in which it was computed."""
    frame = losses_frame(csv_path)
    out = {}
    for col in ("mse", "adv", "d_loss", "d_real", "d_fake"):
        values = frame[col].dropna()
        if len(values):
            out[col] = float(values.iloc[-window:].mean())
    return out


def export_weights(train_ckpt: str | Path, out_path: str | Path) -> Path:
    """Write the fp16 completion-net weights + metadata that inference loads.

    Parameters
    ----------
    train_ckpt : path
        A training checkpoint (``latest.pt``).
    out_path : path
        Destination ``.pt``.
    """
    train_ckpt, out_path = Path(train_ckpt), Path(out_path)
    ckpt = load_training_checkpoint(train_ckpt)
    _atomic_save(weights_payload(ckpt, train_ckpt.parent / "losses.csv"), out_path)
    return out_path


def weights_payload(ckpt: dict[str, Any], losses_csv: Path | None) -> dict[str, Any]:
    """The exported weights (fp16 completion net + metadata) of a training state."""
    cfg = ckpt["config"]
    state = {
        k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
        for k, v in ckpt["completion"].items()
    }
    return {
        "format": WEIGHTS_FORMAT,
        "variant": cfg["variant"],
        "config": cfg,
        "mean_pixel": ckpt["mean_pixel"],
        "width": cfg["width"],
        "resolution": cfg["resolution"],
        "step": ckpt["step"],
        "history": ckpt["history"],
        "final_losses": final_losses(losses_csv) if losses_csv is not None and losses_csv.exists() else {},
        "state_dict": state,
    }


def plot_losses(csv_path: Path, png_path: Path, config: GLCICConfig) -> Path:
    """Per-step losses (thin) and a 50-step running mean (thick), phases shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = losses_frame(csv_path)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, col, title in zip(
        axes, ("mse", "d_loss", "adv"), ("hole MSE (completion net)", "discriminator BCE", "adversarial BCE (phase 3)")
    ):
        data = frame[["step", col]].dropna()
        if len(data):
            ax.plot(data["step"], data[col], lw=0.4, alpha=0.4, color="C0")
            ax.plot(data["step"], data[col].rolling(50, min_periods=1).mean(), lw=1.5, color="C0")
        for edge in (config.steps_phase1, config.steps_phase1 + config.steps_phase2):
            ax.axvline(edge, color="grey", ls="--", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("step")
    if frame["mse"].notna().any():
        axes[0].set_yscale("log")
    fig.suptitle(
        f"GLCIC {config.variant}: width {config.width}, {config.resolution} px, "
        f"Tc={config.steps_phase1}, Td={config.steps_phase2}, T={config.steps_phase3}"
    )
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def resolve_config(config_file: str | Path | None, **overrides: Any) -> GLCICConfig:
    """Config from a TOML file (or the defaults), then ``overrides`` (None = keep)."""
    base = load_config(config_file) if config_file else GLCICConfig()
    return base.with_overrides(**overrides)
