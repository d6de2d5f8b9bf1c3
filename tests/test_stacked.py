"""Stacked Fashion-MNIST (1,000 modes): the data set and the mode counter."""

import math

import pytest
import torch
from torch import nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.metrics.evaluate import evaluate_generator
from gankit.metrics.stacked import stacked_channel_classes, stacked_mode_metrics


def _stacked_or_skip(split, n, seed=0):
    from gankit.data.stacked import load_stacked_fashion

    try:
        return load_stacked_fashion(split, n=n, seed=seed)
    except GankitError:
        pytest.skip("Fashion-MNIST files not available")


def test_stacked_data_has_all_1000_modes_and_consistent_labels():
    from gankit.data import load_fashion_mnist

    data = _stacked_or_skip("test", 26_000)
    assert data.images.shape == (26_000, 3, 28, 28) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert data.labels.unique().numel() == 1000 and data.num_classes == 1000
    # Each channel is a Fashion-MNIST test image whose class is the label's digit for that channel.
    base = load_fashion_mnist("test")
    for i in range(3):
        for k, digit in enumerate(f"{int(data.labels[i]):03d}"):
            match = (base.images[:, 0] == data.images[i, k]).flatten(1).all(1).nonzero().flatten()
            assert len(match) >= 1 and int(digit) in base.labels[match].tolist()


def test_stacked_data_is_deterministic_per_seed_and_split():
    a, b = _stacked_or_skip("test", 50, seed=3), _stacked_or_skip("test", 50, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, _stacked_or_skip("test", 50, seed=4).labels)
    assert not torch.equal(a.labels, _stacked_or_skip("val", 50, seed=3).labels)


def test_mode_counter_on_real_stacked_images_covers_all_modes_evenly():
    data = _stacked_or_skip("test", 12_000)
    result = stacked_mode_metrics(data.images)
    assert result["modes"] == 1000 and result["num_modes"] == 1000 and result["n"] == 12_000
    # Sampling noise alone gives about (K - 1) / (2N) = 0.04 nats; a collapsed generator gives up to 6.9.
    assert 0 <= result["kl"] < 0.1
    # The classifier agrees with the true channel classes on most channels (shipped accuracy ~0.9).
    truth = torch.stack([data.labels // 100, data.labels // 10 % 10, data.labels % 10], 1)
    assert (stacked_channel_classes(data.images[:1000]) == truth[:1000]).float().mean() > 0.85


def test_mode_counter_on_a_constant_image_gives_one_mode():
    result = stacked_mode_metrics(torch.full((40, 3, 28, 28), 0.2))
    assert result["modes"] == 1 and sum(result["counts"]) == 40
    assert result["kl"] == pytest.approx(math.log(1000))


def test_mode_counter_rejects_wrong_shapes():
    with pytest.raises(GankitError, match="stacked-fashion"):
        stacked_mode_metrics(torch.zeros(4, 1, 28, 28))
    with pytest.raises(GankitError, match="at least one"):
        stacked_mode_metrics(torch.zeros(0, 3, 28, 28))


class _ConstantG(nn.Module):
    z_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.level = nn.Parameter(torch.tensor(-0.5))

    def forward(self, z: torch.Tensor, c=None) -> torch.Tensor:
        return self.level.expand(len(z), 3, 28, 28)


def test_evaluate_generator_scores_stacked_modes_without_a_feature_network():
    cfg = Config()
    cfg.data.name = "fashion-mnist"  # any image data: stacked-modes needs no real set
    result = evaluate_generator(_ConstantG(), cfg, metrics=["stacked-modes"], n=64)
    assert result["stacked_modes"] == 1 and result["stacked_num_modes"] == 1000
    assert result["stacked_kl"] == pytest.approx(math.log(1000))
    assert "stacked Fashion-MNIST" in result["protocol"]["stacked_modes"] and result["protocol"]["n_fake"] == 64
    assert "features" not in result["protocol"]


STACKED_PRESETS = ("stacked-dcgan", "stacked-recommended", "stacked-pacgan2", "stacked-pacgan4", "stacked-mbd",
                   "stacked-unrolled", "stacked-wgan-gp")
TINY = ["--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "train.batch_size=16",
        "--set", "data.limit=64"]


@pytest.mark.parametrize("preset", STACKED_PRESETS)
def test_every_stacked_comparison_preset_trains_on_stacked_data(preset, tmp_path):
    from gankit.cli import main
    from gankit.config import resolve

    _stacked_or_skip("test", 1)
    cfg = resolve(preset, None, [])
    assert cfg.data.name == "stacked-fashion" and cfg.model.name == "dcgan"
    assert main(["train", "--preset", preset, "--no-progress", "--steps", "2", *TINY, "--out", str(tmp_path / "r")]) == 0
    assert main(["sample", str(tmp_path / "r"), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0


def test_bench_modes_on_stacked_presets_trains_for_a_cpu_budget_and_writes_steps(tmp_path, capsys):
    import json

    from gankit.cli import main

    _stacked_or_skip("test", 1)
    # Two seeds: the summary's means and stds over seeds (stacked runs have no high-quality figure to average).
    args = ["bench", "modes", "--presets", "stacked-dcgan,stacked-unrolled", "--seeds", "2", "--budget-s", "0.5",
            "--out", str(tmp_path), *TINY]
    assert main(args) == 0
    out = capsys.readouterr().out
    written = json.loads((tmp_path / "modes.json").read_text())
    assert written["budget_s"] == 0.5
    runs = {r["preset"]: r for r in written["runs"]}
    # Each run stopped on its CPU budget, not at its preset's train.steps (2,000 / 1,000).
    assert all(1 <= r["steps"] < 1000 and r["budget_s"] == 0.5 for r in runs.values())
    assert runs["stacked-dcgan"]["num_modes"] == 1000 and runs["stacked-dcgan"]["n"] == 26_000
    row = next(line for line in out.splitlines() if line.startswith("| stacked-dcgan |"))
    mean_steps = sum(r["steps"] for r in written["runs"] if r["preset"] == "stacked-dcgan") / 2
    assert f"| {mean_steps:,.0f} |" in row and "| - | - |" in row  # mean steps column; no HQ rule


def test_bench_modes_rejects_a_non_positive_budget(tmp_path, capsys):
    from gankit.cli import main

    assert main(["bench", "modes", "--presets", "toy-ring", "--budget-s", "0", "--out", str(tmp_path)]) == 2
    assert "--budget-s must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "modes.json").exists()
