"""GLCIC as a registry method: input encoding, batching, hooks, post-processing, weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.images import blank_hole
from methods.glcic.config import load_config
from methods.glcic.hooks import count_forwards, make_identity, observe, parse_drop, zero_channels
from methods.glcic.inference import (
    DEFAULT_WEIGHTS,
    TRAINING_SETS,
    build_model,
    committed_weights,
    fold_batch_norm,
    load_weights,
)
from methods.glcic.postprocess import blend
from methods.glcic.train import Trainer
from methods.registry import create, info

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """Weights of a tiny net after 4 training steps (non-trivial BN statistics)."""
    out = tmp_path_factory.mktemp("glcic")
    cfg = load_config(TINY).with_overrides(steps_phase1=4, steps_phase2=0, steps_phase3=0)
    return Trainer(cfg, out, progress=False).run()


@pytest.fixture(scope="module")
def pairs() -> tuple[list[np.ndarray], list[np.ndarray]]:
    from bench.inputs.data import get_source
    from bench.inputs.masks import make_mask

    samples, _ = get_source("builtin", size=64).take(5)
    masks = [make_mask(0, s.id, (64, 64))[0] for s in samples]
    return [blank_hole(s.image, m) for s, m in zip(samples, masks)], masks


def _reference_output(model, image, mask, mean):
    """Network output computed from a numpy-built input (independent of inference.py)."""
    filled = np.where(mask[..., None], mean[None, None, :], image)
    x = np.concatenate([filled, mask[..., None].astype(np.float32)], axis=2).transpose(2, 0, 1)[None]
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))[0].permute(1, 2, 0).numpy()


def test_output_matches_numpy_encoded_input(ckpt, pairs):
    method = create(f"iizuka:ckpt={ckpt}")
    images, masks = pairs
    ref_model = build_model(load_weights(ckpt))
    mean = np.asarray(load_weights(ckpt)["mean_pixel"], dtype=np.float32)
    for image, mask in zip(images, masks):
        out = method.inpaint(image, mask)
        assert out.dtype == np.float32 and out.shape == image.shape
        assert out.min() >= 0 and out.max() <= 1
        np.testing.assert_allclose(out, _reference_output(ref_model, image, mask, mean), atol=1e-5)


def test_hole_pixels_are_never_read(ckpt, pairs):
    method = create(f"iizuka:ckpt={ckpt}")
    image, mask = pairs[0][0], pairs[1][0]
    noisy = image.copy()
    noisy[mask] = np.random.default_rng(1).random((int(mask.sum()), 3), dtype=np.float32)
    assert np.array_equal(method.inpaint(image, mask), method.inpaint(noisy, mask))


def test_batches_equal_single_calls_and_count_forwards(ckpt, pairs):
    method = create(f"iizuka:ckpt={ckpt},batch=2")
    images, masks = pairs
    # A differently sized (non multiple of 4) image joins the list: it gets its own group.
    from bench.inputs.data import get_source

    odd = get_source("builtin", size=70).load("coffee-001")
    odd_mask = np.zeros((70, 70), bool)
    odd_mask[30:50, 5:40] = True
    all_images, all_masks = images + [blank_hole(odd, odd_mask)], masks + [odd_mask]
    with count_forwards(method.model) as counter:
        outs = method.inpaint_batch(all_images, all_masks)
    assert counter.calls == 4 and counter.images == 6  # 5 images in batches of 2, plus the odd one
    assert (1, 4, 72, 72) in counter.shapes  # padded to a multiple of 4
    assert outs[-1].shape == (70, 70, 3)
    for out, image, mask in zip(outs, all_images, all_masks):
        np.testing.assert_allclose(out, method.inpaint(image, mask), atol=1e-5)
    with pytest.raises(ValueError, match="masks"):
        method.inpaint_batch(images, masks[:2])
    with pytest.raises(ValueError, match=r"images\[0\]"):
        method.inpaint_batch([images[0].astype(np.float64)], masks[:1])


def test_folded_batch_norm_computes_the_unfolded_network(ckpt, pairs):
    images, masks = pairs
    weights = load_weights(ckpt)
    ref, folded = build_model(weights), fold_batch_norm(build_model(weights))
    mean = np.asarray(weights["mean_pixel"], dtype=np.float32)
    assert all(block.norm is None for _, block in folded.layers())
    assert any(block.kind == "deconv" for _, block in folded.layers())  # both weight layouts are folded
    for image, mask in zip(images, masks):
        want = _reference_output(ref, image, mask, mean)
        np.testing.assert_allclose(_reference_output(folded, image, mask, mean), want, atol=2e-6)
    # By hand for one layer: BN(conv(x)) from its definition, against the folded convolution.
    x = torch.rand(1, 4, 8, 8)
    block, norm = ref.conv1, ref.conv1.norm
    with torch.no_grad():
        by_hand = (block.conv(x) - norm.running_mean[:, None, None]) / torch.sqrt(
            norm.running_var[:, None, None] + norm.eps
        ) * norm.weight[:, None, None] + norm.bias[:, None, None]
        torch.testing.assert_close(folded.conv1.conv(x), by_hand, atol=1e-6, rtol=1e-5)
    training = build_model(weights).train()
    with pytest.raises(ValueError, match="eval-mode"):
        fold_batch_norm(training)


def test_drop_equals_zeroed_batchnorm(ckpt, pairs):
    """Zeroing channel c after BN + ReLU equals a net whose BN outputs 0 on channel c."""
    images, masks = pairs
    dropped = create(f"iizuka:ckpt={ckpt},drop=conv1.3+conv14.0+conv14.5")
    ref = build_model(load_weights(ckpt))
    with torch.no_grad():
        for layer, chans in (("conv1", [3]), ("conv14", [0, 5])):
            norm = getattr(ref, layer).norm
            norm.weight[chans] = 0.0
            norm.bias[chans] = 0.0
    mean = dropped.mean_pixel
    out = dropped.inpaint(images[1], masks[1])
    np.testing.assert_allclose(out, _reference_output(ref, images[1], masks[1], mean), atol=1e-5)
    plain = create(f"iizuka:ckpt={ckpt}").inpaint(images[1], masks[1])
    assert np.abs(out - plain).max() > 1e-4
    seen = []
    with observe(dropped.model, "conv14", seen.append):
        dropped.inpaint(images[1], masks[1])
    assert float(seen[0][:, [0, 5]].abs().max()) == 0.0 and float(seen[0].abs().max()) > 0.0
    for handle in dropped.hooks:
        handle.remove()
    np.testing.assert_allclose(dropped.inpaint(images[1], masks[1]), plain, atol=1e-6)


def test_drop_parsing_and_errors(ckpt):
    assert parse_drop("conv1.0+conv2.10+conv1.0+conv1.2") == {"conv1": [0, 2], "conv2": [10]}
    assert parse_drop("") == {}
    for bad, msg in [("conv18.1", "unknown layer"), ("conv1", "LAYER.CHANNEL"), ("conv1.x", "LAYER.CHANNEL")]:
        with pytest.raises(ValueError, match=msg):
            parse_drop(bad)
    with pytest.raises(ValueError, match=r"conv1 has 8 channels .* cannot drop \[44\]"):
        create(f"iizuka:ckpt={ckpt},drop=conv1.44")
    model = build_model(load_weights(ckpt))
    with pytest.raises(ValueError, match="conv17 has 3 channels"):
        zero_channels(model, {"conv17": [3]})


def test_identity_equals_skipping_the_layer(ckpt, pairs):
    images, masks = pairs
    method = create(f"iizuka:ckpt={ckpt},identity=conv11")
    ref = build_model(load_weights(ckpt))
    ref.conv11 = torch.nn.Identity()
    out = method.inpaint(images[2], masks[2])
    np.testing.assert_allclose(out, _reference_output(ref, images[2], masks[2], method.mean_pixel), atol=1e-5)
    plain = create(f"iizuka:ckpt={ckpt}").inpaint(images[2], masks[2])
    assert np.abs(out - plain).max() > 5e-5  # the replacement did change the network
    model = build_model(load_weights(ckpt))
    for layer, reason in [
        ("conv2", "stride 2"),
        ("conv13", "transposed"),
        ("conv17", "output layer"),
        ("conv1", "maps 4 to 8 channels"),
    ]:
        with pytest.raises(ValueError, match=f"identity={layer}: .*{reason}"):
            make_identity(model, layer)
    with pytest.raises(ValueError, match="unknown layer"):
        create(f"iizuka:ckpt={ckpt},identity=conv99")


def test_blend_keeps_known_pixels_and_reproduces_identical_source(pairs):
    import cv2

    from bench.core.images import from_uint8, to_uint8

    images, masks = pairs
    for image, mask in zip(images, masks):
        telea = from_uint8(cv2.inpaint(to_uint8(image), mask.astype(np.uint8) * 255, 3.0, cv2.INPAINT_TELEA))
        # Poisson blending a source identical to the destination returns it (guidance = its gradient).
        same = blend(telea, image, mask)
        assert np.abs(same - telea).max() <= 3 / 255
        other = blend(np.full_like(image, 0.5), image, mask)
        assert np.array_equal(other[~mask], from_uint8(to_uint8(image))[~mask])
        # A flat source gives a membrane: the hole interpolates its boundary, no grey plateau.
        assert np.abs(other[mask] - 0.5).mean() > 0.01
    border = np.zeros((64, 64), bool)
    border[:20, :30] = True  # touching two image borders
    assert blend(images[0], blank_hole(images[0], border), border).shape == (64, 64, 3)


def test_post_blend_through_the_registry(ckpt, pairs):
    images, masks = pairs
    raw = create(f"iizuka:ckpt={ckpt}").inpaint(images[0], masks[0])
    post = create(f"iizuka:ckpt={ckpt},post=blend").inpaint(images[0], masks[0])
    np.testing.assert_allclose(post, blend(raw, images[0], masks[0]), atol=1e-6)
    with pytest.raises(ValueError, match="post='poisson'"):
        create(f"iizuka:ckpt={ckpt},post=poisson")


def test_three_names_are_one_factory_with_different_defaults(tmp_path):
    for name, disc in [("iizuka", "full"), ("iizuka-global", "global"), ("iizuka-local", "local")]:
        entry = info(name)
        assert entry.family == "glcic" and entry.params["disc"] == disc
        assert set(entry.params) == {"ckpt", "post", "drop", "identity", "batch", "disc", "data", "device"}
        with pytest.raises(FileNotFoundError, match=f"bench train --variant {disc}"):
            create(f"{name}:ckpt={tmp_path / 'missing.pt'}")
    with pytest.raises(ValueError, match="not a GLCIC weights file"):
        (tmp_path / "junk.pt").write_bytes(b"")
        torch.save({"format": "other"}, tmp_path / "junk.pt")
        create(f"iizuka:ckpt={tmp_path / 'junk.pt'}")


@pytest.mark.parametrize("data", TRAINING_SETS)
@pytest.mark.parametrize("disc", ["full", "global", "local"])
def test_committed_checkpoints(disc, data):
    path = committed_weights(disc, data)
    assert path.parent.name == data and (data != "celeba" or path == DEFAULT_WEIGHTS[disc])
    assert path.stat().st_size < 15 * 2**20
    ckpt = load_weights(path, disc)
    assert ckpt["variant"] == disc and ckpt["config"]["variant"] == disc
    assert ckpt["width"] == ckpt["config"]["width"] and ckpt["resolution"] == ckpt["config"]["resolution"]
    assert len(ckpt["mean_pixel"]) == 3 and all(0 < v < 1 for v in ckpt["mean_pixel"])
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values() if v.is_floating_point())
    c = ckpt["config"]
    # The end of training, or (CelebA, `bench publish --step`) a phase-3 snapshot chosen on the
    # validation probe: past the discriminator-only phase, not past the end.
    assert (
        c["steps_phase1"] + c["steps_phase2"]
        < ckpt["step"]
        <= c["steps_phase1"] + c["steps_phase2"] + c["steps_phase3"]
    )
    assert c["steps_phase3"] > 0  # phase 3 actually ran
    assert c["dataset"] == data and ckpt["history"]["data"]["dataset"] == data
    card = path.with_suffix(".md").read_text()
    assert f"`{data}`" in card and "parameters" in card
    name = {"full": "iizuka", "global": "iizuka-global", "local": "iizuka-local"}[disc]
    method = create(f"{name}:data={data}")  # loads it on CPU
    assert method.model.width == ckpt["width"]
    assert method.ckpt_info["config"]["dataset"] == data
