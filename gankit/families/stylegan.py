"""A StyleGAN2-style generator (Karras et al. 2019, 2020) as a gankit family.

One `train_step` (StyleGAN2's loss phases, with R1 and path length applied lazily):

    D step:  fake = G(z) with style mixing (probability mixing_prob)
             loss_D = d_loss(D(real), D(fake)) + [every k D steps] k * gamma * R1(D, real)   ; update D
    G step:  loss_G = g_loss(D(fake)) + [every m G steps] m * pl_weight * path-length penalty ; update G
             w_avg <- lerp(w_avg, mean w of the batch, 1 - w_avg_beta) ; update G_ema

with the non-saturating loss in the presets, R1 as `loss.penalty: r1` (weight `loss.penalty_weight` =
gamma, lazy every `tricks.penalty_every` D steps). Sampling with `tricks.sample_truncation` (or
`--truncation`) = psi > 0 truncates in W, towards the tracked mean w, on the first
`stylegan.truncation_cutoff` style inputs (0 = all): `StyleGenerator.truncate_w`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gankit.errors import GankitError
from gankit.families.base import PairFamily
from gankit.families.progan import (FIXED_NOISE_SEED_OFFSET, Updater, frozen, image_shape, penalty_term,
                                    validate_image_generation)
from gankit.models.stylegan import StyleDiscriminator, StyleGenerator
from gankit.train.speed import autocast

KIND = "generation"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise GankitError(message)


def validate(cfg) -> None:
    """The stylegan section's ranges and the data it can draw (one-line errors)."""
    s = cfg.stylegan
    validate_image_generation(cfg, "stylegan", s.start_resolution)
    _require(s.style_mode in ("modulate", "adain"), f"stylegan.style_mode '{s.style_mode}' is unknown; choose modulate or adain")
    _require(s.mapping_depth >= 1, f"stylegan.mapping_depth must be >= 1, got {s.mapping_depth}")
    _require(s.w_dim >= 0, f"stylegan.w_dim must be >= 0 (0 = model.z_dim), got {s.w_dim}")
    _require(s.fmap_base >= 0, f"stylegan.fmap_base must be >= 0 (0 = the width everywhere), got {s.fmap_base}")
    _require(0 <= s.mixing_prob <= 1, f"stylegan.mixing_prob must be in [0, 1], got {s.mixing_prob}")
    _require(0 <= s.w_avg_beta < 1, f"stylegan.w_avg_beta must be in [0, 1), got {s.w_avg_beta}")
    _require(s.truncation_cutoff >= 0, f"stylegan.truncation_cutoff must be >= 0 (0 = all), got {s.truncation_cutoff}")
    _require(s.pl_weight >= 0, f"stylegan.pl_weight must be >= 0 (0 = off), got {s.pl_weight}")
    _require(s.pl_every >= 1 and s.pl_batch_shrink >= 1, "stylegan.pl_every and stylegan.pl_batch_shrink must be >= 1")
    _require(0 < s.pl_decay <= 1, f"stylegan.pl_decay must be in (0, 1], got {s.pl_decay}")
    _require(s.stddev_group >= 2, f"stylegan.stddev_group must be >= 2, got {s.stddev_group}")
    _require(cfg.train.n_critic == 1, "the stylegan family runs one D step per G step; set train.n_critic=1")
    _require(cfg.runtime.compile is False or s.pl_weight == 0,
             "runtime.compile cannot train the path-length penalty (double backward); set stylegan.pl_weight=0")


def build_generator(cfg) -> StyleGenerator:
    """G alone, from the config (for sampling, mixing and evaluation from a checkpoint)."""
    s = cfg.stylegan
    return StyleGenerator(cfg.model.z_dim, image_shape(cfg), cfg.model.g_width, s.fmap_base, s.w_dim,
                          s.mapping_depth, s.start_resolution, s.truncation_cutoff, s.w_avg_beta, s.style_mode)


def build_discriminator(cfg) -> StyleDiscriminator:
    s = cfg.stylegan
    return StyleDiscriminator(image_shape(cfg), cfg.model.d_width, s.fmap_base, s.start_resolution, s.stddev_group)


def path_length_penalty(images: Tensor, ws: Tensor, pl_mean: Tensor) -> tuple[Tensor, Tensor]:
    """StyleGAN2's path-length penalty: ((|J_w^T y|_2 - a)^2).mean() with y ~ N(0, I) / sqrt(H W) and `a` the
    running mean of the lengths. Returns (penalty, the batch's mean length, detached)."""
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
    return (lengths - pl_mean).square().mean(), lengths.detach().mean()


class StyleGANFamily(PairFamily):
    """The style-based GAN as the run loop sees it (`gankit.families.base.Family`)."""

    def __init__(self, cfg, G: StyleGenerator, D: StyleDiscriminator, data, fixed_z: Tensor, device: torch.device,
                 world_size: int = 1):
        from gankit.build import make_optimizer
        from gankit.losses import get_loss

        super().__init__(cfg, G, D, data, fixed_z, device, world_size)
        t = cfg.train
        self.opt_g = make_optimizer(t.optimizer, list(G.parameters()), t.g_lr, t.g_betas)
        self.opt_d = make_optimizer(t.optimizer, list(D.parameters()), t.d_lr, t.d_betas)
        self.d_loss, self.g_loss = get_loss(cfg.loss.name)
        self.update = Updater(device, cfg.runtime.precision)
        self.scalers = self.update.scalers
        self.d_updates = self.g_updates = 0
        self.pl_mean = torch.zeros((), device=device)  # running mean of path lengths (checkpointed)

    def train_step(self) -> dict[str, Tensor]:
        cfg = self.cfg
        real, _ = self.data.next_batch()
        with autocast(self.device, cfg.runtime.precision):
            z = torch.randn(real.shape[0], self.G.z_dim, device=self.device)
            # One G forward serves both steps (G does not change in between); it also moves w_avg.
            fake = self.G_run(z, mixing_prob=cfg.stylegan.mixing_prob, update_w_avg=True)
            stats = self.d_step(real, fake.detach())
        stats.update(self.g_step(fake))
        return stats

    def d_step(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """D's loss, plus the lazy R1 penalty on the steps it falls on; one update of D."""
        real_scores, fake_scores = self.D_run(real), self.D_run(fake)
        adversarial = self.d_loss(real_scores, fake_scores)
        loss = adversarial
        penalty = penalty_term(self.cfg, self.D, real, fake, self.d_updates)
        if penalty is not None:
            loss = loss + penalty
        self.update(loss, self.opt_d, "d")
        self.d_updates += 1
        stats = {"d_loss": adversarial.detach(), "real_score": real_scores.detach().mean(),
                 "fake_score": fake_scores.detach().mean()}
        if penalty is not None:
            stats["penalty"] = penalty.detach()
        return stats

    def g_step(self, fake: Tensor) -> dict[str, Tensor]:
        """G's loss on `fake` (made with gradients), plus the lazy path-length term; one update of G."""
        s = self.cfg.stylegan
        stats: dict[str, Tensor] = {}
        with frozen(self.D), autocast(self.device, self.cfg.runtime.precision):
            adversarial = self.g_loss(self.D(fake), None)
            loss = adversarial
            if s.pl_weight > 0 and self.g_updates % s.pl_every == 0:
                n = max(1, fake.shape[0] // s.pl_batch_shrink)
                z = torch.randn(n, self.G.z_dim, device=self.device)
                images, ws = self.G_run(z, mixing_prob=s.mixing_prob, return_ws=True)
                penalty, mean_length = path_length_penalty(images, ws, self.pl_mean)
                self.pl_mean = torch.lerp(self.pl_mean, mean_length.float(), s.pl_decay)
                loss = loss + s.pl_weight * s.pl_every * penalty
                stats.update({"pl_penalty": penalty.detach(), "pl_mean": self.pl_mean.clone()})
            self.update(loss, self.opt_g, "g")
        self.g_updates += 1
        if self.ema is not None:
            self.ema.update(self.G)
        stats["g_loss"] = adversarial.detach()
        return stats

    def state_dict(self) -> dict:
        return {"d_updates": self.d_updates, "g_updates": self.g_updates, "pl_mean": self.pl_mean,
                "fixed_z": self.fixed_z}

    def load_state_dict(self, state: dict) -> None:
        self.d_updates, self.g_updates = int(state["d_updates"]), int(state["g_updates"])
        self.pl_mean = state["pl_mean"].to(self.device)
        self.fixed_z = state["fixed_z"]



def build(cfg, device: torch.device, env) -> StyleGANFamily:
    """Data, the style G and residual D, Adam for each, EMA of G, and the fixed sample noise."""
    from gankit.build import build_data, place_model
    from gankit.sample import fixed_latents

    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    G, D = build_generator(cfg), build_discriminator(cfg)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    fixed_z = fixed_latents(cfg.log.n_samples, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
    return StyleGANFamily(cfg, G, D, data, fixed_z, device, env.world_size)
