"""CycleGAN / DiscoGAN: nets, losses against hand computations, the image pool, unpaired data, smoke and resume."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.config import Config
from gankit.data import ImageData
from gankit.data.unpaired import UnpairedSampler, load_fashion_domains, load_unpaired
from gankit.errors import GankitError
from gankit.families import cyclegan, discogan
from gankit.families.cyclegan import ImagePool, validate_cycle
from gankit.models.discogan import DiscoDiscriminator, DiscoGenerator
from gankit.models.resnet_gen import ResnetGenerator
from gankit.train.checkpoint import capture_rng, restore_rng
from gankit.train.distributed import DistEnv

CPU = torch.device("cpu")


def make_folder(root, splits=("train", "test"), n=12, size=(20, 24)):
    """trainA/trainB/testA/testB of small RGB PNGs: A dark-ish noise, B bright-ish noise."""
    rng = np.random.default_rng(0)
    for split in splits:
        for side, base in (("A", 40), ("B", 180)):
            folder = root / f"{split}{side}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(base + rng.normal(0, 30, (*size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def folder_cfg(root, family="cyclegan") -> Config:
    cfg = Config()
    cfg.model.family = family
    cfg.model.g_width, cfg.model.d_width = 4, 4
    cfg.data.name, cfg.data.path, cfg.data.channels, cfg.data.resolution = "unpaired", str(root), 3, [20, 24]
    cfg.loss.name = "lsgan" if family == "cyclegan" else "nonsaturating"
    cfg.cycle.resnet_blocks, cfg.cycle.d_layers, cfg.cycle.pool_size = 1, 1, 3
    cfg.train.batch_size, cfg.train.steps = 2, 6
    cfg.tricks.lr_schedule = "linear"
    cfg.log.n_samples = 12
    return cfg


# ---------------------------------------------------------------- networks


def test_resnet_generator_shapes_and_range():
    G = ResnetGenerator(1, 3, width=4, n_blocks=2, n_down=2)
    for hw in ((28, 28), (30, 21)):  # 30x21 is padded to 32x24 inside and cropped back
        y = G(torch.randn(2, 1, *hw) * 3)
        assert y.shape == (2, 3, *hw)
        assert y.abs().max() <= 1.0
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in G.modules()) == 1 + 2 + 2 * 2 + 2


def test_disco_nets_shapes():
    G = DiscoGenerator(1, 1, width=4, n_layers=3)
    assert G(torch.randn(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    D = DiscoDiscriminator(1, width=4, n_layers=3)
    assert D(torch.randn(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(GankitError, match="at least 8x8"):
        D(torch.randn(1, 1, 4, 4))


def test_built_cyclegan_networks(tmp_path):
    nets = cyclegan.build_networks(folder_cfg(make_folder(tmp_path)))
    x = torch.rand(2, 3, 20, 24) * 2 - 1
    assert nets["G_AB"](x).shape == x.shape and nets["G_BA"](x).shape == x.shape
    assert nets["D_A"](x).shape == (2, 20 // 2 - 2, 24 // 2 - 2)  # PatchGAN score map, 1 stride-2 layer


# ---------------------------------------------------------------- losses by hand


class Scale(nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = nn.Parameter(torch.tensor(k))

    def forward(self, x):
        return self.k * x


class MeanScore(nn.Module):
    """D(x) = mean of each image: scores known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x.flatten(1).mean(1) + 0 * self.unused


def _hand_family(tmp_path, family_module, family):
    cfg = folder_cfg(make_folder(tmp_path), family)
    cfg.loss.name = "lsgan"
    fam = family_module.build(cfg, CPU, DistEnv())
    fam.networks = {"G_AB": Scale(0.5), "G_BA": Scale(1.5), "D_A": MeanScore(), "D_B": MeanScore()}
    fam.run = dict(fam.networks)
    a, b = torch.full((2, 3, 20, 24), 0.4), torch.full((2, 3, 20, 24), -0.8)
    fam.sampler.next = lambda: (a, b)
    return fam


def test_cyclegan_losses_by_hand(tmp_path):
    fam = _hand_family(tmp_path, cyclegan, "cyclegan")
    stats = fam.train_step()
    # fake_b = 0.5*0.4 = 0.2, rec_a = 1.5*0.2 = 0.3; fake_a = 1.5*-0.8 = -1.2, rec_b = 0.5*-1.2 = -0.6
    assert stats["cycle_l1"].item() == pytest.approx(0.1 + 0.2)
    # G_BA(a) = 0.6 vs 0.4; G_AB(b) = -0.4 vs -0.8
    assert stats["identity_l1"].item() == pytest.approx(0.2 + 0.4)
    # lsgan D: 1/2 (D(real)-1)^2 + 1/2 D(fake)^2; the pool is still filling, so it returns the fresh fakes
    assert stats["d_loss_A"].item() == pytest.approx(0.5 * 0.6**2 + 0.5 * 1.2**2)
    assert stats["d_loss_B"].item() == pytest.approx(0.5 * 1.8**2 + 0.5 * 0.2**2)
    assert stats["g_loss"].item() == pytest.approx(0.5 * 0.8**2 + 0.5 * 2.2**2)


def test_cyclegan_gradient_weights_cycle_and_identity(tmp_path):
    """G_AB's gradient equals d/dk of adv + 10 * cycle + 0.5 * 10 * identity, computed by hand."""
    fam = _hand_family(tmp_path, cyclegan, "cyclegan")
    grads = {}
    fam._update = lambda name, loss: grads.setdefault(name, torch.autograd.grad(loss, fam.networks["G_AB"].k)[0]
                                                      if name == "g" else None)
    fam.train_step()
    k_ab, k_ba, a, b = 0.5, 1.5, 0.4, -0.8
    # adversarial: 1/2 (k_ab * a - 1)^2 -> k_ab's slope (k_ab a - 1) a
    d_adv = (k_ab * a - 1) * a
    # cycle: |k_ba k_ab a - a| + |k_ab k_ba b - b| -> sign * k_ba a + sign * k_ba b
    d_cycle = np.sign(k_ba * k_ab * a - a) * k_ba * a + np.sign(k_ab * k_ba * b - b) * k_ba * b
    d_identity = np.sign(k_ab * b - b) * b  # |k_ab b - b|
    assert grads["g"].item() == pytest.approx(d_adv + 10 * d_cycle + 5 * d_identity)


def test_discogan_losses_by_hand(tmp_path):
    fam = _hand_family(tmp_path, discogan, "discogan")
    stats = fam.train_step()
    assert stats["reconstruction_mse"].item() == pytest.approx(0.1**2 + 0.2**2)  # MSE, both ways
    assert "identity_l1" not in stats
    assert stats["d_loss_A"].item() == pytest.approx(0.5 * 0.6**2 + 0.5 * 1.2**2)  # no pool: fresh fakes


# ---------------------------------------------------------------- image pool


def test_pool_fills_then_swaps_about_half():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as is
    assert pool.count == 4
    old = 0
    for i in range(400):
        new = torch.full((1, 1, 1, 1), 100.0 + i)
        before = pool.images.clone()
        out = pool.query(new)
        if out.item() != new.item():
            old += 1
            assert out.item() in before.flatten().tolist()  # an old fake came back ...
            assert new.item() in pool.images.flatten().tolist()  # ... and the new one took its slot
        else:
            assert torch.equal(pool.images, before)
    assert 0.4 < old / 400 < 0.6


def test_pool_state_round_trip_and_size_zero():
    torch.manual_seed(1)
    pool = ImagePool(3)
    pool.query(torch.randn(5, 2, 2, 2))
    batch = torch.randn(6, 2, 2, 2)
    state, rng = pool.state_dict(), capture_rng()
    expected = pool.query(batch)
    fresh = ImagePool(3)
    fresh.load_state_dict(state)
    restore_rng(rng)
    assert torch.equal(fresh.query(batch), expected)
    with pytest.raises(GankitError, match="pool_size"):
        ImagePool(4).load_state_dict(state)
    x = torch.randn(3, 1, 2, 2)
    assert torch.equal(ImagePool(0).query(x), x)
    with pytest.raises(GankitError):
        ImagePool(-1)


# ---------------------------------------------------------------- data


def test_load_unpaired_and_errors(tmp_path):
    root = make_folder(tmp_path / "d", splits=("train",), n=3)
    a, b = load_unpaired(root, (8, 10), channels=1)
    assert a.images.shape == (3, 1, 8, 10) and b.labels is None
    assert a.images.mean() < b.images.mean()
    with pytest.raises(GankitError, match="testA"):
        load_unpaired(root, 8, 3, split="test")
    (tmp_path / "e" / "trainA").mkdir(parents=True)
    (tmp_path / "e" / "trainB").mkdir()
    with pytest.raises(GankitError, match=r"no usable image in .*trainA"):
        load_unpaired(tmp_path / "e", 8, 3)
    with pytest.raises(GankitError, match="not a directory"):
        load_unpaired(tmp_path / "missing", 8, 3)
    with pytest.raises(GankitError, match="split"):
        load_unpaired(root, 8, 3, split="val")


@pytest.mark.parametrize("classes", [[7, 7], [7, 10], [7], "7,9", [7.0, 9]])
def test_fashion_domains_bad_classes(classes):
    with pytest.raises(GankitError, match="data.domains"):
        load_fashion_domains(classes, "test")


def test_fashion_domains_are_the_classes():
    a, b = load_fashion_domains([7, 9], "test")
    assert len(a) == 1000 and len(b) == 1000
    assert (a.labels == 7).all() and (b.labels == 9).all()


def test_unpaired_sampler_streams_and_state():
    a = ImageData(torch.arange(10.0).view(10, 1, 1, 1), None, None)
    b = ImageData(torch.arange(10.0).view(10, 1, 1, 1), None, None)
    s = UnpairedSampler(a, b, 3, seed=0)
    xa, xb = s.next()
    assert xa.shape == (3, 1, 1, 1) and not torch.equal(xa, xb)  # independent orders
    state = s.state_dict()
    want = [s.next() for _ in range(5)]
    t = UnpairedSampler(a, b, 3, seed=5)
    t.load_state_dict(state)
    for (wa, wb), (ga, gb) in zip(want, [t.next() for _ in range(5)]):
        assert torch.equal(wa, ga) and torch.equal(wb, gb)
    with pytest.raises(GankitError, match="domain B has 2"):
        UnpairedSampler(a, ImageData(torch.zeros(2, 1, 1, 1), None, None), 3, seed=0)


def test_validate_cycle_errors(tmp_path):
    cfg = folder_cfg(tmp_path)
    cfg.data.name = "folder"
    with pytest.raises(GankitError, match="data.name"):
        validate_cycle(cfg)
    cfg = folder_cfg(tmp_path)
    cfg.data.path = ""
    with pytest.raises(GankitError, match="--data"):
        validate_cycle(cfg)
    cfg = folder_cfg(tmp_path)
    cfg.cycle.d_layers = 3  # 20 px is below a 3-layer PatchGAN's 24
    with pytest.raises(GankitError, match="d_layers"):
        validate_cycle(cfg)
    cfg = folder_cfg(tmp_path)
    cfg.cycle.lambda_cycle = -1.0
    with pytest.raises(GankitError, match="lambda_cycle"):
        validate_cycle(cfg)
    cfg = folder_cfg(tmp_path)
    cfg.runtime.precision = "fp16"
    with pytest.raises(GankitError, match="bf16"):
        cyclegan.build(cfg, CPU, DistEnv())


# ---------------------------------------------------------------- smoke and resume


@pytest.mark.parametrize("module,family", [(cyclegan, "cyclegan"), (discogan, "discogan")])
def test_smoke_train_sample_eval(tmp_path, module, family):
    cfg = folder_cfg(make_folder(tmp_path / "data"), family)
    torch.manual_seed(0)
    fam = module.build(cfg, CPU, DistEnv())
    before = {k: v.clone() for k, v in fam.networks["G_AB"].state_dict().items()}
    for _ in range(2):
        stats = fam.train_step()
    assert all(torch.isfinite(v) for v in stats.values())
    assert any(not torch.equal(before[k], v) for k, v in fam.networks["G_AB"].state_dict().items())
    fam.write_samples(tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").size[0] > 6 * 24  # six columns: a | ab | aba | b | ba | bab
    result, key, lower = fam.evaluate(seed=0)
    assert key == "cycle_l1" and lower and result["protocol"]["split"].startswith("validation")
    state = {"config": {}, **{k: v.state_dict() for k, v in fam.networks.items()}}
    G = module.load_output_network(cfg, state, CPU, "BtoA")
    assert torch.equal(G.state_dict()["net.0.weight" if family == "discogan" else "net.1.weight"],
                       fam.networks["G_BA"].state_dict()["net.0.weight" if family == "discogan" else "net.1.weight"])
    with pytest.raises(GankitError, match="direction"):
        module.load_output_network(cfg, state, CPU, "AtoA")
    assert module.input_shape(cfg) == (3, 20, 24)
    scores = module.evaluate_checkpoint(cfg, state, CPU, SimpleNamespace(n=5, seed=0, split="test"))
    assert scores["protocol"]["n_A"] == 5 and scores["cycle_l1_A"] >= 0


def test_fashion_evaluate_reports_target_share():
    cfg = Config()
    cfg.model.family, cfg.model.g_width, cfg.model.d_width = "cyclegan", 4, 4
    cfg.data.name, cfg.data.domains = "fashion-mnist", [7, 9]
    cfg.cycle.resnet_blocks, cfg.cycle.d_layers = 1, 2
    cfg.eval.n = 20
    fam = cyclegan.build(cfg, CPU, DistEnv())
    sneakers = len(load_fashion_domains([7, 9], "train")[0])
    assert len(fam.val_a) == 500 and len(fam.sampler.a.images) == sneakers - 500  # 500 held out
    result, key, lower = fam.evaluate(seed=0)
    assert key == "target_share" and not lower
    assert 0 <= result["target_share_AtoB"] <= 1 and "fid_BtoA" in result and result["protocol"]["n_A"] == 20


def _capture(fam):
    return {"networks": {k: {n: t.clone() for n, t in v.state_dict().items()} for k, v in fam.networks.items()},
            "optimizers": {k: o.state_dict() for k, o in fam.optimizers.items()},
            "family": fam.state_dict(), "sampler": fam.sampler.state_dict(), "rng": capture_rng()}


def _restore(fam, saved):
    for k, v in fam.networks.items():
        v.load_state_dict(saved["networks"][k])
    for k, o in fam.optimizers.items():
        o.load_state_dict(saved["optimizers"][k])
    fam.load_state_dict(saved["family"])
    fam.sampler.load_state_dict(saved["sampler"])
    restore_rng(saved["rng"])


@pytest.mark.parametrize("module,family", [(cyclegan, "cyclegan"), (discogan, "discogan")])
def test_resume_is_bit_exact(tmp_path, module, family):
    import copy

    cfg = folder_cfg(make_folder(tmp_path), family)
    n = 3  # batch 2 fills the 3-image pools in step 2, so step 3+ draws the pool's random swaps
    torch.manual_seed(0)
    straight = module.build(cfg, CPU, DistEnv())
    for _ in range(2 * n):
        straight.train_step()
    torch.manual_seed(0)
    first = module.build(cfg, CPU, DistEnv())
    for _ in range(n):
        first.train_step()
    saved = copy.deepcopy(_capture(first))
    torch.manual_seed(123)  # the resumed process starts from another RNG state
    resumed = module.build(cfg, CPU, DistEnv())
    _restore(resumed, saved)
    for _ in range(n):
        resumed.train_step()
    for name, net in straight.networks.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.networks[name].state_dict()[key]), (name, key)
    assert resumed.optimizers["g"].param_groups[0]["lr"] == straight.optimizers["g"].param_groups[0]["lr"] < 2e-4
    if family == "cyclegan":
        assert torch.equal(straight.pools["A"].images, resumed.pools["A"].images)
