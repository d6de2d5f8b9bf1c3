"""The trainer's steps, EMA, checkpoints and exact resume."""

import pytest
import torch
from torch import nn

from gankit.cli import main
from gankit.models import MODELS
from gankit.families.gan import GANTrainer
from gankit.families.gan_tricks import GradientPenalty, WeightClip
from gankit.train import EMA, ema_beta
from gankit.train.checkpoint import capture_rng, load_checkpoint, restore_rng
from gankit.train.ema import refresh_batchnorm


def _toy_trainer(**kwargs) -> GANTrainer:
    torch.manual_seed(0)
    G_cls, D_cls = MODELS["mlp"]
    G, D = G_cls(4, (2,), 16), D_cls((2,), 16)
    opt_g = torch.optim.Adam(G.parameters(), 1e-3)
    opt_d = torch.optim.Adam(D.parameters(), 1e-3)
    return GANTrainer(G, D, opt_g, opt_d, **kwargs)


def test_d_step_changes_only_d_and_g_step_only_g():
    trainer = _toy_trainer()
    g_before = [p.clone() for p in trainer.G.parameters()]
    d_before = [p.clone() for p in trainer.D.parameters()]
    trainer.d_step(torch.randn(8, 2))
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    d_after = [p.clone() for p in trainer.D.parameters()]
    trainer.g_step(8)
    assert all(torch.equal(a, b) for a, b in zip(d_after, trainer.D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    assert all(p.requires_grad for p in trainer.D.parameters())  # switched back on after G's step


def test_reused_fake_gives_same_g_update_as_fresh_forward_with_same_z():
    """The fast path (reuse D step's fake) is the same maths as running G again on the same z."""
    results = []
    for reuse in (True, False):
        trainer = _toy_trainer(reuse_fake=reuse)
        trainer.G.eval()  # BN in eval: two forwards of the same z are then identical
        real = torch.randn(8, 2)
        torch.manual_seed(1)
        if reuse:
            trainer.train_step(lambda: (real, None))
        else:
            z = trainer.sample_z(8)
            with torch.no_grad():
                fake = trainer.G(z)
            trainer.d_step(real, None, fake)
            trainer.g_step(8, fake=trainer.G(z))
        results.append([p.detach().clone() for p in trainer.G.parameters()])
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6)


def test_weight_clipping_bounds_d():
    trainer = _toy_trainer(loss="wgan", tricks=[WeightClip(0.01)])
    trainer.d_step(torch.randn(8, 2))
    assert all(p.abs().max() <= 0.01 + 1e-9 for p in trainer.D.parameters())


def test_custom_loss_pair_and_penalty_callable():
    calls = []

    def d_loss(real_scores, fake_scores):
        return fake_scores.mean() - real_scores.mean()

    def g_loss(fake_scores, real_scores=None):
        calls.append(real_scores is not None)
        return -fake_scores.mean()

    def penalty(D, real, fake, c):
        return D(real).pow(2).mean()

    trainer = _toy_trainer(loss=(d_loss, g_loss), tricks=[GradientPenalty(penalty, 0.1)])
    stats = trainer.train_step(lambda: (torch.randn(8, 2), None))
    assert {"d_loss", "g_loss", "penalty", "real_score", "fake_score"} <= set(stats)
    assert calls == [True]


def test_n_critic_draws_that_many_batches():
    trainer = _toy_trainer(n_critic=3)
    drawn = []

    def next_batch():
        drawn.append(1)
        return torch.randn(8, 2), None

    trainer.train_step(next_batch)
    assert len(drawn) == 3


@pytest.mark.parametrize("penalty", [None, "r1"])
def test_joint_d_forward_over_real_and_fake_gives_the_same_d_update(penalty):
    # An MLP D without random layers scores real and fake in one call; the loss, stats and the
    # updated weights must match two separate calls (float rounding aside).
    tricks = [GradientPenalty(penalty)] if penalty else []
    joint, separate = _toy_trainer(tricks=tricks), _toy_trainer(tricks=tricks)
    assert joint.D.scores_samples_independently and joint.one_call
    separate.one_call = False
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    stats_joint, stats_separate = joint.d_step(real, fake=fake), separate.d_step(real, fake=fake)
    for key in stats_separate:
        assert torch.allclose(stats_joint[key], stats_separate[key], atol=1e-6), key
    for a, b in zip(joint.D.parameters(), separate.D.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not MODELS["mlp"][1]((2,), 16, dropout=0.2).scores_samples_independently  # random layers: keep apart


def test_ema_with_zero_halflife_equals_g():
    trainer = _toy_trainer(ema=None)
    ema = EMA(trainer.G, ema_beta(0.0, 64))
    trainer.ema = ema
    trainer.train_step(lambda: (torch.randn(8, 2), None))
    for a, b in zip(ema.G_ema.parameters(), trainer.G.parameters()):
        assert torch.equal(a, b)


def test_ema_half_life_in_images():
    assert abs(ema_beta(10.0, 100) ** 100 - 0.5) < 1e-9  # 100 updates x 100 images = 10 kimg
    G = nn.Linear(1, 1)
    ema = EMA(G, 0.5)
    with torch.no_grad():
        G.weight.fill_(1.0)
        ema.G_ema.weight.fill_(0.0)
    ema.update(G)
    assert ema.G_ema.weight.item() == 0.5


def test_ema_follows_g_after_a_state_load_and_switches_to_another_g():
    # update() keeps lists of the tensors it averages; they must keep tracking G's weights and buffers
    # when G's state is loaded in place (resume), and be rebuilt when it is handed another module.
    G = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    ema = EMA(G, 0.5)
    ema.update(G)
    loaded = {k: torch.full_like(v, 3.0) if v.is_floating_point() else v + 5 for k, v in G.state_dict().items()}
    G.load_state_dict(loaded)
    with torch.no_grad():
        ema.G_ema[0].weight.fill_(1.0)
    ema.update(G)
    assert ema.G_ema[0].weight.item() == 2.0  # halfway between 1 and the loaded 3
    assert ema.G_ema[1].running_mean.item() == 3.0 and ema.G_ema[1].num_batches_tracked.item() == 5
    other = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        other[0].weight.fill_(4.0)
    ema.update(other)
    assert ema.G_ema[0].weight.item() == 3.0


def test_refresh_batchnorm_gives_g_ema_its_own_statistics():
    # G_ema's copied running statistics belong to another network; after the refresh, eval mode
    # on a large batch matches train mode (batch statistics) on it, and the global RNG is untouched.
    torch.manual_seed(0)
    G = MODELS["mlp"][0](4, (2,), 16)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.fill_(3.0)
                m.running_var.fill_(9.0)
    z = torch.randn(4096, 4)
    state = torch.get_rng_state()
    assert refresh_batchnorm(G, batches=32, batch_size=512) == 3
    assert torch.equal(state, torch.get_rng_state())
    assert G.training and all(m.momentum == 0.1 for m in G.modules() if isinstance(m, nn.BatchNorm1d))
    with torch.no_grad():
        G.eval()
        out_eval = G(z)
        G.train()
        out_train = G(z)
    assert (out_eval - out_train).abs().mean() < 0.05 * out_train.std()
    assert refresh_batchnorm(nn.Linear(2, 2)) == 0


def test_standing_statistics_leave_the_random_stream_alone_and_skip_sync_bn():
    # G_ema samples with statistics of its own (seeded, so repeatable); dropout in G draws from the
    # global RNG during the refresh, which must not shift training's stream.
    from gankit.train.ema import STANDING_STATS_SEED, standing_statistics

    torch.manual_seed(0)
    dropping = MODELS["mlp"][0](4, (2,), 16, dropout=0.5)
    state = torch.get_rng_state()
    assert standing_statistics(dropping) is dropping
    assert torch.equal(state, torch.get_rng_state())
    G = MODELS["mlp"][0](4, (2,), 16)
    twin = MODELS["mlp"][0](4, (2,), 16)
    twin.load_state_dict(G.state_dict())
    standing_statistics(G)
    refresh_batchnorm(twin, seed=STANDING_STATS_SEED)
    pairs = [(a, b) for a, b in zip(G.modules(), twin.modules()) if isinstance(a, nn.BatchNorm1d)]
    assert pairs and all(float(a.running_mean.abs().sum()) > 0 for a, _ in pairs)
    assert all(torch.equal(a.running_mean, b.running_mean) for a, b in pairs)
    synced = nn.Sequential(nn.Linear(2, 2), nn.SyncBatchNorm(2))
    synced.z_dim = 2
    assert standing_statistics(synced) is synced and float(synced[1].running_mean.abs().sum()) == 0


def test_resume_stays_exact_when_g_ema_samples_with_standing_statistics(tmp_path):
    # Batch-norm G with dropout and EMA, sample grid every step: each grid refreshes G_ema's
    # statistics; the run must still resume bit for bit, G_ema included.
    common = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=32", "--set", "log.every=1",
              "--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.ema_kimg=0.1",
              "--set", "tricks.schedule_steps=6", "--set", "tricks.g_norm=batch", "--set", "log.sample_every=1",
              "--set", "model.g_options={hidden_layers: 2, dropout: 0.2}"]
    assert main(["train", *common, "--out", str(tmp_path / "full"), "--steps", "6"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--steps", "3"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "6", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    for key in ("G", "D", "G_ema"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, resumed[key][name]), f"{key}.{name} differs after resume"


def test_generator_loaded_from_a_checkpoint_samples_with_standing_statistics(tmp_path):
    from gankit.families import load_generator

    args = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=32", "--set", "model.g_width=16",
            "--set", "model.d_width=16", "--set", "train.ema_kimg=0.1", "--set", "tricks.g_norm=batch",
            "--set", "log.sample_every=1000"]
    assert main(["train", *args, "--out", str(tmp_path / "r"), "--steps", "5"]) == 0
    saved = load_checkpoint(tmp_path / "r")
    G_ema, _, _, which = load_generator(tmp_path / "r", "cpu", no_ema=False)
    G, _, _, which_g = load_generator(tmp_path / "r", "cpu", no_ema=True)
    assert (which, which_g) == ("G_ema", "G")
    key = next(k for k in saved["G_ema"] if k.endswith("running_mean"))
    # G keeps the statistics it trained with; G_ema gets its own, not the copies of G's it trails.
    assert torch.equal(G.state_dict()[key], saved["G"][key])
    assert not torch.allclose(G_ema.state_dict()[key], saved["G"][key])
    again, _, _, _ = load_generator(tmp_path / "r", "cpu", no_ema=False)
    assert torch.equal(G_ema.state_dict()[key], again.state_dict()[key])  # repeatable


def test_rng_capture_restore_round_trip():
    import random

    import numpy as np

    state = capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def _weights(path):
    return load_checkpoint(path)["G"]


def test_resume_is_bit_exact_toy(tmp_path):
    common = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=32", "--set", "log.every=1",
              "--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.ema_kimg=0.1",
              "--set", "tricks.schedule_steps=8"]  # toy-ring decays its LR over the run: pin the horizon
    assert main(["train", *common, "--out", str(tmp_path / "full"), "--steps", "8"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--steps", "4"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "8", "--no-progress"]) == 0
    full = load_checkpoint(tmp_path / "full")
    resumed = load_checkpoint(tmp_path / "half")
    assert resumed["step"] == full["step"] == 8 and resumed["nimg"] == full["nimg"] == 8 * 32
    for key in ("G", "D", "G_ema"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, resumed[key][name]), f"{key}.{name} differs after resume"


def test_resume_is_bit_exact_dcgan_with_penalty(tmp_path, tiny_digits_args):
    args = [*tiny_digits_args, "--set", "loss.name=wgan-gp", "--set", "train.n_critic=2",
            "--set", "model.d_options={norm: layer}"]
    assert main(["train", *args, "--out", str(tmp_path / "full"), "--steps", "4"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "half"), "--steps", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half" / "checkpoints" / "latest.pt"), "--steps", "4"]) == 0
    full, resumed = _weights(tmp_path / "full"), _weights(tmp_path / "half")
    for name, tensor in full.items():
        assert torch.equal(tensor, resumed[name]), name


def test_checkpoint_loads_with_weights_only_and_holds_full_state(tmp_path, tiny_digits_args):
    assert main(["train", *tiny_digits_args, "--out", str(tmp_path / "r"), "--steps", "2"]) == 0
    state = torch.load(tmp_path / "r" / "checkpoints" / "latest.pt", weights_only=True)
    for key in ("format", "gankit_version", "config", "G", "D", "opt_g", "opt_d", "rng", "sampler", "step", "nimg"):
        assert key in state
    assert state["config"]["preset"] == "dcgan-digits"
    assert state["opt_d"]["state"]  # optimizer moments are saved, not just hyper-parameters


def test_sigterm_checkpoints_between_steps_and_resume_stays_exact(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    # A constant LR: the stopped run's train.steps differs from the straight run's, and a schedule follows it.
    args = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=16", "--set", "log.every=5",
            "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "tricks.lr_schedule=constant"]
    run = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", *args, "--out", str(run), "--steps", "1000000"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ((run / "log.jsonl").is_file() and (run / "log.jsonl").read_text()) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "continue with: gankit train --resume" in err
    stopped_at = load_checkpoint(run)["step"]
    total = stopped_at + 20
    assert main(["train", "--resume", str(run), "--steps", str(total), "--no-progress"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "straight"), "--steps", str(total)]) == 0
    resumed, straight = _weights(run), _weights(tmp_path / "straight")
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed[name]), name


def test_train_for_seconds_runs_real_steps_for_the_budget():
    from gankit.config import resolve
    from gankit.train.loop import prepare_training, train_for_seconds

    training = prepare_training(resolve("toy-ring", None, ["device=cpu", "model.g_width=16", "model.d_width=16"]))
    steps = train_for_seconds(training, 0.3)
    assert steps > 0 and training.family.trainer.g_updates == steps == training.step
    assert train_for_seconds(training, 0.0) == 0


def test_train_for_seconds_reads_the_clock_it_is_given():
    """A benchmark's CPU-time budget: the loop stops when the given clock, not the wall, passes the budget."""
    from gankit.config import resolve
    from gankit.train.loop import prepare_training, train_for_seconds

    training = prepare_training(resolve("toy-ring", None, ["device=cpu", "model.g_width=16", "model.d_width=16"]))
    ticks = iter(range(100))  # one second per reading: start at 0, then readings 1..4 pass and 5 stops
    assert train_for_seconds(training, 5.0, clock=lambda: float(next(ticks))) == 4
