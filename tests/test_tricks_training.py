"""Tricks inside the trainer: penalties against hand-computed gradients, lazy interval,
noisy labels, feature matching, unrolled D, resume with schedules, and config errors."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.cli import main
from gankit.config import resolve
from gankit.errors import GankitError
from gankit.models import MODELS
from gankit.penalties import dragan
from gankit.families.gan import GANTrainer
from gankit.families.gan_tricks import FeatureMatching, GradientPenalty, LabelFlip, TopK, Unrolled
from gankit.train.checkpoint import load_checkpoint


class LinearD(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, c=None):
        return x.flatten(1) @ self.w

    def features(self, x, c=None):
        return x.flatten(1) * self.w


def test_dragan_on_linear_d_is_closed_form():
    D = LinearD([3.0, 4.0])  # gradient w everywhere, ||w|| = 5
    assert dragan(D, torch.randn(8, 2), torch.randn(8, 2)).item() == pytest.approx(16.0, rel=1e-6)


def test_dragan_perturbs_reals_as_stated():
    class QuadraticD(nn.Module):
        def forward(self, x, c=None):
            return (x**2).sum(1)

    real = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    torch.manual_seed(0)
    got = dragan(QuadraticD(), real, real).item()
    torch.manual_seed(0)
    delta = 0.5 * real.std() * torch.rand_like(real)
    alpha = torch.rand(3, 1)
    x_hat = real + alpha * delta
    assert got == pytest.approx(((2 * x_hat).norm(dim=1) - 1).pow(2).mean().item(), rel=1e-6)


def _trainer(**kwargs):
    torch.manual_seed(0)
    G = MODELS["mlp"][0](4, (2,), 16, batchnorm=False)
    D = MODELS["mlp"][1]((2,), 16)
    return GANTrainer(G, D, torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3), **kwargs)


def test_lazy_penalty_runs_every_k_steps_with_k_times_the_weight():
    calls = []

    def penalty(D, real, fake, c):
        calls.append(1)
        return D(real).sum() * 0 + 1.0

    trainer = _trainer(tricks=[GradientPenalty(penalty, 2.0, every=3)])
    with_penalty = ["penalty" in trainer.d_step(torch.randn(4, 2)) for _ in range(6)]
    assert with_penalty == [True, False, False, True, False, False] and len(calls) == 2
    torch.manual_seed(1)  # same data for both
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    trainer.d_updates = 6  # a penalty step (6 % 3 == 0) ...
    loss, _ = trainer.d_objective(trainer.D, real, fake, None)
    trainer.d_updates = 7  # ... and one without
    plain, _ = trainer.d_objective(trainer.D, real, fake, None)
    assert (loss - plain).item() == pytest.approx(3 * 2.0 * 1.0)


def test_label_flip_swaps_real_and_fake_scores():
    seen = {}

    def d_loss(real_scores, fake_scores):
        seen["real"] = real_scores
        return fake_scores.mean() - real_scores.mean()

    trainer = _trainer(loss=(d_loss, lambda f, r=None: -f.mean()), tricks=[LabelFlip(0.45)])
    trainer.D = LinearD([1.0, 0.0])
    trainer.d_step(torch.full((200, 2), 5.0), fake=torch.full((200, 2), -5.0))
    flipped = (seen["real"] == -5.0).float().mean().item()
    assert 0.3 < flipped < 0.6 and set(seen["real"].tolist()) == {5.0, -5.0}


def test_feature_matching_term_matches_hand_computation():
    trainer = _trainer(tricks=[FeatureMatching(2.0)])
    trainer.D = LinearD([1.0, -2.0])
    trainer._d_trainable = list(trainer.D.parameters())
    real = torch.randn(8, 2)
    fake = trainer.G(torch.randn(8, 4))
    expected = ((fake.detach() * trainer.D.w).mean(0) - (real * trainer.D.w).mean(0)).pow(2).sum()
    stats = trainer.g_step(8, fake=fake, real=real)
    assert stats["feature_matching"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_unrolled_g_step_uses_k_step_copy_of_d_and_leaves_d_alone():
    k, real = 3, torch.randn(8, 2)
    trainer = _trainer(tricks=[Unrolled(k)])
    trainer.d_step(torch.randn(8, 2))  # give the optimizer some state to copy
    G0, D0 = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
    opt_d_state = copy.deepcopy(trainer.opt_d.state_dict())
    torch.manual_seed(5)
    trainer.g_step(8, real=real)
    for a, b in zip(D0.parameters(), trainer.D.parameters()):
        assert torch.equal(a, b)
    # By hand: advance a copy of D k steps with the same draws, then one G step against it.
    D, G = copy.deepcopy(D0), G0
    opt = torch.optim.Adam(D.parameters(), 1e-3)
    opt.load_state_dict(opt_d_state)
    opt_g = torch.optim.Adam(G.parameters(), 1e-3)
    torch.manual_seed(5)
    for _ in range(k):
        with torch.no_grad():
            fake = G(torch.randn(8, 4))
        loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    g_loss = F.softplus(-D(G(torch.randn(8, 4)))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    for a, b in zip(G.parameters(), trainer.G.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


class FixedG(nn.Module):
    """A 'generator' whose outputs are its parameters, so each fake's gradient is visible by row."""

    z_dim = 1

    def __init__(self, rows):
        super().__init__()
        self.x = nn.Parameter(torch.tensor(rows))

    def forward(self, z, c=None):
        return self.x * 1.0


def test_topk_only_the_fakes_d_scores_highest_get_gradient():
    G = FixedG([[1.0, 0.0], [4.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    D = LinearD([1.0, 0.0])  # score = first coordinate
    trainer = GANTrainer(G, D, torch.optim.SGD(G.parameters(), 0.0), torch.optim.SGD(D.parameters(), 0.0),
                         tricks=[TopK(0.5, 0.5, 1)])
    trainer.g_updates = 1  # share 0.5 -> the 2 fakes with scores 4 and 3
    loss, _ = trainer.g_objective(D, G(None), None, None)
    loss.backward()
    grad_rows = G.x.grad[:, 0]
    assert (grad_rows[[0, 2]] == 0).all() and (grad_rows[[1, 3]] != 0).all()
    assert loss.item() == pytest.approx(F.softplus(-torch.tensor([4.0, 3.0])).mean().item())


def test_topk_keeps_each_fakes_real_partner_for_pairwise_losses():
    seen = {}

    def g_loss(fake_scores, real_scores=None):
        seen["pairs"] = torch.stack([fake_scores, real_scores], 1).tolist()
        return (real_scores - fake_scores).mean()

    trainer = _trainer(loss=(lambda r, f: f.mean(), g_loss), tricks=[TopK(0.5, 0.5, 1)])
    trainer.D, trainer.g_updates = LinearD([1.0, 0.0]), 1
    fake = torch.tensor([[1.0, 0.0], [4.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    trainer.g_objective(trainer.D, fake, fake + 10, None)
    assert seen["pairs"] == [[4.0, 14.0], [3.0, 13.0]]


def test_topk_schedule_decays_per_interval_to_the_floor_and_off_is_all():
    topk = TopK(0.5, 0.9, 10)
    shares = [topk.fraction(g_updates) for g_updates in (0, 9, 10, 25, 69, 70, 10_000)]
    assert shares == pytest.approx([1.0, 1.0, 0.9, 0.81, 0.9**6, 0.5, 0.5])
    fake_scores = torch.arange(256.0)
    assert topk.g_scores(fake_scores, None, 10_000)[0].shape == (128,)  # 0.5 x 256, not 129
    off = TopK(1.0, 0.5, 1)
    assert off.fraction(10_000) == 1.0 and torch.equal(off.g_scores(fake_scores, None, 10_000)[0], fake_scores)


def test_topk_off_leaves_g_loss_unchanged():
    fake, real = torch.randn(16, 2), torch.randn(16, 2)
    plain, topk_off = _trainer(), _trainer(tricks=[TopK(1.0, 0.5, 1)])
    topk_off.g_updates = 50
    a, _ = plain.g_objective(plain.D, fake, real, None)
    b, _ = topk_off.g_objective(topk_off.D, fake, real, None)
    assert torch.equal(a, b)


def test_resume_is_bit_exact_with_topk(tmp_path):
    common = ["--preset", "toy-grid", "--no-progress", "--set", "train.batch_size=16", "--set", "model.g_width=16",
              "--set", "model.d_width=16", "--set", "tricks.topk_min=0.5", "--set", "tricks.topk_decay=0.7",
              "--set", "tricks.topk_every=2", "--set", "tricks.schedule_steps=8"]  # LR horizon fixed across the resume
    assert main(["train", *common, "--out", str(tmp_path / "full"), "--steps", "8"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--steps", "4"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "8", "--no-progress"]) == 0
    _assert_same_weights(load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half"))


def _assert_same_weights(a, b):
    for key in ("G", "D"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"


def test_resume_is_bit_exact_with_schedule_noise_flips_and_lazy_penalty(tmp_path):
    common = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=16", "--set", "model.g_width=16",
              "--set", "model.d_width=16", "--set", "tricks.lr_schedule=linear", "--set", "tricks.schedule_steps=8",
              "--set", "tricks.instance_noise=0.1", "--set", "tricks.label_flip=0.2", "--set", "loss.penalty=dragan",
              "--set", "tricks.penalty_every=3", "--set", "tricks.pack=2", "--set", "tricks.spectral_norm_d=true",
              "--set", "tricks.unrolled_steps=1", "--set", "tricks.g_norm=virtual"]
    assert main(["train", *common, "--out", str(tmp_path / "full"), "--steps", "8"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--steps", "4"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "8", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    _assert_same_weights(full, resumed)
    assert resumed["family"]["trainer"]["schedulers"][0]["last_epoch"] == 8
    assert full["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-4 * 0.0)  # decayed to lr_final = 0


def test_resume_is_bit_exact_with_diffaugment(tmp_path, tiny_digits_args):
    args = [*tiny_digits_args, "--set", "tricks.augment=color,translation,cutout", "--set", "tricks.minibatch=stddev",
            "--set", "tricks.schedule_steps=4",
            "--set", "tricks.feature_matching=0.1", "--set", "tricks.instance_noise=0.05"]
    assert main(["train", *args, "--out", str(tmp_path / "full"), "--steps", "4"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "half"), "--steps", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "4"]) == 0
    _assert_same_weights(load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half"))


@pytest.mark.parametrize("sets,message", [
    (["tricks.minibatch=mbdx"], "tricks.minibatch 'mbdx' is unknown"),
    (["tricks.g_norm=layer"], "tricks.g_norm 'layer' is unknown"),
    (["tricks.lr_schedule=cosine"], "tricks.lr_schedule 'cosine' is unknown"),
    (["tricks.pack=3"], "tricks.pack=3 must divide train.batch_size"),
    (["tricks.pack=0"], "tricks.pack must be >= 1"),
    (["tricks.augment=translation"], "needs image data"),
    (["tricks.label_flip=0.7"], "tricks.label_flip must be in"),
    (["tricks.unrolled_steps=-1"], "tricks.unrolled_steps must be >= 0"),
    (["tricks.penalty_every=0"], "tricks.penalty_every must be >= 1"),
    (["tricks.lr_final=2"], "tricks.lr_final must be in"),
    (["tricks.stddev_group=1"], "tricks.stddev_group must be >= 2"),
    (["tricks.topk_min=0"], "tricks.topk_min must be in"),
    (["tricks.topk_decay=1.5"], "tricks.topk_decay must be in"),
    (["tricks.topk_every=0"], "tricks.topk_every must be >= 1"),
])
def test_bad_trick_settings_are_one_line_errors(sets, message):
    with pytest.raises(GankitError, match=message) as err:
        resolve("toy-ring", None, sets)
    assert "\n" not in str(err.value)


def test_bad_augment_policy_and_g_norm_without_bn_exit_2(tmp_path, capsys, tiny_digits_args):
    assert main(["train", *tiny_digits_args, "--set", "tricks.augment=rotate", "--out", str(tmp_path / "a")]) == 2
    assert "tricks.augment 'rotate' is unknown" in capsys.readouterr().err
    args = ["train", "--preset", "toy-ring", "--set", "tricks.g_norm=virtual", "--set", "model.g_options={batchnorm: false}"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    assert "needs a G with batch norm" in capsys.readouterr().err


def _toy_presets():
    from gankit.config import list_presets

    return [name for name in list_presets() if name.startswith("toy-")]


@pytest.mark.parametrize("preset", _toy_presets())
def test_every_toy_preset_trick_combination_trains(preset, tmp_path):
    """Smoke run of each comparison preset's tricks (tiny widths, 2 steps) and a sample from it."""
    args = ["train", "--preset", preset, "--no-progress", "--steps", "2", "--set", "model.g_width=8",
            "--set", "model.d_width=8", "--set", "train.batch_size=32", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    assert main(["sample", str(tmp_path / "r"), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0


def test_bench_modes_writes_table_json_and_figure(tmp_path, capsys):
    import json

    args = ["bench", "modes", "--presets", "toy-ring,toy-grid-pacgan2", "--seeds", "2", "--out", str(tmp_path),
            "--set", "train.steps=3", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--set", "train.batch_size=32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| toy-ring | plain | 2 |" in out and "toy-grid-pacgan2 seed 1:" in out
    written = json.loads((tmp_path / "modes.json").read_text())
    summary = written["summary"]
    assert [row["preset"] for row in summary] == ["toy-ring", "toy-grid-pacgan2"]
    assert "GFLOP/s" in out.splitlines()[0] and written["matmul_gflops"] > 0  # machine speed beside the timings
    assert summary[1]["num_modes"] == 25 and 0 <= summary[1]["modes"] <= 25
    assert (tmp_path / "modes.png").stat().st_size > 0 and (tmp_path / "modes.md").is_file()


def test_bench_modes_rejects_image_presets(tmp_path, capsys):
    assert main(["bench", "modes", "--presets", "dcgan-digits", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "not a 2-D toy mixture" in capsys.readouterr().err


def _early_full_and_resumed_runs(tmp_path, common: list[str], early: int, steps: int) -> dict:
    """Train `common` for `early` steps ("early") and `steps` ("full"), and `early` + a resume to `steps` ("half");
    checks that the resumed run ends bit-exact with the full one. Returns the resumed checkpoint."""
    assert main(["train", *common, "--out", str(tmp_path / "early"), "--steps", str(early)]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "full"), "--steps", str(steps)]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--steps", str(early)]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", str(steps), "--no-progress"]) == 0
    resumed = load_checkpoint(tmp_path / "half")
    _assert_same_weights(load_checkpoint(tmp_path / "full"), resumed)
    return resumed


def test_latent_truncation_switches_on_mid_run_reaches_g_ema_and_resumes_exactly(tmp_path):
    from gankit.families import load_generator
    from gankit.models.latent import LatentMixtureG

    common = ["--preset", "toy-grid", "--no-progress", "--set", "train.batch_size=16", "--set", "model.g_width=16",
              "--set", "model.d_width=16", "--set", "tricks.schedule_steps=8", "--set", "train.ema_kimg=0.1",
              "--set", "tricks.latent_mixture_truncation=1.5", "--set", "tricks.latent_mixture_truncation_start=0.5"]
    resumed = _early_full_and_resumed_runs(tmp_path, common, early=3, steps=8)
    assert resumed["family"]["trainer"]["schedulers"][2] == {"steps": 8}
    z = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    for run, truncating in (("early", False), ("full", True)):  # switch after 0.5 x 8 = 4 steps
        for no_ema in (True, False):
            G, _, _, _ = load_generator(tmp_path / run, "cpu", no_ema=no_ema)
            mixture = next(m for m in G.modules() if isinstance(m, LatentMixtureG))
            assert bool(mixture.truncating) is truncating
            component = (torch.special.ndtr(z[:, 0]) * mixture.components).floor().long()
            largest = ((mixture.mixture_latents(z) - mixture.means[component]) / mixture.std).abs().max()
            assert bool(largest <= 1.5 + 1e-4) is truncating  # untruncated normals pass 1.5 stds often in 20k draws


def test_latent_mixture_loads_a_state_saved_before_the_truncation_switch_existed():
    from gankit.models.latent import LatentMixtureG

    old = LatentMixtureG(MODELS["mlp"][0](2, (2,), 8), components=4, std=0.1, truncation=2.0)
    state = {k: v for k, v in old.state_dict().items() if k != "truncating"}
    for truncation in (0.0, 2.0):
        new = LatentMixtureG(MODELS["mlp"][0](2, (2,), 8), components=4, std=0.1, truncation=truncation,
                             truncate_now=False)
        new.load_state_dict(state)  # strict: the missing flag is filled in, as such checkpoints trained
        assert bool(new.truncating) is (truncation > 0)


def test_std_anneal_is_linear_between_its_steps():
    from gankit.models.latent import LatentMixtureG, StdAnneal

    mixture = LatentMixtureG(MODELS["mlp"][0](2, (2,), 8), components=4, std=0.1)
    anneal = StdAnneal(mixture, initial=0.1, final=0.05, start_step=2, end_step=6)
    seen = []
    for _ in range(8):
        anneal.step()
        seen.append(round(float(mixture.std), 6))
    assert seen == [0.1, 0.1, 0.0875, 0.075, 0.0625, 0.05, 0.05, 0.05]
    z = torch.randn(50_000, 2, generator=torch.Generator().manual_seed(0))
    component = (torch.special.ndtr(z[:, 0]) * mixture.components).floor().long()
    offsets = mixture.mixture_latents(z) - mixture.means[component]
    assert abs(float(offsets.std()) - 0.05) < 1e-3  # the samples follow the buffer
    with pytest.raises(GankitError, match="latent_mixture_std_final must be > 0"):
        StdAnneal(mixture, 0.1, 0.0, 0, 4)


def test_std_anneal_reaches_g_ema_checkpoints_and_resumes_exactly(tmp_path):
    from gankit.families import load_generator
    from gankit.models.latent import LatentMixtureG

    common = ["--preset", "toy-grid", "--no-progress", "--set", "train.batch_size=16", "--set", "model.g_width=16",
              "--set", "model.d_width=16", "--set", "tricks.schedule_steps=10", "--set", "train.ema_kimg=0.1",
              "--set", "tricks.latent_mixture_std_final=0.05", "--set", "tricks.latent_mixture_anneal_start=0.2",
              "--set", "tricks.latent_mixture_anneal_end=0.6"]
    _early_full_and_resumed_runs(tmp_path, common, early=4, steps=8)
    # 0.1 until step 2, 0.05 from step 6. G holds the std for its next step; G_ema, updated within the step,
    # the std that G's last step trained with.
    for run, no_ema, std in (("early", True, 0.075), ("early", False, 0.0875), ("full", True, 0.05), ("full", False, 0.05)):
        G, _, _, _ = load_generator(tmp_path / run, "cpu", no_ema=no_ema)
        mixture = next(m for m in G.modules() if isinstance(m, LatentMixtureG))
        assert float(mixture.std) == pytest.approx(std)


def test_latent_mixture_loads_a_state_saved_before_its_std_was_a_buffer():
    from gankit.models.latent import LatentMixtureG

    old = LatentMixtureG(MODELS["mlp"][0](2, (2,), 8), components=4, std=0.1)
    state = {k: v for k, v in old.state_dict().items() if k not in ("std", "truncating")}
    new = LatentMixtureG(MODELS["mlp"][0](2, (2,), 8), components=4, std=0.3)
    new.load_state_dict(state)  # strict: the missing std is the configured constant, as such checkpoints trained
    assert float(new.std) == pytest.approx(0.3)


@pytest.mark.parametrize("sets, message", [
    (["tricks.latent_mixture_std_final=-1"], "latent_mixture_std_final must be >= 0"),
    (["tricks.latent_mixture=0", "tricks.latent_mixture_std_final=0.05"], "needs tricks.latent_mixture >= 2"),
    (["tricks.latent_mixture_anneal_start=0.8", "tricks.latent_mixture_anneal_end=0.5"], "0 <= start < end <= 1"),
])
def test_std_anneal_config_errors(sets, message, tmp_path, capsys):
    args = ["train", "--preset", "toy-grid", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_bench_modes_scores_as_the_run_samples_and_rescores_at_another_truncation(tmp_path, capsys):
    import json

    args = ["bench", "modes", "--presets", "toy-grid", "--seeds", "1", "--out", str(tmp_path), "--truncation", "0",
            "--threads", "1", "--set", "train.steps=40", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--set", "train.batch_size=32", "--set", "tricks.sample_truncation=0.5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(sampled at T=0.5)" in out and "; at T=0:" in out and "| toy-grid | T=0.5 | 1 |" in out
    assert "% HQ, plain" in out
    written = json.loads((tmp_path / "modes.json").read_text())
    run, row = written["runs"][0], written["summary"][0]
    assert run["truncation"] == 0.5 and written["truncation"] == 0
    assert set(run["rescored"]) == {"modes", "hq_fraction", "reverse_kl"}
    assert row["rescored"]["hq_percent"] == pytest.approx(100 * run["rescored"]["hq_fraction"])
    # The same figures from `gankit eval` on the bench's run (same latents): by default as the run samples,
    # with --truncation 0 plainly. Truncation moves the points, so the two reverse KLs differ.
    for flags, expected in (([], run), (["--truncation", "0"], run["rescored"])):
        capsys.readouterr()
        assert main(["eval", str(tmp_path / "runs" / "toy-grid-seed0"), "--seed", "2718281", "--json", *flags]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["reverse_kl"] == pytest.approx(expected["reverse_kl"], abs=1e-6)
        assert result["hq_fraction"] == pytest.approx(expected["hq_fraction"])
        assert result["protocol"]["truncation"] == (0.5 if not flags else None)
    assert run["reverse_kl"] != pytest.approx(run["rescored"]["reverse_kl"], abs=1e-6)
    assert main(["bench", "modes", "--presets", "toy-grid", "--seeds", "1", "--out", str(tmp_path),
                 "--truncation", "-1"]) == 2
    assert "--truncation must be >= 0" in capsys.readouterr().err
