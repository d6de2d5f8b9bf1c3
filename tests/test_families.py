"""The family layer: the registry, the run loop's generic checkpoint, resume horizons, the SN one-call rule."""

import torch

from gankit.cli import main
from gankit.config import FAMILY_NAMES
from gankit.families import FAMILIES
from gankit.families.gan import GANTrainer, scores_in_one_call
from gankit.models import MODELS
from gankit.models.tricks import spectral_norm_all
from gankit.train.checkpoint import load_checkpoint

TINY = ["--no-progress", "--threads", "1", "--set", "train.batch_size=16", "--set", "model.g_width=16",
        "--set", "model.d_width=16"]


def test_every_configured_family_has_a_module_with_the_contract():
    assert set(FAMILIES) == set(FAMILY_NAMES)
    for name, module in FAMILIES.items():
        assert module.KIND in ("generation", "translation"), name
        assert callable(module.build), name
        if module.KIND == "generation":
            assert callable(module.build_generator), name
        else:
            assert callable(module.load_output_network) and callable(module.evaluate_checkpoint), name


def test_gan_checkpoint_holds_named_networks_optimizers_and_family_state(tmp_path):
    assert main(["train", "--preset", "toy-ring", *TINY, "--steps", "3", "--set", "train.ema_kimg=1",
                 "--out", str(tmp_path / "r")]) == 0
    state = load_checkpoint(tmp_path / "r")
    assert {"G", "D", "G_ema", "opt_g", "opt_d"} <= set(state)
    assert state["family"]["trainer"]["g_updates"] == 3 and state["family"]["fixed_z"].shape == (1000, state["config"]["model"]["z_dim"])


def _lr_at(path) -> float:
    return load_checkpoint(path)["opt_g"]["param_groups"][0]["lr"]


def test_extending_a_run_keeps_its_schedule_horizon(tmp_path, capsys):
    schedule = ["--set", "tricks.lr_schedule=linear", "--set", "tricks.lr_decay_start=0.5", "--set", "tricks.lr_final=0.1"]
    run = tmp_path / "r"
    assert main(["train", "--preset", "toy-ring", *TINY, *schedule, "--steps", "20", "--out", str(run)]) == 0
    base = load_checkpoint(run)["config"]["train"]["g_lr"]
    assert abs(_lr_at(run) - base * 0.1) < 1e-12
    keep = ["--set", "log.checkpoint_every=10", "--set", "log.keep_checkpoints=true"]
    assert main(["train", "--resume", str(run), "--steps", "40", "--no-progress", *keep]) == 0
    assert "horizon of 20 steps" in capsys.readouterr().err
    # Continuous: past its horizon the LR stays at its final value (a re-stretched decay would rise again).
    assert abs(_lr_at(run / "checkpoints" / "step-0000030.pt") - base * 0.1) < 1e-12
    assert load_checkpoint(run)["config"]["tricks"]["schedule_steps"] == 20


def test_resume_to_the_horizon_it_was_started_for_equals_the_straight_run(tmp_path):
    # As an interrupted 8-step run does: its horizon is 8 from the start, so resuming to 8 changes nothing.
    schedule = ["--set", "tricks.lr_schedule=linear", "--set", "tricks.lr_decay_start=0.25"]
    full, half = tmp_path / "full", tmp_path / "half"
    assert main(["train", "--preset", "toy-ring", *TINY, *schedule, "--steps", "8", "--out", str(full)]) == 0
    assert main(["train", "--preset", "toy-ring", *TINY, *schedule, "--set", "tricks.schedule_steps=8",
                 "--steps", "4", "--out", str(half)]) == 0
    assert main(["train", "--resume", str(half), "--steps", "8", "--no-progress"]) == 0
    a, b = load_checkpoint(full), load_checkpoint(half)
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"]) and a["opt_g"]["param_groups"][0]["lr"] == \
        b["opt_g"]["param_groups"][0]["lr"]


def test_kept_step_checkpoint_of_a_longer_run_equals_the_shorter_run(tmp_path):
    # With a constant LR nothing depends on train.steps, so a longer run's step-N.pt is an N-step run's
    # final state: docs/fashion-fid.md scored the StyleGAN recipe's 8,500-step point from a 9,500-step run this way.
    short, longer = tmp_path / "short", tmp_path / "longer"
    # stylegan-fashion shrunk; penalty_every=2 puts a lazy R1 step inside the compared stretch.
    small = [*TINY, "--set", "stylegan.fmap_base=32", "--set", "stylegan.mapping_depth=2",
             "--set", "tricks.penalty_every=2", "--set", "data.limit=64"]
    assert main(["train", "--preset", "stylegan-fashion", *small, "--steps", "4", "--out", str(short)]) == 0
    assert main(["train", "--preset", "stylegan-fashion", *small, "--steps", "8", "--set", "log.checkpoint_every=4",
                 "--set", "log.keep_checkpoints=true", "--out", str(longer)]) == 0
    a, b = load_checkpoint(short), load_checkpoint(longer / "checkpoints" / "step-0000004.pt")
    assert a["step"] == b["step"] == 4
    for net in ("G", "D", "G_ema"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net


def test_spectral_norm_keeps_d_off_the_one_call_path_and_two_paths_agree():
    torch.manual_seed(0)
    D = MODELS["mlp"][1]((2,), 16)
    assert scores_in_one_call(D)
    spectral_norm_all(D)
    assert D.scores_samples_independently and not scores_in_one_call(D)
    G = MODELS["mlp"][0](4, (2,), 16)
    trainer = GANTrainer(G, D, torch.optim.SGD(G.parameters(), 0.0), torch.optim.SGD(D.parameters(), 0.0))
    assert not trainer.one_call
    # The trainer's scores equal two plain calls of a copy with the same power-iteration state.
    import copy

    twin = copy.deepcopy(D)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    _, stats = trainer.d_objective(D, real, fake, None)
    assert torch.equal(stats["real_score"], twin(real).mean()) and torch.equal(stats["fake_score"], twin(fake).mean())


def _one_line_error(capsys, argv, pattern) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and pattern in err[0], err


def test_translate_and_sample_refuse_the_other_kind_of_checkpoint(tmp_path, capsys):
    import pytest

    from gankit.data import fashion_mnist_dir

    if fashion_mnist_dir() is None:
        pytest.skip("Fashion-MNIST is not installed (bash scripts/install-data.sh)")
    gan, p2p = tmp_path / "gan", tmp_path / "p2p"
    assert main(["train", "--preset", "toy-ring", *TINY, "--steps", "2", "--out", str(gan)]) == 0
    assert main(["train", "--preset", "pix2pix-fashion-edges", "--no-progress", "--threads", "1", "--steps", "2",
                 "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "train.batch_size=4",
                 "--set", "eval.every=0", "--out", str(p2p)]) == 0
    images = tmp_path / "in"
    images.mkdir()
    from PIL import Image

    Image.new("L", (40, 30), 128).save(images / "a.png")
    (images / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    _one_line_error(capsys, ["translate", str(gan), "--input", str(images), "--out", str(out)], "gankit sample")
    _one_line_error(capsys, ["sample", str(p2p), "--out", str(tmp_path / "s.png")], "gankit translate")
    _one_line_error(capsys, ["translate", str(p2p), "--input", str(tmp_path / "nothing"), "--out", str(out)],
                    "does not exist")
    assert not out.exists() and not (tmp_path / "s.png").exists()  # nothing written on an error
    assert main(["translate", str(p2p), "--input", str(images), "--out", str(out)]) == 0
    result = Image.open(out / "a.png")
    assert result.size == (28, 28) and not (out / "broken.png").exists()
    assert "skipped 1 unreadable" in capsys.readouterr().err
