"""DiscoGAN (Kim et al. 2017, "Learning to Discover Cross-Domain Relations with Generative Adversarial Networks").

Like CycleGAN, two generators G_AB, G_BA and two discriminators D_A, D_B on unpaired domains, with
DiscoGAN's own networks and objective:

- nets: conv encoder-decoder G (LeakyReLU, batch norm, no skips, no residual blocks) and a conv D
  with batch norm returning one raw score per image (gankit.models.discogan);
- objective, one step:
      fake_b, fake_a = G_AB(a), G_BA(b)
      D step:  d_loss(D_A(a), D_A(fake_a)) + d_loss(D_B(b), D_B(fake_b))      (no history pool)
      G step:  g_loss(D_B(fake_b)) + g_loss(D_A(fake_a))
               + lambda_cycle * (MSE(G_BA(fake_b), a) + MSE(G_AB(fake_a), b))  reconstruction, both ways
  with no identity term (cfg.cycle.lambda_identity and pool_size are not used). The paper uses the
  cross-entropy GAN loss (cfg.loss.name nonsaturating) and MSE for the reconstruction distance, with
  equal weights (lambda_cycle 1).

cfg.cycle.d_layers sets the depth of both nets (G's encoder mirrors D, as in the paper); widths are
cfg.model.g_width / d_width. Data, schedules, samples and evaluation are CycleGAN's (gankit.families.cyclegan).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.config import Config
from gankit.families import cyclegan
from gankit.families.cyclegan import CycleGAN, image_channels, input_shape, validate_cycle
from gankit.models.discogan import DiscoDiscriminator, DiscoGenerator
from gankit.train.distributed import DistEnv
from gankit.train.speed import autocast

KIND = "translation"
validate_discogan = validate_cycle  # the same cfg.cycle and data checks
__all__ = ["KIND", "build", "build_networks", "input_shape", "load_output_network", "evaluate_checkpoint",
           "validate_discogan"]


def build_networks(cfg: Config) -> dict[str, nn.Module]:
    """G_AB, G_BA (encoder-decoder) and D_A, D_B (conv, one score per image), freshly initialised."""
    ch, layers, m = image_channels(cfg), cfg.cycle.d_layers, cfg.model
    return {
        "G_AB": DiscoGenerator(ch, ch, m.g_width, layers),
        "G_BA": DiscoGenerator(ch, ch, m.g_width, layers),
        "D_A": DiscoDiscriminator(ch, m.d_width, layers),
        "D_B": DiscoDiscriminator(ch, m.d_width, layers),
    }


class DiscoGAN(CycleGAN):
    """DiscoGAN's training state: CycleGAN's machinery with DiscoGAN's nets and step."""

    def make_networks(self) -> dict[str, nn.Module]:
        return build_networks(self.cfg)

    def train_step(self) -> dict[str, Tensor]:
        """One DiscoGAN step: both Ds on real vs fresh fakes, then both Gs (adversarial + reconstruction)."""
        run = self.run
        a, b = self.sampler.next()
        with autocast(self.device, self.cfg.runtime.precision):
            fake_b, fake_a = run["G_AB"](a), run["G_BA"](b)
            d_a = self.d_loss(run["D_A"](a), run["D_A"](fake_a.detach()))
            d_b = self.d_loss(run["D_B"](b), run["D_B"](fake_b.detach()))
        self._update("d", d_a + d_b)
        # G step: the updated Ds judge the same fakes; their weights are frozen so only G gets gradients.
        discriminators = [self.networks["D_A"], self.networks["D_B"]]
        for D in discriminators:
            D.requires_grad_(False)
        try:
            with autocast(self.device, self.cfg.runtime.precision):
                adversarial = self.g_loss(self.networks["D_B"](fake_b)) + self.g_loss(self.networks["D_A"](fake_a))
                reconstruction = F.mse_loss(run["G_BA"](fake_b), a) + F.mse_loss(run["G_AB"](fake_a), b)
                g_total = adversarial + self.cfg.cycle.lambda_cycle * reconstruction
            self._update("g", g_total)
        finally:
            for D in discriminators:
                D.requires_grad_(True)
        self._end_step()
        return {"d_loss": (d_a + d_b).detach(), "d_loss_A": d_a.detach(), "d_loss_B": d_b.detach(),
                "g_loss": adversarial.detach(), "reconstruction_mse": reconstruction.detach()}


def build(cfg: Config, device: torch.device, env: DistEnv) -> DiscoGAN:
    """A freshly initialised DiscoGAN for `cfg` (the loop seeds torch first)."""
    return DiscoGAN(cfg, device, env)


def load_output_network(cfg: Config, state: dict, device: torch.device, direction: str) -> nn.Module:
    """G_AB for direction "AtoB", G_BA for "BtoA", rebuilt from the config and loaded from `state`, in eval mode."""
    return cyclegan.load_output_network(cfg, state, device, direction, make_networks=build_networks)


def evaluate_checkpoint(cfg: Config, state: dict, device: torch.device, args) -> dict:
    """`gankit eval` on a DiscoGAN checkpoint: the same scores and protocol as CycleGAN's."""
    return cyclegan.evaluate_checkpoint(cfg, state, device, args, make_networks=build_networks)
