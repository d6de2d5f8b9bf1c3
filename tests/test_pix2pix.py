"""pix2pix: U-Net and PatchGAN shapes, receptive field, losses, paired data, a smoke step and bit-exact resume."""

from __future__ import annotations

import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.config import Config
from gankit.data.paired import PairedData, PairedSampler, edge_map, load_paired, make_fashion_edges
from gankit.errors import GankitError
from gankit.families import pix2pix
from gankit.losses import d_nonsaturating
from gankit.models.patchgan import PatchDiscriminator, patch_map_size, receptive_field
from gankit.models.unet import UNetGenerator, auto_depth, dropout_blocks
from gankit.train.checkpoint import capture_rng, restore_rng

torch.set_num_threads(1)
CPU = torch.device("cpu")


# ---------------------------------------------------------------- networks

def test_receptive_field_matches_the_paper_and_the_gradient():
    assert [receptive_field(n) for n in range(4)] == [7, 16, 34, 70]
    # The input pixels one score depends on, found by backpropagating from it.
    for n_layers, side in ((2, 64), (3, 128)):
        D = PatchDiscriminator(1, width=2, n_layers=n_layers, norm="none").double()
        x = torch.zeros(1, 1, side, side, dtype=torch.double, requires_grad=True)
        scores = D(x)
        i, j = scores.shape[1] // 2, scores.shape[2] // 2
        scores[0, i, j].backward()
        rows, cols = (x.grad[0, 0].abs() > 0).nonzero(as_tuple=True)
        assert int(rows.max() - rows.min()) + 1 == receptive_field(n_layers)
        assert int(cols.max() - cols.min()) + 1 == receptive_field(n_layers)


@pytest.mark.parametrize("side,n_layers,expected", [(28, 3, 1), (32, 3, 2), (28, 2, 5), (32, 2, 6), (28, 1, 12),
                                                    (256, 3, 30)])
def test_patch_map_size(side, n_layers, expected):
    D = PatchDiscriminator(4, width=2, n_layers=n_layers, norm="instance")
    scores = D(torch.randn(2, 4, side, side))
    assert scores.shape == (2, expected, expected) == (2, patch_map_size(side, n_layers), patch_map_size(side, n_layers))


def test_patch_discriminator_rejects_small_inputs_and_bad_norm():
    with pytest.raises(GankitError, match="at least 24x24"):
        PatchDiscriminator(2, width=2, n_layers=3)(torch.randn(1, 2, 20, 20))
    with pytest.raises(GankitError, match="norm"):
        PatchDiscriminator(2, norm="group")
    with pytest.raises(GankitError, match=r"\[N, 2, H, W\]"):
        PatchDiscriminator(2, width=2, n_layers=1)(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("hw", [(28, 28), (32, 32), (30, 45), (16, 64)])
def test_unet_keeps_size_and_range(hw):
    G = UNetGenerator(1, 3, width=4, size=hw)
    y = G(torch.randn(2, 1, *hw) * 3)
    assert y.shape == (2, 3, *hw)
    assert y.abs().max() < 1.0  # tanh output


def test_unet_depth_skips_and_dropout():
    assert auto_depth(28, 28) == 5 and auto_depth(256, 256) == 8 and auto_depth(32, 32) == 5
    G = UNetGenerator(3, 3, width=64, depth=8)
    assert sum(p.numel() for p in G.parameters()) == 54_414_531  # the paper's 256-px U-Net
    G = UNetGenerator(1, 1, width=4, size=(28, 28), dropout=0.5)
    assert G.depth == 5
    assert sum(isinstance(m, torch.nn.Dropout) for m in G.modules()) == dropout_blocks(5) == 2
    # The second decoder block sees the innermost one's output and the skip: twice the channels.
    assert G.up[1][1].in_channels == 2 * G.up[0][1].out_channels
    x = torch.randn(3, 1, 28, 28)
    G.train()
    assert not torch.equal(G(x), G(x))  # dropout is G's noise in training
    G.eval()
    assert torch.equal(G(x), G(x))
    assert sum(isinstance(m, torch.nn.Dropout) for m in UNetGenerator(1, 1, 4, 5, dropout=0.0).modules()) == 0


# ---------------------------------------------------------------- losses

def test_l1_term_by_hand():
    fake = torch.tensor([[[[0.5, -1.0], [0.0, 1.0]]]])
    target = torch.tensor([[[[0.0, -0.5], [1.0, 1.0]]]])
    assert pix2pix.l1_term(fake, target).item() == pytest.approx((0.5 + 0.5 + 1.0 + 0.0) / 4)


def test_d_objective_is_half_the_patch_mean_loss():
    real = torch.tensor([[[0.0, 2.0]]])  # one pair, a 1x2 map of patch scores
    fake = torch.tensor([[[0.0, -1.0]]])
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    by_hand = 0.5 * ((softplus(-0.0) + softplus(-2.0)) / 2 + (softplus(0.0) + softplus(-1.0)) / 2)
    assert pix2pix.d_objective(d_nonsaturating, real, fake).item() == pytest.approx(by_hand)


# ---------------------------------------------------------------- data

def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _rand(shape, seed):
    return np.random.RandomState(seed).randint(0, 256, shape, dtype=np.uint8)


def test_folders_layout_pairs_by_name(tmp_path):
    for i, name in enumerate(["b", "a", "c"]):
        _save(tmp_path / "A" / f"{name}.png", _rand((12, 12, 3), i))
        _save(tmp_path / "B" / f"{name}.jpg" if name != "c" else tmp_path / "B" / "c.png", _rand((12, 12), 10 + i))
    pairs = load_paired(tmp_path, 12, (3, 1))
    assert pairs.names == ["a", "b", "c"]
    assert pairs.a.shape == (3, 3, 12, 12) and pairs.b.shape == (3, 1, 12, 12)
    expected = torch.from_numpy(_rand((12, 12, 3), 1)).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(pairs.a[0], expected, atol=1e-5)  # "a" is the second image written


def test_side_by_side_splits_halves_and_test_split(tmp_path):
    image = _rand((8, 16, 3), 0)
    _save(tmp_path / "train" / "0.png", image)
    _save(tmp_path / "test" / "0.png", _rand((8, 16, 3), 1))
    _save(tmp_path / "test" / "1.png", _rand((8, 16, 3), 2))
    pairs = load_paired(tmp_path, 8, 3)
    assert len(pairs) == 1
    to_unit = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 127.5 - 1  # noqa: E731
    assert torch.allclose(pairs.a[0], to_unit(image[:, :8]), atol=1e-5)
    assert torch.allclose(pairs.b[0], to_unit(image[:, 8:]), atol=1e-5)
    assert len(load_paired(tmp_path, 8, 3, split="test")) == 2
    shutil.make_archive(str(tmp_path / "pairs"), "zip", tmp_path, "test")
    assert len(load_paired(tmp_path / "pairs.zip", 8, 3)) == 2  # a zip of the folder reads the same


def _one_line_error(call, *fragments):
    with pytest.raises(GankitError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_paired_errors_name_the_file_and_the_fix(tmp_path):
    (tmp_path / "empty" / "A").mkdir(parents=True)
    (tmp_path / "empty" / "A" / "notes.txt").write_text("not an image")
    _save(tmp_path / "empty" / "B" / "0.png", _rand((8, 8), 0))
    _one_line_error(lambda: load_paired(tmp_path / "empty", 8, 1, layout="folders"), "no usable image", "empty/A")
    _save(tmp_path / "strays" / "A" / "0.png", _rand((8, 8), 0))
    _save(tmp_path / "strays" / "A" / "1.png", _rand((8, 8), 1))
    _save(tmp_path / "strays" / "B" / "0.png", _rand((8, 8), 2))
    _one_line_error(lambda: load_paired(tmp_path / "strays", 8, 1), "A/1.png", "same name")
    _save(tmp_path / "odd" / "x.png", _rand((8, 17, 3), 0))
    _one_line_error(lambda: load_paired(tmp_path / "odd", 8, 3), "x.png", "17 px wide", "even width")
    _one_line_error(lambda: load_paired(tmp_path / "strays", 8, 1, split="test"), "no test/ subfolder")
    _one_line_error(lambda: load_paired(tmp_path / "missing", 8, 1), "does not exist")


def test_fashion_edges_is_deterministic_and_binary():
    first, second = make_fashion_edges("test"), make_fashion_edges("test")
    assert len(first) == 10_000 and first.a.shape == first.b.shape == (10_000, 1, 28, 28)
    assert torch.equal(first.a, second.a) and torch.equal(first.b, second.b)
    assert set(first.a.unique().tolist()) == {-1.0, 1.0}
    # A vertical black|white step has edges along the step only.
    step = torch.full((1, 1, 6, 6), -1.0)
    step[..., 3:] = 1.0
    edges = edge_map(step)
    assert (edges[0, 0, :, 2:4] == 1).all() and (edges[0, 0, :, :2] == -1).all() and (edges[0, 0, :, 4:] == -1).all()


def test_paired_sampler_keeps_pairs_aligned_and_resumes():
    data = PairedData(torch.arange(10.0).view(10, 1, 1, 1), -torch.arange(10.0).view(10, 1, 1, 1), [str(i) for i in range(10)])
    sampler = PairedSampler(data, 3, seed=5)
    for _ in range(4):
        a, b = sampler.next()
        assert torch.equal(a, -b)
    state = sampler.state_dict()
    expected = [sampler.next()[0] for _ in range(5)]
    fresh = PairedSampler(data, 3, seed=0)
    fresh.load_state_dict(state)
    assert all(torch.equal(fresh.next()[0], e) for e in expected)


# ---------------------------------------------------------------- family

@pytest.fixture(scope="module")
def small_pairs() -> PairedData:
    return make_fashion_edges("test").subset(torch.arange(96))


def _cfg(**pix) -> Config:
    cfg = Config()
    cfg.data.name, cfg.data.resolution = "fashion-edges", 28
    cfg.model.g_width, cfg.model.d_width = 4, 4
    cfg.train.batch_size = 8
    cfg.pix2pix.d_layers = 2
    cfg.log.n_samples = 6
    for key, value in pix.items():
        setattr(cfg.pix2pix, key, value)
    return cfg


def _family(cfg, pairs):
    torch.manual_seed(cfg.seed)
    return pix2pix.Pix2Pix(cfg, CPU, pix2pix.DistEnv(), pairs)


def test_validation_pairs_are_held_out_and_fixed():
    train, val = pix2pix.split_validation(96, seed=0)
    assert len(val) == 9 and len(train) == 87 and not set(val.tolist()) & set(train.tolist())
    assert torch.equal(val, pix2pix.split_validation(96, seed=0)[1])
    assert len(pix2pix.split_validation(60_000, seed=0)[1]) == 500


@pytest.mark.filterwarnings("ignore:only .* samples")
def test_smoke_step_samples_and_evaluate(small_pairs, tmp_path):
    family = _family(_cfg(), small_pairs)
    assert set(family.networks) == {"G", "D"} and set(family.optimizers) == {"g", "d"}
    before = {k: v.clone() for k, v in family.G.state_dict().items()}
    stats = family.train_step()
    assert {"d_loss", "g_loss", "g_adv", "l1"} <= set(stats)
    assert all(torch.isfinite(v) and v.dim() == 0 for v in stats.values())
    assert stats["g_loss"].item() == pytest.approx(stats["g_adv"].item() + 100 * stats["l1"].item(), rel=1e-5)
    assert any(not torch.equal(before[k], v) for k, v in family.G.state_dict().items())
    family.write_samples(tmp_path / "grid.png")
    grid = Image.open(tmp_path / "grid.png")
    assert grid.width > grid.height  # 4 triples of 3 images per row, 2 rows for 6 pairs
    result, key, lower = family.evaluate(seed=0)
    assert key == "fid" and lower and {"l1", "psnr", "ssim", "fid"} <= set(result)
    assert result["protocol"]["n"] == 9


def test_logged_l1_is_the_l1_of_this_step(small_pairs):
    family = _family(_cfg(adversarial=False, g_dropout=0.0), small_pairs)
    assert set(family.networks) == {"G"}
    sampler_state = family.sampler.state_dict()
    a, b = family.sampler.next()
    expected = (family.G(a) - b).abs().mean()  # train mode, as the step runs it (no dropout here)
    family.sampler.load_state_dict(sampler_state)
    stats = family.train_step()
    assert stats["l1"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["g_loss"].item() == pytest.approx(100 * expected.item(), rel=1e-6)


def _snapshot(family):
    return {"networks": {k: v.state_dict() for k, v in family.networks.items()},
            "optimizers": {k: v.state_dict() for k, v in family.optimizers.items()},
            "family": family.state_dict(), "sampler": family.sampler.state_dict(), "rng": capture_rng()}


@pytest.mark.parametrize("adversarial", [True, False])
def test_resume_is_bit_exact(small_pairs, adversarial):
    import copy

    cfg = _cfg(adversarial=adversarial)
    cfg.tricks.lr_schedule, cfg.train.steps = "linear", 6
    straight = _family(cfg, small_pairs)
    for _ in range(6):
        straight.train_step()
    first = _family(cfg, small_pairs)
    for _ in range(3):
        first.train_step()
    saved = copy.deepcopy(_snapshot(first))
    torch.manual_seed(123)  # the resumed process starts from another RNG state
    resumed = _family(cfg, small_pairs)
    for name, net in resumed.networks.items():
        net.load_state_dict(saved["networks"][name])
    for name, opt in resumed.optimizers.items():
        opt.load_state_dict(saved["optimizers"][name])
    resumed.load_state_dict(saved["family"])
    resumed.sampler.load_state_dict(saved["sampler"])
    restore_rng(saved["rng"])
    for _ in range(3):
        resumed.train_step()
    for name, net in straight.networks.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.networks[name].state_dict()[key]), (name, key)


def test_config_errors_are_one_line():
    cfg = _cfg()
    cfg.runtime.precision = "fp16"
    _one_line_error(lambda: pix2pix.validate_pix2pix(cfg), "bf16 or fp32")
    cfg = _cfg(d_layers=4)
    _one_line_error(lambda: pix2pix.validate_pix2pix(cfg), "d_layers=4", "48 px")
    cfg = _cfg(adversarial=False, l1_weight=0.0)
    _one_line_error(lambda: pix2pix.validate_pix2pix(cfg), "l1_weight must be > 0")
    cfg = _cfg()
    cfg.data.name = "fashion-mnist"
    _one_line_error(lambda: pix2pix.validate_pix2pix(cfg), "fashion-edges or paired")
    cfg.data.name = "paired"
    _one_line_error(lambda: pix2pix.validate_pix2pix(cfg), "data.path")


@pytest.mark.filterwarnings("ignore:only .* samples")
def test_checkpoint_network_and_eval(small_pairs):
    cfg = _cfg()
    family = _family(cfg, small_pairs)
    family.train_step()
    state = {"G": family.G.state_dict(), "D": family.D.state_dict()}
    G = pix2pix.load_output_network(cfg, state, CPU, None)
    assert not G.training
    # Same weights; the trained copy runs channels_last on a CPU, so rounding may differ slightly.
    assert torch.allclose(G(small_pairs.a[:4]), pix2pix.translate(family.G, small_pairs.a[:4]), atol=1e-6)
    with pytest.raises(GankitError, match="A -> B only"):
        pix2pix.load_output_network(cfg, state, CPU, "BA")
    result = pix2pix.evaluate_checkpoint(cfg, state, CPU, SimpleNamespace(n=40, seed=0, split="test"))
    assert result["protocol"]["split"] == "test" and result["protocol"]["n"] == 40
    assert 0 < result["l1"] < 2 and math.isfinite(result["psnr"]) and -1 <= result["ssim"] <= 1
    fake = pix2pix.translate(G, make_fashion_edges("test").a[:40])
    assert result["l1"] == pytest.approx(F.l1_loss(fake, make_fashion_edges("test").b[:40]).item(), rel=1e-5)
