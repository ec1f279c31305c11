"""LPIPS and hole LPIPS against the ``lpips`` package itself, given the same backbone weights.

No ImageNet backbone exists here, so random weights saved in torchvision's file layout stand in
for them. The reference gets them through a minimal stand-in ``torchvision.models`` (torchvision
does not import beside the CPU build of torch): ``alexnet``, ``vgg16`` and ``squeezenet1_1`` with
torchvision's layer layout, whose ``pretrained``/``weights`` arguments load the same file. The
``lpips`` package's own code does all the rest (scaling, normalisation, its v0.1 heads, the
spatial map).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage import data, transform
from torch import nn

from bench.cli import cli
from bench.metrics import get_metric, metric_names
from bench.metrics.lpips import BACKBONE_FILES, ENV, HEADS, lpips_maps
from bench.metrics.registry import MetricUnavailable

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lpips") is None, reason="the lpips package (the reference) is not installed"
)

NETS = ("alex", "vgg", "squeeze")


# ---------------------------------------------------------------- torchvision's layouts, written out


def _alexnet() -> nn.Module:
    model = nn.Module()
    model.features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    model.avgpool = nn.AdaptiveAvgPool2d((6, 6))
    model.classifier = nn.Sequential(
        nn.Dropout(), nn.Linear(256 * 36, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True),
        nn.Linear(4096, 1000),
    )  # fmt: skip
    return model


def _vgg16() -> nn.Module:
    layers: list[nn.Module] = []
    c = 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(True)]
            c = v
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.classifier = nn.Sequential(nn.Linear(512 * 49, 64))  # smaller than torchvision's; ignored by LPIPS
    return model


class _Fire(nn.Module):
    def __init__(self, inplanes, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.squeeze_activation = nn.ReLU(True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


def _squeezenet1_1() -> nn.Module:
    model = nn.Module()
    model.features = nn.Sequential(
        nn.Conv2d(3, 64, 3, 2), nn.ReLU(True), nn.MaxPool2d(3, 2, ceil_mode=True),
        _Fire(64, 16, 64, 64), _Fire(128, 16, 64, 64), nn.MaxPool2d(3, 2, ceil_mode=True),
        _Fire(128, 32, 128, 128), _Fire(256, 32, 128, 128), nn.MaxPool2d(3, 2, ceil_mode=True),
        _Fire(256, 48, 192, 192), _Fire(384, 48, 192, 192), _Fire(384, 64, 256, 256), _Fire(512, 64, 256, 256),
    )  # fmt: skip
    model.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(True))
    return model


BUILDERS = {"alex": ("alexnet", _alexnet), "vgg": ("vgg16", _vgg16), "squeeze": ("squeezenet1_1", _squeezenet1_1)}


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> Path:
    """A torch hub checkpoint folder holding random weights under torchvision's three file names."""
    folder = tmp_path_factory.mktemp("hub") / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    for k, net in enumerate(NETS):
        torch.manual_seed(100 + k)
        model = BUILDERS[net][1]()
        with torch.no_grad():  # ImageNet-like scales: activations neither vanish nor explode over 13 layers
            for p in model.parameters():
                if p.ndim == 4:
                    p.normal_(0.0, float(np.sqrt(2.0 / (p.shape[1] * p.shape[2] * p.shape[3]))))
                elif p.ndim == 1:
                    p.uniform_(-0.05, 0.05)
        torch.save(model.state_dict(), folder / BACKBONE_FILES[net])
    return folder


@pytest.fixture
def reference(monkeypatch, backbones):
    """``lpips.LPIPS`` importing a stand-in ``torchvision.models`` that loads the random backbones."""
    models = types.ModuleType("torchvision.models")
    for net, (name, build) in BUILDERS.items():

        def make(pretrained=False, weights=None, _build=build, _net=net, **_):
            model = _build()
            if pretrained or weights is not None:
                model.load_state_dict(torch.load(backbones / BACKBONE_FILES[_net], weights_only=True))
            return model

        setattr(models, name, make)
    vision = types.ModuleType("torchvision")
    vision.models = models
    monkeypatch.setitem(sys.modules, "torchvision", vision)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
        monkeypatch.delitem(sys.modules, name)
    import lpips

    yield lpips
    for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
        monkeypatch.delitem(sys.modules, name, raising=False)


def _pairs() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(output, target, mask): real photographs, distorted in different ways, at several sizes."""
    rng = np.random.default_rng(7)
    out = []
    for photo, shape in ((data.astronaut(), (64, 64)), (data.chelsea(), (96, 80)), (data.coffee(), (160, 160))):
        target = transform.resize(photo, shape, anti_aliasing=True).astype(np.float32)
        noisy = np.clip(target + rng.normal(0, 0.08, target.shape), 0, 1).astype(np.float32)
        mask = np.zeros(shape, bool)
        mask[shape[0] // 4 : shape[0] // 2, shape[1] // 3 : shape[1] - 5] = True
        blurred = target.copy()
        blurred[mask] = target[mask].mean(axis=0)
        out += [(noisy, target, mask), (blurred, target, mask)]
    return out


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None]


@pytest.mark.parametrize("net", NETS)
def test_lpips_and_hole_lpips_equal_the_lpips_package(net, reference, backbones):
    flat = reference.LPIPS(net=net, verbose=False)
    spatial = reference.LPIPS(net=net, spatial=True, verbose=False)
    metric = get_metric(f"lpips:net={net},backbone={backbones / BACKBONE_FILES[net]}")
    for pred, target, mask in _pairs():
        with torch.no_grad():
            want = flat(_tensor(pred), _tensor(target), normalize=True).item()
            want_map = spatial(_tensor(pred), _tensor(target), normalize=True)[0, 0].numpy()
        value, got_map = lpips_maps(pred, target, net, str(backbones / BACKBONE_FILES[net]))
        assert want > 1e-3  # the random backbone sees the distortion
        assert value == pytest.approx(want, abs=1e-6)
        np.testing.assert_allclose(got_map, want_map, atol=1e-6)
        assert metric.fn(pred, target, mask, "image") == pytest.approx(want, abs=1e-6)
        assert metric.fn(pred, target, mask, "hole") == pytest.approx(want_map[mask].mean(), abs=1e-6)


def test_the_heads_are_the_packages_v0_1_files():
    package = Path(importlib.util.find_spec("lpips").origin).parent / "weights" / "v0.1"
    for net in NETS:
        ours = hashlib.sha256((HEADS / f"{net}.pth").read_bytes()).hexdigest()
        assert ours == hashlib.sha256((package / f"{net}.pth").read_bytes()).hexdigest()
    assert "Redistribution and use in source and binary forms" in (HEADS / "LICENSE").read_text()


def test_backbone_found_in_the_torch_hub_cache_by_torchvision_file_name(monkeypatch, backbones):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(backbones.parent.parent))
    pred, target, mask = _pairs()[0]
    value, _ = lpips_maps(pred, target, "squeeze", str(backbones / BACKBONE_FILES["squeeze"]))
    assert get_metric("lpips:net=squeeze").fn(pred, target, mask, "image") == pytest.approx(value, abs=1e-7)
    monkeypatch.setenv(ENV, str(backbones))  # a folder holding torchvision's names
    monkeypatch.setenv("TORCH_HOME", "/nonexistent")
    assert get_metric("lpips:net=squeeze").name == "lpips:net=squeeze"


def test_no_backbone_refuses_lpips_and_all_leaves_it_out_with_one_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    wanted = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    with pytest.raises(MetricUnavailable, match=str(wanted)):
        get_metric("lpips")
    with caplog.at_level(logging.WARNING, logger="bench"):
        names = metric_names("all")
    assert "lpips" not in names and "msssim" in names
    lines = [r.getMessage() for r in caplog.records if "lpips" in r.getMessage()]
    assert len(lines) == 1 and str(wanted) in lines[0]

    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["run", "--methods", "mean", "--n", "2", "--metrics", "psnr,lpips", "--out", str(out)]
    )
    assert result.exit_code != 0
    message = result.output.strip().splitlines()
    assert len(message) == 1 and str(wanted) in message[0] and "lpips:backbone=FILE" in message[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # refused before any work


def test_a_backbone_file_that_is_not_one_is_named(monkeypatch, tmp_path):
    bad = tmp_path / "alexnet-owt-7be5be79.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MetricUnavailable, match=f"{bad}: cannot be read"):
        get_metric(f"lpips:backbone={bad}")
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(MetricUnavailable, match="not torchvision's alex layout"):
        get_metric(f"lpips:backbone={bad}")
    with pytest.raises(MetricUnavailable, match="no such file"):
        get_metric(f"lpips:backbone={tmp_path / 'missing.pth'}")


def test_a_replaced_backbone_is_recorded_and_its_rows_scored_again(monkeypatch, backbones, tmp_path):
    """Same path, other weights: the definition names the new file's sha256 and no LPIPS value is reused.

    The method's outputs are unchanged, so the rows are scored again from them, not recomputed.
    """
    import json

    own = tmp_path / "hub"
    own.mkdir()
    backbone = own / BACKBONE_FILES["alex"]
    backbone.write_bytes((backbones / BACKBONE_FILES["alex"]).read_bytes())
    monkeypatch.setenv(ENV, str(backbone))
    out = tmp_path / "run"
    args = ["run", "--methods", "mean", "--n", "2", "--size", "64", "--metrics", "mse,psnr,lpips", "--no-progress"]
    first = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert first.exit_code == 0, first.output
    definition = json.loads((out / "config.json").read_text())["metric_definitions"]["lpips"]
    assert hashlib.sha256(backbone.read_bytes()).hexdigest() in definition
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    before = {r["image_id"]: r["lpips"] for r in rows}

    alex = BUILDERS["alex"][1]()
    state = torch.load(backbone)
    torch.manual_seed(7)
    with torch.no_grad():
        for key, value in state.items():
            state[key] = value + 0.5 * torch.randn_like(value) * value.std()
    alex.load_state_dict(state)
    torch.save(alex.state_dict(), backbone)
    again = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "0 computed now, 2 resumed, 2 of them scored again from their saved outputs" in again.output
    definition = json.loads((out / "config.json").read_text())["metric_definitions"]["lpips"]
    assert hashlib.sha256(backbone.read_bytes()).hexdigest() in definition
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    after = {r["image_id"]: r["lpips"] for r in rows[-2:]}
    assert after.keys() == before.keys() and all(after[i] != before[i] for i in after)
    # Every table of LPIPS says which files it came from.
    report = CliRunner().invoke(cli, ["report", str(out)])
    assert report.exit_code == 0, report.output
    tex = (out / "report" / "table_image.tex").read_text()
    assert f"alexnet-owt-7be5be79.pth sha256 {hashlib.sha256(backbone.read_bytes()).hexdigest()}" in tex
