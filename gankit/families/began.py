"""BEGAN (Berthelot, Schumm and Metz 2017, "Boundary Equilibrium Generative Adversarial Networks").

D is an autoencoder; L(v) = mean |v - D(v)| is its L1 reconstruction loss. One step:

    fake   = G(z)
    D step: minimise  L(x) - k_t L(G(z))                                  (`gankit.energy.d_began`)
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)           (`began_k_update`; began.clip_k)
    M_global = L(x) + |gamma L(x) - L(G(z))|                              (`m_global`, logged)
    (the D step and the k update repeat train.n_critic times, each on a fresh batch)
    G step: minimise  L(G(z))                                             (`g_began`)

k_t and M_global use each D step's L(x) and L(G(z)) (one D, one batch: the paper's simultaneous
update); G's loss is taken after D's update, as gankit's other families do. The G step reuses
the last D step's fake batch. k_t is a float32 tensor in the family state, so it is checkpointed
and a resumed run continues bit for bit. `model.name` plays no part; `began.networks` picks the pair:
"began", BEGAN's own (G shares the decoder's architecture: ELU, nearest upsampling, no batch norm;
`BEGANGenerator`), or "infogan", Lucic et al.'s (the shared InfoGAN G and `InfoGANAutoencoder`,
28x28 only), which their study trains with 5 D steps per G step, gamma 0.75 and Adam 1e-4.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.energy import began_k_update, d_began, g_began, l1_energy, m_global
from gankit.errors import GankitError
from gankit.families.ebgan import EnergyFamily, build_discriminator, build_networks, validate_energy_family
from gankit.models.autoencoder import BEGANGenerator
from gankit.models.infogan import InfoGANAutoencoder, InfoGANGenerator, infogan_shape

KIND = "generation"
NETWORKS = ("began", "infogan")  # BEGAN's own; Lucic et al.'s shared InfoGAN-style G and their BEGAN autoencoder


def validate(cfg: Config) -> None:
    """Range checks of the `began` section and what BEGAN needs from the rest of the config."""
    from gankit.build import data_shape

    validate_energy_family(cfg, "began")
    b = cfg.began
    if not 0 < b.gamma <= 1:
        raise GankitError(f"began.gamma must be in (0, 1], got {b.gamma}; the paper uses 0.3 to 0.7")
    if b.lambda_k < 0:
        raise GankitError(f"began.lambda_k must be >= 0, got {b.lambda_k}; the paper uses 0.001")
    if not 0 <= b.k_init <= 1:
        raise GankitError(f"began.k_init must be in [0, 1], got {b.k_init}")
    if b.code_dim < 1 or b.convs < 1:
        raise GankitError(f"began.code_dim and began.convs must be >= 1, got {b.code_dim} and {b.convs}")
    if b.networks not in NETWORKS:
        raise GankitError(f"began.networks must be one of {', '.join(NETWORKS)}, got '{b.networks}'")
    if b.networks == "infogan":
        infogan_shape(data_shape(cfg.data))  # a one-line error for anything but 28x28
    if cfg.model.g_options:
        raise GankitError("model.g_options: BEGAN's generator takes none (its width is model.g_width, its convs began.convs)")


class BEGANFamily(EnergyFamily):
    """BEGAN's losses and its equilibrium controller k_t on top of `EnergyFamily`."""

    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, data, device: torch.device, world_size: int = 1):
        super().__init__(cfg, G, D, data, device, world_size)
        self.k = torch.tensor(float(cfg.began.k_init), device=device)  # k_t, float32, checkpointed
        self._losses: tuple[Tensor, Tensor] | None = None  # the D step's (L(x), L(G(z))) for the k update

    def d_objective(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        recon_real, recon_fake = self.reconstruct_both(real, fake)
        real_loss, fake_loss = l1_energy(real, recon_real).mean(), l1_energy(fake, recon_fake).mean()
        self._losses = (real_loss.detach(), fake_loss.detach())
        loss = d_began(real_loss, fake_loss, self.k)
        return loss, {"d_loss": loss.detach(), "real_loss": real_loss.detach(), "fake_loss": fake_loss.detach(),
                      "k_t": self.k.clone()}

    def g_objective(self, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        recon, _ = self.D(fake)  # the bare D: its weights are frozen during G's step
        loss = g_began(l1_energy(fake, recon).mean())
        return loss, {"g_loss": loss.detach()}

    def after_d_step(self) -> dict[str, Tensor]:
        """The k_t update and the convergence measure, from the D step's losses (after every D step, as in
        the BEGAN paper and Lucic et al.'s code)."""
        b = self.cfg.began
        real_loss, fake_loss = self._losses
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every rank updates k from the same means, so k_t stays one number across ranks.
            both = torch.stack([real_loss, fake_loss])
            torch.distributed.all_reduce(both)
            real_loss, fake_loss = both / torch.distributed.get_world_size()
        self.k = began_k_update(self.k, real_loss, fake_loss, b.gamma, b.lambda_k, clip=b.clip_k)
        return {"m_global": m_global(real_loss, fake_loss, b.gamma)}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "k_t": self.k.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.k = state["k_t"].to(device=self.device, dtype=torch.float32)


def build_generator(cfg: Config) -> nn.Module:
    """G alone, from the config: BEGAN's decoder-shaped generator, or the shared InfoGAN G (began.networks)."""
    from gankit.build import data_shape

    if cfg.began.networks == "infogan":
        return InfoGANGenerator(cfg.model.z_dim, data_shape(cfg.data), cfg.model.g_width)
    return BEGANGenerator(cfg.model.z_dim, data_shape(cfg.data), cfg.model.g_width, cfg.began.convs)


def build_autoencoder(cfg: Config) -> nn.Module:
    """The autoencoder D that began.networks names: `[N, C, H, W] -> (reconstruction, code)`."""
    from gankit.build import data_shape

    if cfg.began.networks == "infogan":
        return InfoGANAutoencoder(data_shape(cfg.data), cfg.model.d_width, cfg.began.code_dim, **cfg.model.d_options)
    return build_discriminator(cfg, cfg.began.code_dim, cfg.began.convs)


def build(cfg: Config, device: torch.device, env) -> BEGANFamily:
    """Data, G, the autoencoder D, optimizers and EMA for `cfg`, on `device`."""
    from gankit.build import build_data

    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    G, D = build_networks(cfg, build_generator(cfg), build_autoencoder(cfg), device)
    return BEGANFamily(cfg, G, D, data, device, env.world_size)
