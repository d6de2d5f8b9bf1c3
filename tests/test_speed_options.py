"""--precision and --compile: wiring, one-line errors, and loss-scaler state in checkpoints."""

import torch
from torch import nn

from gankit.cli import main
from gankit.models import MODELS
from gankit.families.gan import GANTrainer
from gankit.train.checkpoint import load_checkpoint


def test_fp16_on_cpu_is_a_one_line_error(tmp_path, tiny_digits_args, capsys):
    code = main(["train", *tiny_digits_args, "--precision", "fp16", "--device", "cpu", "--out", str(tmp_path / "r"),
                 "--steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "fp16 needs a CUDA GPU" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_unknown_precision_names_the_key(tiny_digits_args, capsys):
    assert main(["train", *tiny_digits_args, "--set", "runtime.precision=fp8", "--dry-run"]) == 2
    assert "runtime.precision 'fp8' is unknown" in capsys.readouterr().err


def test_bf16_on_cpu_warns_trains_and_saves_no_scaler(tmp_path, tiny_digits_args, capsys):
    assert main(["train", *tiny_digits_args, "--precision", "bf16", "--out", str(tmp_path / "r"), "--steps", "2"]) == 0
    assert "gankit: warning: bf16 autocast on a CPU" in capsys.readouterr().err
    state = load_checkpoint(tmp_path / "r")
    assert state["config"]["runtime"]["precision"] == "bf16" and state["scalers"] == {"d": None, "g": None}
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())


def test_compile_with_gradient_penalty_is_refused(tiny_digits_args, capsys):
    assert main(["train", *tiny_digits_args, "--compile", "--set", "loss.name=wgan-gp", "--dry-run"]) == 2
    assert "runtime.compile cannot train with the 'wgan-gp' gradient penalty" in capsys.readouterr().err


def test_compile_flag_compiles_g_and_d_in_place(tmp_path, tiny_digits_args, monkeypatch):
    compiled = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    assert main(["train", *tiny_digits_args, "--compile", "--out", str(tmp_path / "r"), "--steps", "1"]) == 0
    assert compiled == ["DCGANGenerator", "DCGANDiscriminator"]
    assert load_checkpoint(tmp_path / "r")["config"]["runtime"]["compile"] is True


def test_resume_may_toggle_compile_but_not_precision(tmp_path, tiny_digits_args, monkeypatch, capsys):
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: None)
    assert main(["train", *tiny_digits_args, "--out", str(tmp_path / "r"), "--steps", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "r"), "--steps", "3", "--precision", "bf16"]) == 2
    assert "'runtime.precision' cannot change" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "r"), "--steps", "3", "--compile", "--no-progress"]) == 0


def test_fp16_loss_scaler_updates_and_round_trips():
    """The GradScaler path (CUDA's in real use) exercised on CPU, where torch has fp16 autocast too."""
    torch.manual_seed(0)
    G_cls, D_cls = MODELS["mlp"]
    G, D = G_cls(4, (2,), 16), D_cls((2,), 16)
    trainer = GANTrainer(G, D, torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3),
                         precision="fp16")
    g_before = [p.clone() for p in G.parameters()]
    for _ in range(30):  # the first steps overflow at the initial scale 2**16: skipped, and the scale backs off
        trainer.train_step(lambda: (torch.randn(8, 2), None))
    assert trainer.scalers["g"].get_scale() < 2.0**16
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    state = trainer.scalers["d"].state_dict()
    fresh = torch.amp.GradScaler("cpu")
    fresh.load_state_dict(state)
    assert fresh.get_scale() == trainer.scalers["d"].get_scale() > 0


def test_threads_option_sets_torch_threads(tmp_path):
    import torch

    from gankit.cli import main

    before = torch.get_num_threads()
    try:
        assert main(["train", "--preset", "toy-ring", "--no-progress", "--steps", "1", "--threads", "1",
                     "--set", "model.g_width=8", "--set", "model.d_width=8", "--out", str(tmp_path / "r")]) == 0
        assert torch.get_num_threads() == 1
        assert (tmp_path / "r" / "config.yaml").read_text().count("threads: 1") == 1
    finally:
        torch.set_num_threads(before)
