"""SRGAN: networks, loss terms, feature-network choice, one training step, bit-exact resume, evaluation."""

import copy
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.config import Config
from gankit.errors import GankitError
from gankit.families import srgan
from gankit.models.srgan import SRDiscriminator, SRGenerator
from gankit.train.checkpoint import capture_rng, restore_rng
from gankit.train.distributed import DistEnv


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """24 smooth random RGB 16x16 images (blurred noise, so SSIM and PSNR are meaningful)."""
    root = tmp_path_factory.mktemp("sr_images")
    rng = np.random.default_rng(0)
    for i in range(24):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((16, 16), Image.BILINEAR).save(root / f"img{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def scaled_phi(tmp_path_factory):
    """A TorchScript feature network phi(x) = 2x + 1, saved as a user would give it."""
    class Affine(torch.nn.Module):
        def forward(self, x):
            return 2.0 * x + 1.0

    path = tmp_path_factory.mktemp("phi") / "phi.pt"
    with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(Affine()), str(path))
    return path


def folder_cfg(path, **sr) -> Config:
    cfg = Config()
    cfg.model.family = "srgan"
    cfg.data.name, cfg.data.path, cfg.data.resolution, cfg.data.channels = "folder", str(path), 16, 3
    cfg.model.g_width, cfg.model.d_width = 8, 8
    cfg.train.batch_size, cfg.train.steps = 4, 100
    cfg.sr.scale, cfg.sr.residual_blocks, cfg.sr.feature_network = 2, 2, "none"
    for key, value in sr.items():
        setattr(cfg.sr, key, value)
    return cfg


def build(cfg, seed=0):
    torch.manual_seed(seed)
    return srgan.build(cfg, torch.device("cpu"), DistEnv())


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("scale,c,h,w", [(2, 3, 12, 10), (4, 1, 7, 7)])
def test_generator_shapes_and_range(scale, c, h, w):
    G = SRGenerator(c, scale=scale, width=8, n_blocks=2)
    y = G(torch.randn(3, c, h, w))
    assert y.shape == (3, c, h * scale, w * scale)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("c,size,stages", [(1, 28, 3), (3, 96, 4)])
def test_discriminator_gives_one_raw_score_per_image(c, size, stages):
    D = SRDiscriminator(c, width=8, n_stages=stages, dense=16)
    assert D(torch.randn(2, c, size, size)).shape == (2,)


def test_bad_scale_is_a_one_line_error(image_dir):
    with pytest.raises(GankitError, match="scale must be 2 or 4, got 3"):
        SRGenerator(1, scale=3)
    with pytest.raises(GankitError, match="sr.scale must be 2 or 4"):
        srgan.validate_sr(folder_cfg(image_dir, scale=8))
    cfg = folder_cfg(image_dir, scale=4)
    cfg.data.resolution = 18
    with pytest.raises(GankitError, match="not divisible by sr.scale=4"):
        srgan.validate_sr(cfg)


def test_downsample_is_deterministic_and_keeps_constants():
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    lr = srgan.downsample(x, 4)
    assert lr.shape == (2, 1, 7, 7) and torch.equal(lr, srgan.downsample(x, 4))
    flat = torch.full((1, 1, 28, 28), 0.3)
    assert torch.allclose(srgan.downsample(flat, 4), torch.full((1, 1, 7, 7), 0.3), atol=1e-6)
    assert torch.allclose(srgan.bicubic_upsample(srgan.downsample(flat, 4), 4), flat, atol=1e-6)


# ---------------------------------------------------------------- losses and feature networks


def test_generator_loss_weights_each_term(image_dir):
    cfg = folder_cfg(image_dir, mse_weight=2.0, content_weight=0.5, adversarial_weight=1e-3)
    total = srgan.generator_loss(cfg, torch.tensor(0.25), torch.tensor(4.0), torch.tensor(0.7))
    assert total.item() == pytest.approx(2.0 * 0.25 + 0.5 * 4.0 + 1e-3 * 0.7)


def test_content_loss_is_mse_of_features(image_dir, scaled_phi):
    cfg = folder_cfg(image_dir, content_weight=1.0, feature_network=str(scaled_phi))
    phi, record = srgan.load_feature_network(cfg, torch.device("cpu"))
    sr, hr = torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5)
    # phi(sr) - phi(hr) = 2 (sr - hr) = -1 everywhere -> MSE 1.
    assert srgan.content_loss(phi, sr, hr).item() == pytest.approx(1.0)
    assert srgan.content_loss(None, sr, hr).item() == 0.0
    assert record["network"] == str(scaled_phi) and len(record["weights_sha256"]) == 64


def test_auto_feature_network_on_folder_data_warns_and_uses_pixels(image_dir):
    cfg = folder_cfg(image_dir, content_weight=1.0, feature_network="auto")
    with pytest.warns(UserWarning, match="pixel loss only"):
        phi, record = srgan.load_feature_network(cfg, torch.device("cpu"))
    assert phi is None and record["network"] == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "none" is a choice, not a fallback: no warning
        assert srgan.load_feature_network(folder_cfg(image_dir, feature_network="none"), torch.device("cpu"))[0] is None


def test_auto_feature_network_on_fashion_is_a_frozen_copy_of_the_domain_classifier():
    from gankit.metrics import load_domain_classifier

    cfg = Config()
    cfg.data.name, cfg.data.resolution, cfg.sr.content_weight = "fashion-mnist", 28, 1.0
    phi, record = srgan.load_feature_network(cfg, torch.device("cpu"))
    shared, info = load_domain_classifier("fashion-mnist")
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(phi(x), shared.features(x))
    assert phi.classifier is not shared and not any(p.requires_grad for p in phi.parameters())
    assert record["weights_sha256"] == info["sha256"]


def test_missing_feature_network_file_is_an_error(image_dir, tmp_path):
    with pytest.raises(GankitError, match="is not a file"):
        srgan.validate_sr(folder_cfg(image_dir, feature_network=str(tmp_path / "nope.pt")))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not torchscript")
    with pytest.raises(GankitError, match="not a loadable TorchScript"):
        srgan.load_feature_network(folder_cfg(image_dir, content_weight=1.0, feature_network=str(bad)), "cpu")


# ---------------------------------------------------------------- training


def test_train_step_terms_match_a_hand_computation(image_dir, scaled_phi):
    cfg = folder_cfg(image_dir, mse_weight=1.0, content_weight=0.3, adversarial_weight=0.01,
                     feature_network=str(scaled_phi))
    fam = build(cfg)
    # Replay the step's forward by hand on the same batch with a copy of G (train mode, as in the step).
    sampler_state = fam.sampler.state_dict()
    hr, _ = fam.sampler.next()
    fam.sampler.load_state_dict(sampler_state)
    G_copy = copy.deepcopy(fam.G)
    with torch.no_grad():
        sr = G_copy(srgan.downsample(hr, 2))
    stats = fam.train_step()
    assert stats["mse"].item() == pytest.approx(F.mse_loss(sr, hr).item(), rel=1e-5)
    assert stats["content"].item() == pytest.approx(F.mse_loss(2 * sr, 2 * hr).item(), rel=1e-5)
    expected = 1.0 * stats["mse"] + 0.3 * stats["content"] + 0.01 * stats["g_adv"]
    assert stats["g_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["psnr"].item() == pytest.approx(10 * np.log10(4 / stats["mse"].item()), rel=1e-5)


def test_smoke_step_updates_both_networks(image_dir):
    fam = build(folder_cfg(image_dir))
    g0, d0 = copy.deepcopy(fam.G.state_dict()), copy.deepcopy(fam.D.state_dict())
    stats = fam.train_step()
    assert {"d_loss", "g_loss", "mse", "g_adv"} <= set(stats)
    assert all(torch.isfinite(v) and v.dim() == 0 and not v.requires_grad for v in stats.values())
    assert not torch.equal(g0["head.0.weight"], fam.G.state_dict()["head.0.weight"])
    assert not torch.equal(d0["features.0.weight"], fam.D.state_dict()["features.0.weight"])


def test_mse_only_baseline_skips_d(image_dir):
    fam = build(folder_cfg(image_dir, adversarial_weight=0.0))
    d0 = copy.deepcopy(fam.D.state_dict())
    stats = fam.train_step()
    assert "d_loss" not in stats and "g_adv" not in stats
    assert stats["g_loss"].item() == pytest.approx(stats["mse"].item())
    assert all(torch.equal(v, fam.D.state_dict()[k]) for k, v in d0.items())


def _capture(fam) -> dict:
    return {"networks": {k: copy.deepcopy(v.state_dict()) for k, v in fam.networks.items()},
            "optimizers": {k: copy.deepcopy(v.state_dict()) for k, v in fam.optimizers.items()},
            "family": copy.deepcopy(fam.state_dict()), "sampler": fam.sampler.state_dict(), "rng": capture_rng()}


def test_resume_is_bit_exact(image_dir):
    cfg = folder_cfg(image_dir)
    cfg.train.ema_kimg = 0.01  # G_ema and an LR schedule ride in the state too
    cfg.tricks.lr_schedule, cfg.tricks.lr_decay_start = "linear", 0.0
    n = 3
    straight = build(cfg)
    for _ in range(2 * n):
        straight.train_step()

    first = build(cfg)
    for _ in range(n):
        first.train_step()
    saved = _capture(first)
    resumed = build(cfg, seed=123)  # different init: everything must come from the saved state
    for name, sd in saved["networks"].items():
        resumed.networks[name].load_state_dict(sd)
    for name, sd in saved["optimizers"].items():
        resumed.optimizers[name].load_state_dict(sd)
    resumed.load_state_dict(saved["family"])
    resumed.sampler.load_state_dict(saved["sampler"])
    restore_rng(saved["rng"])
    for _ in range(n):
        resumed.train_step()
    for name, net in straight.networks.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.networks[name].state_dict()[key]), f"{name}.{key}"
    assert resumed.step == straight.step == 2 * n


# ---------------------------------------------------------------- samples and evaluation


def test_samples_and_validation_use_held_out_images(image_dir, tmp_path):
    fam = build(folder_cfg(image_dir))
    fam.train_step()
    assert len(fam.val_hr) == 2 and len(fam.sampler.images) == 22  # 10% of 24 held out
    train_rows = {tuple(x.flatten().tolist()) for x in fam.sampler.images}
    assert not any(tuple(x.flatten().tolist()) in train_rows for x in fam.val_hr)
    fam.write_samples(tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").size[0] > 0
    result, key, lower = fam.evaluate(seed=0)
    assert key == "psnr" and lower is False and fam.G.training
    assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} <= set(result) and result["protocol"]["n"] == 2


def test_output_network_and_checkpoint_eval_on_a_folder(image_dir):
    cfg = folder_cfg(image_dir)
    torch.manual_seed(0)
    state = {"config": {}, "G": srgan.build_sr_generator(cfg).state_dict()}
    G = srgan.load_output_network(cfg, state, torch.device("cpu"), None)
    assert G(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 16, 16) and not G.training
    result = srgan.evaluate_checkpoint(cfg, state, torch.device("cpu"), SimpleNamespace(n=5, split="test", seed=0))
    assert result["protocol"]["n"] == 5 and "not held out" in result["protocol"]["note"]
    assert result["bicubic_psnr"] > result["psnr"]  # an untrained G loses to bicubic


def test_checkpoint_eval_on_fashion_reports_fid_beside_bicubic():
    cfg = Config()
    cfg.data.name, cfg.data.resolution = "fashion-mnist", 28
    cfg.model.g_width, cfg.sr.residual_blocks = 8, 1
    torch.manual_seed(0)
    state = {"G": srgan.build_sr_generator(cfg).state_dict()}
    result = srgan.evaluate_checkpoint(cfg, state, torch.device("cpu"), SimpleNamespace(n=300, split="test", seed=0))
    assert {"psnr", "ssim", "fid", "bicubic_psnr", "bicubic_ssim", "bicubic_fid"} <= set(result)
    assert result["bicubic_fid"] < result["fid"] and 10 < result["bicubic_psnr"] < 30
    assert "note" not in result["protocol"] and result["protocol"]["fid_features"]["network"] == "fashion-mnist"


def test_translate_contract_input_shape_and_direction(image_dir):
    cfg = folder_cfg(image_dir)
    assert srgan.input_shape(cfg) == (3, 8, 8)
    state = {"G": srgan.build_sr_generator(cfg).state_dict()}
    with pytest.raises(GankitError, match="one direction"):
        srgan.load_output_network(cfg, state, torch.device("cpu"), "BtoA")
    net = srgan.load_output_network(cfg, state, torch.device("cpu"), "AtoB")
    assert net(torch.zeros(2, *srgan.input_shape(cfg))).shape == (2, 3, 16, 16)


def test_registry_runs_the_srgan_checks(image_dir):
    from gankit.families import validate_family

    cfg = folder_cfg(image_dir, scale=3)
    with pytest.raises(GankitError, match="sr.scale must be 2 or 4"):
        validate_family(cfg)
