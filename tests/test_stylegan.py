"""StyleGAN: modulation, truncation in W, style mixing, noise inputs, `gankit mix`, errors and exact resume."""

import argparse

import pytest
import torch
import torch.nn.functional as F

from gankit.cli import main
from gankit.errors import GankitError
from gankit.models.stylegan import StyleDiscriminator, StyleGenerator, mix_styles, modulated_conv2d, style_layers
from gankit.train.checkpoint import load_checkpoint


def _G(shape=(1, 16, 16), **kwargs) -> StyleGenerator:
    torch.manual_seed(0)
    G = StyleGenerator(8, shape, 8, mapping_depth=2, **kwargs).eval()
    with torch.no_grad():  # noise strengths start at 0; make the noise inputs matter in these tests
        for conv in G.convs:
            conv.noise.strength.fill_(0.3)
    return G


def test_modulation_and_demodulation_match_the_formula():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.rand(3, 4) + 0.5
    for demodulate in (True, False):
        out = modulated_conv2d(x, weight, styles, demodulate=demodulate)
        for n in range(3):
            w = weight * styles[n].view(1, 4, 1, 1)  # w'_{o,i,k} = w_{o,i,k} s_i
            if demodulate:
                w = w / (w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()  # / sqrt(sum_{i,k} w'^2)
            assert torch.allclose(out[n:n + 1], F.conv2d(x[n:n + 1], w, padding=1), atol=1e-5)
    # Demodulation removes the style's overall scale.
    assert torch.allclose(modulated_conv2d(x, weight, styles * 7), modulated_conv2d(x, weight, styles), atol=1e-4)


def test_adain_option_sets_each_channels_mean_and_std_from_the_style():
    from gankit.models.stylegan import StyleLayer

    torch.manual_seed(0)
    layer = StyleLayer(4, 6, 8, 3, (5, 5), style_mode="adain")
    w = torch.randn(2, 8)
    y_s, y_b = layer.affine(w).chunk(2, dim=1)
    out = layer(torch.randn(2, 4, 5, 5), w)
    assert torch.allclose(out.mean(dim=(2, 3)), y_b, atol=1e-4)
    assert torch.allclose(out.var(dim=(2, 3), unbiased=False), y_s.square(), rtol=1e-3, atol=1e-4)
    G = StyleGenerator(8, (1, 16, 16), 8, mapping_depth=2, style_mode="adain").eval()
    assert G(torch.randn(3, 8)).shape == (3, 1, 16, 16)


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 16, 32), (1, 28, 28)])
def test_shapes_and_style_inputs(shape):
    G = _G(shape, start_resolution=7 if shape[1] == 28 else 4)
    D = StyleDiscriminator(shape, 8, start_resolution=7 if shape[1] == 28 else 4, stddev_group=2)
    z = torch.randn(4, 8)
    x = G(z)
    assert x.shape == (4, *shape) and x.abs().max() <= 1 and D(x).shape == (4,)
    assert G.num_ws == 2 * (G.ws_levels[-1] + 1) and G.styles(z).shape == (4, G.num_ws, G.w_dim)
    assert torch.equal(G(G.styles(z)), x)  # the forward takes styles in place of z


def test_truncation_psi_0_is_the_mean_w_image_and_1_the_plain_one():
    G = _G()
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(G.w_dim))
    z = torch.randn(5, 8)
    assert torch.equal(G(G.truncate_w(z, 1.0)), G(z))
    mean_image = G(G.w_avg.view(1, 1, -1).expand(1, G.num_ws, -1))
    assert torch.allclose(G(G.truncate_w(z, 0.0)), mean_image.expand(5, -1, -1, -1), atol=1e-6)
    half = G.truncate_w(z, 0.5)
    assert torch.allclose(half, (G.styles(z) + G.w_avg) / 2, atol=1e-6)
    cut = G.truncate_w(z, 0.0, cutoff=2)  # only the first two style inputs are truncated
    assert torch.allclose(cut[:, :2], G.w_avg.expand(5, 2, -1)) and torch.equal(cut[:, 2:], G.styles(z)[:, 2:])


def test_w_avg_tracks_the_mean_w_only_when_asked():
    G = _G().train()
    z = torch.randn(64, 8)
    G(z)
    assert float(G.w_avg.abs().sum()) == 0
    G(z, update_w_avg=True)
    assert torch.allclose(G.w_avg, 0.005 * G.mapping(z).mean(0), atol=1e-6)


def test_style_mixing_with_the_same_seed_twice_equals_no_mixing():
    G = _G()
    z, other = torch.randn(3, 8), torch.randn(3, 8)
    ws = G.styles(z)
    assert torch.equal(G(mix_styles(ws, ws, range(2, G.num_ws))), G(z))
    assert not torch.allclose(G(mix_styles(ws, G.styles(other), range(2, G.num_ws))), G(z))
    from gankit.cli_latent import style_mixing_grid

    grid = style_mixing_grid(G, [3, 5], [3, 7], "coarse")  # row seed 3 x column seed 3 = seed 3 unmixed
    assert grid.shape == (9, 1, 16, 16)
    assert torch.equal(grid[4], grid[1]) and torch.equal(grid[4], grid[3])


def test_mixing_regularisation_draws_from_the_global_rng_in_training():
    G = _G().train()
    z = torch.randn(4, 8)
    torch.manual_seed(1)
    a = G(z, mixing_prob=1.0)
    torch.manual_seed(1)
    assert torch.equal(G(z, mixing_prob=1.0), a)
    torch.manual_seed(1)
    assert not torch.allclose(G(z, mixing_prob=0.0), a)


def test_noise_is_fixed_in_eval_mode_and_fresh_in_training():
    G = _G()
    z = torch.randn(2, 8)
    state = torch.get_rng_state()
    assert torch.equal(G(z), G(z)) and torch.equal(torch.get_rng_state(), state)  # eval draws nothing
    G.train()
    assert not torch.allclose(G(z), G(z))


def test_layer_bands():
    G = _G((1, 32, 32))
    assert G.ws_levels == [0, 1, 1, 2, 2, 3, 3, 3]
    assert (style_layers(G, "coarse"), style_layers(G, "middle"), style_layers(G, "fine")) == (
        range(0, 3), range(3, 5), range(5, 8))
    assert style_layers(G, "2-4") == range(2, 5)
    with pytest.raises(GankitError, match="not coarse, middle, fine or I-J"):
        style_layers(G, "5-9")
    with pytest.raises(GankitError, match="selects no style inputs"):
        style_layers(_G((1, 16, 16)), "middle")


def _tiny():
    return ["--preset", "stylegan-fashion", "--no-progress", "--threads", "1", "--set", "data.name=digits",
            "--set", "data.resolution=16", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--set", "model.z_dim=8", "--set", "stylegan.mapping_depth=2", "--set", "stylegan.fmap_base=0",
            "--set", "train.batch_size=8", "--set", "tricks.penalty_every=2", "--set", "stylegan.pl_weight=2",
            "--set", "stylegan.pl_every=2", "--set", "log.every=1", "--set", "log.sample_every=2",
            "--set", "train.ema_kimg=0.05", "--set", "stylegan.truncation_cutoff=2"]


def test_resume_is_bit_exact(tmp_path):
    args = _tiny()
    assert main(["train", *args, "--out", str(tmp_path / "full"), "--steps", "6"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "half"), "--steps", "3"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "6", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    assert float(full["G"]["mapping.w_avg"].abs().sum()) > 0 and float(full["family"]["pl_mean"]) > 0
    for key in ("G", "D", "G_ema"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, resumed[key][name]), f"{key}.{name} differs after resume"
    assert torch.equal(full["family"]["pl_mean"], resumed["family"]["pl_mean"])


def _mix_args(argv):
    from gankit import cli_latent

    parser = argparse.ArgumentParser()
    cli_latent.add_parsers(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_mix_writes_a_grid_and_refuses_a_dcgan_checkpoint(tmp_path, tiny_digits_args, capsys):
    import numpy as np
    from PIL import Image

    assert main(["train", *_tiny(), "--out", str(tmp_path / "s"), "--steps", "2"]) == 0
    out = tmp_path / "mix.png"
    assert main(["mix", str(tmp_path / "s"), "--rows", "1,2,3", "--cols", "4,5", "--layers", "fine",
                 "--truncation", "0.7", "--out", str(out), "--device", "cpu"]) == 0
    width, height = Image.open(out).size
    assert width / height == pytest.approx(3 / 4, rel=0.05)  # 3 columns (corner + 2) by 4 rows (top + 3)
    # gankit sample truncates a style G in W (towards the tracked mean w), not in z.
    from gankit.families import load_generator
    from gankit.sample import fixed_latents, generate

    for psi, name in ((0.0, "plain"), (0.5, "psi")):
        assert main(["sample", str(tmp_path / "s"), "--n", "4", "--truncation", str(psi), "--device", "cpu",
                     "--out", str(tmp_path / f"{name}.npy")]) == 0
    G = load_generator(tmp_path / "s", "cpu", False)[0]
    expected = generate(G, G.truncate_w(fixed_latents(4, G.z_dim, 0), 0.5)).numpy()
    assert np.allclose(np.load(tmp_path / "psi.npy"), expected, atol=1e-6)
    assert not np.allclose(np.load(tmp_path / "plain.npy"), expected, atol=1e-3)
    assert main(["train", *tiny_digits_args, "--out", str(tmp_path / "d"), "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["mix", str(tmp_path / "d"), "--rows", "1", "--cols", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a style-based generator" in err[0]


def test_bad_inputs_are_one_line_errors(capsys):
    base = ["train", "--preset", "stylegan-fashion", "--dry-run", "--set"]
    for setting, words in (("data.resolution=30", "not reachable"), ("stylegan.mixing_prob=2", "mixing_prob"),
                           ("data.name=toy", "trains on images")):
        assert main([*base, setting]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err


def test_evaluation_during_training_truncates_in_w_and_says_so(tmp_path):
    """tricks.sample_truncation on a style G: the run's scores are of W-truncated samples, and the protocol says 'w'."""
    import json

    args = [*_tiny(), "--set", "tricks.sample_truncation=0.7", "--set", "eval.every=2", "--set", "eval.n=64",
            "--set", "eval.metrics=[fid]"]
    assert main(["train", *args, "--out", str(tmp_path / "run"), "--steps", "2"]) == 0
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line.get("final", False) for line in lines] == [False, True]  # during training, then test once
    for line in lines:
        protocol = line["protocol"]
        assert (protocol["truncation"], protocol["truncation_space"], protocol["truncation_mode"]) == (0.7, "w", "psi")
