"""Discriminator rejection sampling (Azadi et al. 2019): keep G's samples that a refined D finds real.

A D trained to optimality with the cross-entropy loss has logit d(x) = log p_data(x) / p_g(x), so
accepting x with probability exp(d(x) - D_M) (D_M the largest logit) turns G's distribution into
the data's. The paper's practical form shifts and squashes it:

    F(x) = d(x) - D_M - log(1 - exp(d(x) - D_M - eps)) - gamma ;  accept with p = sigmoid(F(x))

`gamma` trades acceptance for selectivity; here it is the `keep_quantile` quantile of F over a
burn-in set, so about 1 - keep_quantile ... 1/2 of the samples above it are kept.

1. `refine_discriminator`: train D alone against the frozen G (the cross-entropy loss, whatever
   loss the run used, so d(x) means the log ratio), `gankit refine-d RUN --steps N`.
2. `DRSGenerator`: a G whose every output row is an accepted sample (rejected rows are redrawn
   from a private generator, so sampling is deterministic for a seed), used by
   `gankit sample/eval --filter drs`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.losses import d_nonsaturating

EPS = 1e-6
BURN_IN = 2000  # samples whose logits set D_M and gamma
MAX_ROUNDS = 200  # redraw rounds before a G whose samples D rejects everywhere is an error


def d_logits(D: nn.Module, x: Tensor, c: Tensor | None = None) -> Tensor:
    """D's raw scores `[N]` (the first output of a D with a class head), without gradients."""
    with torch.no_grad():
        out = D(x, c)
    return (out[0] if isinstance(out, tuple) else out).float()


def acceptance(logits: Tensor, max_logit: float, gamma: float) -> Tensor:
    """Acceptance probabilities `[N]` in (0, 1) of samples with D logits `logits` `[N]` (Azadi et al. eq. 8)."""
    shifted = logits - max_logit
    f = shifted - torch.log1p(-torch.exp(shifted - EPS).clamp(max=1 - EPS)) - gamma
    return torch.sigmoid(f)


def calibrate(logits: Tensor, keep_quantile: float = 0.8) -> dict:
    """D_M (the largest burn-in logit) and gamma (the `keep_quantile` quantile of F at gamma = 0)."""
    max_logit = float(logits.max())
    f0 = torch.logit(acceptance(logits, max_logit, 0.0).clamp(EPS, 1 - EPS))
    return {"max_logit": max_logit, "gamma": float(torch.quantile(f0, keep_quantile)),
            "keep_quantile": keep_quantile, "burn_in": int(logits.numel())}


def refine_discriminator(G: nn.Module, D: nn.Module, real_batches, steps: int, lr: float,
                         betas: tuple[float, float] = (0.5, 0.999)) -> list[float]:
    """Train D alone for `steps` updates: real batches from `real_batches()` -> (x, c) vs G's samples.

    G stays frozen (eval mode, no gradients). Returns the D loss of every step."""
    if steps < 1:
        raise GankitError(f"--steps must be >= 1, got {steps}")
    opt = torch.optim.Adam([p for p in D.parameters() if p.requires_grad], lr=lr, betas=betas)
    device = next(D.parameters()).device
    G.eval()
    D.train()
    losses = []
    for _ in range(steps):
        real, c = real_batches()
        with torch.no_grad():
            fake = G(torch.randn(real.shape[0], G.z_dim, device=device), c)
        out_real, out_fake = D(real, c), D(fake, c)
        real_scores = out_real[0] if isinstance(out_real, tuple) else out_real
        fake_scores = out_fake[0] if isinstance(out_fake, tuple) else out_fake
        loss = d_nonsaturating(real_scores, fake_scores)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    D.eval()
    return losses


class DRSGenerator(nn.Module):
    """G filtered by rejection sampling: `forward(z [N, z_dim], c)` -> `[N, ...]` accepted samples.

    Row i starts from z[i]; while it is rejected it is redrawn from a private generator seeded
    with `seed`, so the same z and seed give the same samples. `accepted_share` records the share
    of proposals kept so far."""

    def __init__(self, G: nn.Module, D: nn.Module, max_logit: float, gamma: float, seed: int = 0):
        super().__init__()
        self.G, self.D = G, D
        self.max_logit, self.gamma = max_logit, gamma
        self.z_dim, self.out_shape = G.z_dim, G.out_shape
        if hasattr(G, "num_classes"):
            self.num_classes = G.num_classes
        self.generator = torch.Generator().manual_seed(seed)
        self.proposed = self.kept = 0

    @property
    def accepted_share(self) -> float:
        return self.kept / max(self.proposed, 1)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        self.D.eval()
        if c is None and getattr(self, "num_classes", 0):  # D of a conditional run needs the labels G drew
            c = torch.arange(z.shape[0], device=z.device) % self.num_classes
        out = self.G(z, c)
        pending = torch.arange(z.shape[0], device=z.device)
        for _ in range(MAX_ROUNDS):
            rows = out[pending]
            p = acceptance(d_logits(self.D, rows, None if c is None else c[pending]), self.max_logit, self.gamma)
            keep = torch.rand(p.shape, generator=self.generator).to(p.device) < p
            self.proposed += int(p.numel())
            self.kept += int(keep.sum())
            pending = pending[~keep]
            if pending.numel() == 0:
                return out
            fresh = torch.randn(pending.numel(), self.z_dim, generator=self.generator).to(z.device)
            out[pending] = self.G(fresh, None if c is None else c[pending])
        raise GankitError(f"discriminator rejection sampling kept almost nothing in {MAX_ROUNDS} rounds "
                          f"(accepted {self.accepted_share:.2%}); refine D for fewer steps or lower --drs-quantile")


def drs_summary(logits: Tensor, calibration: dict) -> dict:
    """The mean acceptance the calibration gives on `logits`: what share of G's samples DRS keeps."""
    p = acceptance(logits, calibration["max_logit"], calibration["gamma"])
    return {"mean_acceptance": float(p.mean()), "d_logit_mean": float(logits.mean()),
            "d_logit_std": float(logits.std()) if logits.numel() > 1 else 0.0}

