"""EBGAN and BEGAN: losses against hand-computed values, the k_t controller, the networks, the
families through the CLI, and bit-exact resume with k_t mid-run."""

import math

import pytest
import torch

from gankit.cli import main
from gankit.config import resolve
from gankit.energy import (began_k_update, d_began, d_ebgan, g_began, g_ebgan, l1_energy, m_global, mse_energy,
                           pull_away)
from gankit.errors import GankitError
from gankit.models.autoencoder import AutoencoderDiscriminator, BEGANGenerator
from gankit.models.infogan import InfoGANAutoencoder
from gankit.train.checkpoint import load_checkpoint

TINY = ["--no-progress", "--threads", "1", "--set", "model.g_width=4", "--set", "model.d_width=4",
        "--set", "train.batch_size=8", "--set", "data.limit=64", "--set", "log.every=1",
        "--set", "log.n_samples=4", "--set", "watch.enabled=false", "--set", "log.report=false"]


def test_energies_are_per_image_means_of_squared_and_absolute_errors():
    x = torch.tensor([[[[1.0, -1.0]]], [[[0.0, 0.0]]]])  # [2, 1, 1, 2]
    recon = torch.tensor([[[[0.0, 1.0]]], [[[0.5, -0.5]]]])
    assert torch.allclose(mse_energy(x, recon), torch.tensor([(1 + 4) / 2, (0.25 + 0.25) / 2]))
    assert torch.allclose(l1_energy(x, recon), torch.tensor([(1 + 2) / 2, (0.5 + 0.5) / 2]))


def test_ebgan_margin_loss_by_hand():
    real = torch.tensor([0.2, 0.4])
    fake = torch.tensor([0.5, 3.0])  # the second fake is past the margin: it contributes nothing
    # mean real 0.3; hinge: max(0, 1 - 0.5) = 0.5 and max(0, 1 - 3) = 0 -> mean 0.25
    assert d_ebgan(real, fake, margin=1.0).item() == pytest.approx(0.55)
    assert g_ebgan(fake).item() == pytest.approx(1.75)
    # D's gradient reaches only the fake inside the margin, with -1/N
    fake_var = fake.clone().requires_grad_(True)
    d_ebgan(real, fake_var, margin=1.0).backward()
    assert torch.allclose(fake_var.grad, torch.tensor([-0.5, 0.0]))


def test_pull_away_term_by_hand():
    # Codes (1, 0), (1, 1), (0, 2): squared cosines 1/2 (1-2), 0 (1-3), 1/2 (2-3), each pair counted twice.
    codes = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert pull_away(codes).item() == pytest.approx(2 * (0.5 + 0.0 + 0.5) / (3 * 2))
    assert pull_away(torch.tensor([[1.0, 2.0], [2.0, 4.0]])).item() == pytest.approx(1.0)  # collapsed
    assert pull_away(torch.eye(4)).item() == pytest.approx(0.0)  # orthogonal
    with pytest.raises(ValueError):
        pull_away(torch.ones(1, 3))


def test_began_losses_k_update_clipping_and_m_global():
    real, fake = torch.tensor(0.4), torch.tensor(0.1)
    k = torch.tensor(0.25)
    assert d_began(real, fake, k).item() == pytest.approx(0.4 - 0.25 * 0.1)
    assert g_began(fake).item() == pytest.approx(0.1)
    # k + lambda (gamma L(x) - L(G(z))) = 0.25 + 0.01 * (0.5 * 0.4 - 0.1) = 0.251
    assert began_k_update(k, real, fake, gamma=0.5, lambda_k=0.01).item() == pytest.approx(0.251)
    assert began_k_update(torch.tensor(0.999), real, fake, 0.5, 1.0).item() == 1.0  # clipped above
    assert began_k_update(torch.tensor(0.001), real, torch.tensor(0.9), 0.5, 1.0).item() == 0.0  # and below
    # clip=False (Lucic et al.'s code): k leaves [0, 1] both ways
    assert began_k_update(torch.tensor(0.001), real, torch.tensor(0.9), 0.5, 1.0, clip=False).item() == pytest.approx(-0.699)
    assert began_k_update(torch.tensor(0.999), real, fake, 0.5, 1.0, clip=False).item() == pytest.approx(1.099)
    # M_global = L(x) + |gamma L(x) - L(G(z))| = 0.4 + |0.2 - 0.1|
    assert m_global(real, fake, 0.5).item() == pytest.approx(0.5)
    assert m_global(real, torch.tensor(0.3), 0.5).item() == pytest.approx(0.5)  # the absolute value


def test_autoencoder_and_began_generator_shapes_ranges_and_determinism():
    torch.manual_seed(0)
    for shape in ((1, 28, 28), (3, 32, 48)):
        D = AutoencoderDiscriminator(shape, 4, code_dim=5, convs=1)
        x = torch.rand(3, *shape) * 2 - 1
        recon, code = D(x)
        assert recon.shape == x.shape and code.shape == (3, 5)
        assert torch.equal(D(x)[0], recon)
        G = BEGANGenerator(6, shape, 4)
        out = G(torch.randn(3, 6))
        assert out.shape == (3, *shape) and out.abs().max() <= 1
    with pytest.raises(GankitError):
        AutoencoderDiscriminator((1, 28, 28), 4, norm="group")
    with pytest.raises(GankitError):
        G(torch.randn(2, 6), torch.tensor([0, 1]))  # unconditional


def test_infogan_autoencoder_shapes_ranges_norms_and_determinism():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    for norm, batch_norms in (("none", 0), ("batch", 3)):
        D = InfoGANAutoencoder((1, 28, 28), 8, code_dim=5, norm=norm).eval()
        recon, code = D(x)
        assert recon.shape == x.shape and code.shape == (3, 5) and recon.abs().max() <= 1
        assert torch.equal(D(x)[0], recon)
        assert sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules()) == batch_norms
    # Lucic et al.'s code: two convs (64, 128), a 64-unit code and the mirrored decoder: ~1.07M weights.
    assert sum(p.numel() for p in InfoGANAutoencoder((1, 28, 28)).parameters()) == 1_073_601
    with pytest.raises(GankitError, match="28, 28"):
        InfoGANAutoencoder((1, 32, 32))
    with pytest.raises(GankitError, match="norm"):
        InfoGANAutoencoder((1, 28, 28), norm="group")


def test_began_n_critic_steps_d_and_k_per_batch_and_g_once():
    from types import SimpleNamespace

    from gankit.families import began

    cfg = resolve("began-fashion", None, ["model.g_width=4", "model.d_width=4", "train.batch_size=8", "data.limit=64",
                                         "began.networks=infogan", "train.n_critic=3", "began.lambda_k=0.5"])
    torch.manual_seed(0)
    family = began.build(cfg, torch.device("cpu"), SimpleNamespace(rank=0, world_size=1, enabled=False))
    assert type(family.G).__name__ == "InfoGANGenerator" and type(family.D).__name__ == "InfoGANAutoencoder"
    calls = {"batches": 0, "k_updates": 0}
    next_batch, after_d_step = family.data.next_batch, family.after_d_step

    def counted_batch():
        calls["batches"] += 1
        return next_batch()

    def counted_update():
        calls["k_updates"] += 1
        return after_d_step()

    family.data.next_batch, family.after_d_step = counted_batch, counted_update
    family.train_step()
    assert calls == {"batches": 3, "k_updates": 3} and family.images_per_step == 24
    steps = lambda opt: {int(state["step"]) for state in opt.state.values()}  # noqa: E731
    assert steps(family.opt_d) == {3} and steps(family.opt_g) == {1}
    assert 0 < family.k.item() <= 1


def test_began_family_updates_k_from_the_step_losses():
    cfg = resolve("began-fashion", None, ["model.g_width=4", "model.d_width=4", "train.batch_size=8", "data.limit=32",
                                         "began.lambda_k=0.5", "began.k_init=0.1"])
    from types import SimpleNamespace

    from gankit.families import began

    torch.manual_seed(0)
    family = began.build(cfg, torch.device("cpu"), SimpleNamespace(rank=0, world_size=1, enabled=False))
    stats = family.train_step()
    expected_k = min(1.0, max(0.0, 0.1 + 0.5 * (0.5 * stats["real_loss"].item() - stats["fake_loss"].item())))
    assert stats["k_t"].item() == pytest.approx(0.1)  # the k the D step used
    assert family.k.item() == pytest.approx(expected_k, abs=1e-6)
    assert stats["m_global"].item() == pytest.approx(
        stats["real_loss"].item() + abs(0.5 * stats["real_loss"].item() - stats["fake_loss"].item()), rel=1e-5)
    assert stats["d_loss"].item() == pytest.approx(stats["real_loss"].item() - 0.1 * stats["fake_loss"].item(), rel=1e-5)


def test_began_clip_k_false_lets_k_go_below_zero_and_resumes_it():
    cfg = resolve("began-fashion", None, ["model.g_width=4", "model.d_width=4", "train.batch_size=8", "data.limit=32",
                                         "began.lambda_k=2.0", "began.gamma=0.1", "began.clip_k=false"])
    from types import SimpleNamespace

    from gankit.families import began

    torch.manual_seed(0)
    family = began.build(cfg, torch.device("cpu"), SimpleNamespace(rank=0, world_size=1, enabled=False))
    stats = family.train_step()
    expected_k = 2.0 * (0.1 * stats["real_loss"].item() - stats["fake_loss"].item())
    assert expected_k < 0 and family.k.item() == pytest.approx(expected_k, abs=1e-6)  # not clipped to 0
    state = family.state_dict()
    family.k = torch.tensor(0.5)
    family.load_state_dict(state)
    assert family.k.item() == pytest.approx(expected_k, abs=1e-6)


@pytest.mark.parametrize("preset, extra", [
    ("ebgan-fashion", []),
    ("began-fashion", []),
    ("began-fashion", ["--set", "began.networks=infogan", "--set", "train.n_critic=2"]),  # Lucic et al.'s BEGAN
])
def test_cli_train_sample_and_bit_exact_resume(tmp_path, preset, extra):
    common = ["--preset", preset, *TINY, *extra]
    if preset == "began-fashion":
        common += ["--set", "began.lambda_k=0.05"]  # k_t moves off 0 within a few steps
    assert main(["train", *common, "--out", str(tmp_path / "full"), "--steps", "6"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--steps", "3"]) == 0
    half = load_checkpoint(tmp_path / "half" / "checkpoints" / "latest.pt")
    if preset == "began-fashion":
        assert 0 < half["family"]["k_t"].item() < 1  # resumed mid-run with k_t away from its start
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "6", "--no-progress"]) == 0
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    b = load_checkpoint(tmp_path / "half" / "checkpoints" / "latest.pt")
    for name in ("G", "D"):
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key}"
    for name in ("opt_g", "opt_d"):
        for pid, sa in a[name]["state"].items():
            for key, value in sa.items():
                assert torch.equal(value, b[name]["state"][pid][key]), f"{name}.{pid}.{key}"
    if preset == "began-fashion":
        assert torch.equal(a["family"]["k_t"], b["family"]["k_t"])
    assert main(["sample", str(tmp_path / "full"), "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0


def test_began_logs_m_global_and_k_t_every_line(tmp_path):
    import json

    assert main(["train", "--preset", "began-fashion", *TINY, "--out", str(tmp_path / "r"), "--steps", "3"]) == 0
    lines = [json.loads(s) for s in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "event" not in line]
    assert len(steps) == 3 and all(math.isfinite(line["m_global"]) and "k_t" in line for line in steps)


@pytest.mark.parametrize("sets, needle", [
    (["ebgan.margin=0"], "ebgan.margin"),
    (["ebgan.pullaway_weight=-1"], "ebgan.pullaway_weight"),
    (["tricks.pack=2"], "tricks.pack"),
    (["model.d_options={width: 3}"], "model.d_options"),
    (["ebgan.convs=0"], "ebgan.convs"),
])
def test_ebgan_bad_settings_are_one_line_errors(sets, needle):
    from gankit.families import validate_family

    with pytest.raises(GankitError, match=needle):
        validate_family(resolve("ebgan-fashion", None, sets))


@pytest.mark.parametrize("sets, needle", [
    (["began.gamma=0"], "began.gamma"),
    (["began.k_init=1.5"], "began.k_init"),
    (["began.lambda_k=-0.1"], "began.lambda_k"),
    (["model.conditioning=cgan"], "unconditional"),
    (["data.resolution=36"], "autoencoder"),
    (["began.networks=dcgan"], "began.networks"),
    (["began.networks=infogan", "data.resolution=32"], "28, 28"),
    (["began.clip_k=maybe"], "began.clip_k"),
])
def test_began_bad_settings_are_one_line_errors(sets, needle):
    from gankit.families import validate_family

    with pytest.raises(GankitError, match=needle):
        validate_family(resolve("began-fashion", None, sets))
