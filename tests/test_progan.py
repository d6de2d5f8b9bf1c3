"""ProGAN: growth stages, fade-in, equalized LR, pixel norm, schedule, errors and exact resume."""

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.cli import main
from gankit.errors import GankitError
from gankit.models.progan import (EqualizedConv2d, EqualizedLinear, PixelNorm, ProGANDiscriminator, ProGANGenerator,
                                  fade_images, growth_at, growth_plan)
from gankit.train.checkpoint import load_checkpoint


def _nets(shape=(1, 16, 16), width=8):
    torch.manual_seed(0)
    return ProGANGenerator(8, shape, width), ProGANDiscriminator(shape, width, stddev_group=2)


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 16, 32)])
def test_shapes_at_every_growth_stage(shape):
    G, D = _nets(shape)
    z = torch.randn(4, 8)
    for stage in range(G.doublings + 1):
        for alpha in (0.0, 0.5, 1.0):
            G.set_growth(stage, alpha)
            D.set_growth(stage, alpha)
            x = G(z)
            assert x.shape == (4, *shape) and x.abs().max() <= 1
            assert D(x).shape == (4,)
            # At stage s the image is made of 2^(k-s)-pixel blocks: the current resolution, upsampled.
            factor = 2 ** (G.doublings - stage)
            assert torch.equal(x, F.interpolate(x[:, :, ::factor, ::factor], scale_factor=factor, mode="nearest"))


def test_fade_in_alpha_0_is_the_old_path_and_1_the_new():
    G, D = _nets()
    z, x = torch.randn(4, 8), torch.rand(4, 1, 16, 16) * 2 - 1
    for stage in (1, 2):
        G.set_growth(stage - 1, 1.0)
        D.set_growth(stage - 1, 1.0)
        old_g, old_d = G(z), D(x)
        G.set_growth(stage, 0.0)
        D.set_growth(stage, 0.0)
        assert torch.allclose(G(z), old_g, atol=1e-6) and torch.allclose(D(x), old_d, atol=1e-5)
        G.set_growth(stage, 1.0)
        D.set_growth(stage, 1.0)
        new_g, new_d = G(z), D(x)
        with torch.no_grad():  # alpha 1 no longer reads the old level's toRGB / fromRGB
            G.to_rgb[stage - 1].weight.add_(1.0)
            D.from_rgb[stage - 1].weight.add_(1.0)
        assert torch.equal(G(z), new_g) and torch.equal(D(x), new_d)
        G.set_growth(stage, 0.5)
        assert not torch.allclose(G(z), new_g) and not torch.allclose(G(z), old_g)


def test_real_images_fade_like_fakes():
    x = torch.rand(2, 1, 16, 16)
    low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    assert torch.allclose(fade_images(x, 2, 0.0, 2), low, atol=1e-6)
    assert torch.equal(fade_images(x, 2, 1.0, 2), x)
    assert torch.allclose(fade_images(x, 2, 0.25, 2), 0.75 * low + 0.25 * x, atol=1e-6)


def test_equalized_lr_scales_weights_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 4, 3)
    assert abs(float(conv.weight.detach().std()) - 1.0) < 0.1  # stored weights are N(0, 1)
    x = torch.randn(2, 16, 5, 5)
    expected = F.conv2d(x, conv.weight * math.sqrt(2.0) / math.sqrt(16 * 9), conv.bias, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    dense = EqualizedLinear(32, 8, gain=1.0, lr_mul=0.01, bias_init=1.0)
    v = torch.randn(3, 32)
    expected = F.linear(v, dense.weight * 0.01 / math.sqrt(32), dense.bias * 0.01)
    assert torch.allclose(dense(v), expected, atol=1e-6) and torch.allclose(dense.bias * 0.01, torch.ones(8))


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    x = torch.randn(3, 12, 4, 5) * torch.rand(3, 1, 4, 5) * 20
    assert torch.allclose(PixelNorm()(x).square().mean(dim=1), torch.ones(3, 4, 5), atol=1e-5)


def test_growth_schedule_in_images():
    assert growth_at(0, 100, 50, 3) == (0, 1.0)
    assert growth_at(49, 100, 50, 3) == (0, 1.0)
    assert growth_at(50, 100, 50, 3) == (1, 0.0)
    assert growth_at(75, 100, 50, 3) == (1, 0.25)
    assert growth_at(150, 100, 50, 3) == (1, 1.0)
    assert growth_at(200, 100, 50, 3) == (2, 0.0)
    assert growth_at(10_000, 100, 50, 3) == (3, 1.0)


def test_unreachable_resolution_is_a_one_line_error(capsys):
    with pytest.raises(GankitError, match="not reachable by doubling"):
        growth_plan(28, 28)
    assert growth_plan(28, 28, start=7) == (7, 7, 2)
    assert growth_plan(32, 64) == (4, 8, 3)
    assert main(["train", "--preset", "progan-fashion", "--set", "data.resolution=28", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "28x28 is not reachable" in err


def _tiny():
    # Digits at 16x16 (levels 4, 8, 16); a phase every 2 steps of 16 images: 0.032 kimg.
    return ["--preset", "progan-fashion", "--no-progress", "--threads", "1", "--set", "data.name=digits",
            "--set", "data.resolution=16", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--set", "model.z_dim=8", "--set", "train.batch_size=16", "--set", "progan.fade_kimg=0.032",
            "--set", "progan.stable_kimg=0.032", "--set", "progan.fmap_base=0", "--set", "log.every=1",
            "--set", "log.sample_every=2", "--set", "log.checkpoint_every=100", "--set", "train.ema_kimg=0.05"]


def test_resume_is_bit_exact_across_growth_phases(tmp_path):
    args = _tiny()
    assert main(["train", *args, "--out", str(tmp_path / "full"), "--steps", "7"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "half"), "--steps", "3"]) == 0  # stops mid-fade of 8x8
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "7", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    assert int(full["G"]["stage"]) == 2 and full["family"]["nimg"] == resumed["family"]["nimg"] == 7 * 16
    for key in ("G", "D", "G_ema"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, resumed[key][name]), f"{key}.{name} differs after resume"
    for key in ("opt_g", "opt_d"):
        for pid, state in full[key]["state"].items():
            for name, value in state.items():
                assert torch.equal(value, resumed[key]["state"][pid][name]), f"{key} {pid} {name}"


def test_sample_shows_the_checkpoints_resolution(tmp_path):
    from gankit.families import load_generator

    assert main(["train", *_tiny(), "--out", str(tmp_path / "r"), "--steps", "3"]) == 0
    G, cfg, state, which = load_generator(tmp_path / "r", "cpu", no_ema=False)
    # The buffers hold the growth the last step trained at: step 3 began at 32 images, the start of 8x8's fade.
    assert which == "G_ema" and G.growth() == (1, 0.0)
    assert main(["sample", str(tmp_path / "r"), "--out", str(tmp_path / "s.png"), "--n", "4", "--device", "cpu"]) == 0
    assert (tmp_path / "s.png").is_file()
