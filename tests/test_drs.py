"""Discriminator rejection sampling: the acceptance rule, the filter, and the refine-d / --filter drs commands."""

import json

import numpy as np
import torch
from torch import nn

from gankit.cli import main
from gankit.drs import DRSGenerator, acceptance, calibrate, d_logits

TINY = ["--preset", "toy-ring", "--no-progress", "--threads", "1", "--set", "train.batch_size=32",
        "--set", "model.g_width=16", "--set", "model.d_width=16"]


def test_acceptance_rises_with_the_logit_and_stays_a_probability():
    logits = torch.linspace(-5, 3, 50)
    cal = calibrate(logits, 0.8)
    p = acceptance(logits, cal["max_logit"], cal["gamma"])
    assert (p > 0).all() and (p < 1).all() and (p[1:] >= p[:-1]).all()
    assert cal["max_logit"] == 3.0


class FirstCoordinateD(nn.Module):
    def forward(self, x, c=None):
        return 4.0 * x[:, 0]


class IdentityG(nn.Module):
    z_dim, out_shape = 2, (2,)

    def forward(self, z, c=None):
        return z * 1.0


def test_drs_keeps_fewer_samples_and_only_those_d_scores_higher():
    G, D = IdentityG(), FirstCoordinateD()
    z = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    logits = d_logits(D, G(z))
    cal = calibrate(logits, 0.8)
    drs = DRSGenerator(G, D, cal["max_logit"], cal["gamma"], seed=0)
    kept = drs(z[:1000])
    assert kept.shape == (1000, 2)
    assert drs.proposed > drs.kept == 1000  # rejected proposals were redrawn
    assert d_logits(D, kept).mean() > logits.mean() + 1.0
    again = DRSGenerator(G, D, cal["max_logit"], cal["gamma"], seed=0)(z[:1000])
    assert torch.equal(kept, again)  # deterministic for a seed


def test_refine_d_then_sample_and_eval_with_the_filter(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", *TINY, "--steps", "30", "--out", str(run)]) == 0
    assert main(["sample", str(run), "--filter", "drs", "--out", str(tmp_path / "x.npy")]) == 2
    assert "gankit refine-d" in capsys.readouterr().err
    assert main(["refine-d", str(run), "--steps", "20", "--threads", "1"]) == 0
    assert (run / "checkpoints" / "drs.pt").is_file()
    assert main(["sample", str(run), "--filter", "drs", "--n", "200", "--out", str(tmp_path / "drs.npy")]) == 0
    assert main(["sample", str(run), "--n", "200", "--out", str(tmp_path / "plain.npy")]) == 0
    drs, plain = np.load(tmp_path / "drs.npy"), np.load(tmp_path / "plain.npy")
    assert drs.shape == plain.shape == (200, 2) and not np.array_equal(drs, plain)
    capsys.readouterr()
    assert main(["eval", str(run), "--filter", "drs", "--n", "300", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["protocol"]["generator"] == "G_ema + DRS"
    assert main(["refine-d", str(run), "--steps", "0"]) == 2
