"""EBGAN (Zhao, Mathieu and LeCun 2017, "Energy-based Generative Adversarial Network").

D is an autoencoder (`gankit.models.autoencoder.AutoencoderDiscriminator`); the energy of an
image is D's mean squared reconstruction error, low for real images. One `train_step`:

    fake   = G(z)
    D step: minimise  D(x) + max(0, m - D(G(z)))                        (`gankit.energy.d_ebgan`)
    G step: minimise  D(G(z)) + pullaway_weight * PT(Enc(G(z)))          (`g_ebgan`, `pull_away`)

G is any generator of `gankit.models.MODELS` (`model.name`; the presets use DCGAN's), so EBGAN
compares with DCGAN on the same G. The G step reuses the D step's fake batch (one G forward per
step, as the gan family does); D's parameters do not require gradients during it.

`EnergyFamily` below is the run-loop side shared with BEGAN (`gankit.families.began`), which
differs only in its losses, its G and its state (k_t).
"""

from __future__ import annotations


import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.energy import d_ebgan, g_ebgan, mse_energy, pull_away
from gankit.errors import GankitError
from gankit.families.base import PairFamily
from gankit.models.autoencoder import AutoencoderDiscriminator, check_autoencoder_shape
from gankit.train.speed import autocast, make_scaler, scaled_update

KIND = "generation"
FIXED_NOISE_SEED_OFFSET = 1_000_003  # as the gan family: sample-grid noise never shares a stream with training
IMAGE_DATA = ("fashion-mnist", "digits", "folder")
# Tricks of the gan family that act on D's scores or wrap its networks; an autoencoder D has no use for them.
FOREIGN_TRICKS = ("minibatch", "pack", "g_norm", "latent_mixture", "feature_matching", "unrolled_steps", "augment",
                  "instance_noise", "label_flip", "topk_min")
D_OPTIONS = ("norm",)  # the conv count per scale is ebgan.convs / began.convs


def validate_energy_family(cfg: Config, family: str) -> None:
    """What EBGAN and BEGAN need from the shared sections (one-line GankitErrors)."""
    from gankit.build import data_shape
    from gankit.config import TricksConfig

    if cfg.data.name not in IMAGE_DATA:
        raise GankitError(f"{family} trains on images ({', '.join(IMAGE_DATA)}), not data.name={cfg.data.name}")
    if cfg.model.conditioning != "none":
        raise GankitError(f"{family} is unconditional; set model.conditioning=none")
    check_autoencoder_shape(data_shape(cfg.data))
    defaults = TricksConfig()
    for key in FOREIGN_TRICKS:
        if getattr(cfg.tricks, key) != getattr(defaults, key):
            raise GankitError(f"tricks.{key} is a gan-family trick that {family} does not apply; "
                              f"set tricks.{key}={getattr(defaults, key)}")
    if cfg.loss.penalty not in ("auto", "none") or cfg.loss.clip > 0:
        raise GankitError(f"{family} applies no gradient penalty or weight clipping; set loss.penalty=none, loss.clip=0")
    unknown = [k for k in cfg.model.d_options if k not in D_OPTIONS]
    if unknown:
        raise GankitError(f"model.d_options: the autoencoder D has no option '{unknown[0]}'; valid: {', '.join(D_OPTIONS)}")
    if "accuracy" in cfg.eval.metrics:
        raise GankitError(f"eval.metrics 'accuracy' scores a semi-supervised D; {family} has none")


def validate(cfg: Config) -> None:
    """Range checks of the `ebgan` section and what EBGAN needs from the rest of the config."""
    validate_energy_family(cfg, "ebgan")
    e = cfg.ebgan
    if e.margin <= 0:
        raise GankitError(f"ebgan.margin must be > 0, got {e.margin}; e.g. --set ebgan.margin=1")
    if e.pullaway_weight < 0:
        raise GankitError(f"ebgan.pullaway_weight must be >= 0 (0 = off), got {e.pullaway_weight}")
    if e.code_dim < 1 or e.convs < 1:
        raise GankitError(f"ebgan.code_dim and ebgan.convs must be >= 1, got {e.code_dim} and {e.convs}")
    if e.pullaway_weight > 0 and cfg.train.batch_size < 2:
        raise GankitError("the pull-away term needs train.batch_size >= 2; raise it or set ebgan.pullaway_weight=0")


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class EnergyFamily(PairFamily):
    """The autoencoder-D families as the run loop sees them (`gankit.families.base.Family`).

    Subclasses implement `d_objective(real, fake) -> (loss, stats)` and `g_objective(fake) -> (loss,
    stats)`, and may extend `state_dict` / `load_state_dict` / `after_step`."""

    D_scores_accuracy = False  # D is an autoencoder, not a classifier

    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, data, device: torch.device, world_size: int = 1):
        from gankit.build import build_optimizers, build_schedulers
        from gankit.sample import fixed_latents

        fixed_z = fixed_latents(cfg.log.n_samples, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
        super().__init__(cfg, G, D, data, fixed_z, device, world_size)
        self.opt_g, self.opt_d = build_optimizers(cfg, G, D)
        self.schedulers = build_schedulers(cfg, self.opt_g, self.opt_d, G)
        self.precision = cfg.runtime.precision
        self.scalers = {"d": make_scaler(device, self.precision), "g": make_scaler(device, self.precision)}
        # Real and fake batches go through D in one call when that is exact: no batch statistics.
        self.one_call = not has_batch_norm(D)
        self._d_trainable = [p for p in D.parameters() if p.requires_grad]
        self.n_critic = cfg.train.n_critic
        self.images_per_step = cfg.train.batch_size * cfg.train.n_critic

    # --- the step -------------------------------------------------------------------------------

    def reconstruct_both(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """D's reconstructions of `real` and `fake` `[N, C, H, W]` (one D call where that is exact)."""
        if self.one_call:
            recon, _ = self.D_run(torch.cat([real, fake]))
            return recon[: real.shape[0]], recon[real.shape[0]:]
        return self.D_run(real)[0], self.D_run(fake)[0]

    def train_step(self) -> dict[str, Tensor]:
        """train.n_critic D updates, each on a fresh real and fake batch and each followed by `after_d_step`
        (BEGAN's k_t), then one G update on the last D step's fake batch (the papers' alternating steps)."""
        for i in range(self.n_critic):
            real, _ = self.data.next_batch()
            keep_graph = i == self.n_critic - 1  # only the last fake batch feeds G's update
            with autocast(self.device, self.precision), torch.set_grad_enabled(keep_graph):
                fake = self.G_run(torch.randn(real.shape[0], self.G.z_dim, device=self.device))
            with autocast(self.device, self.precision):
                d_loss, stats = self.d_objective(real, fake.detach())
            self._update(d_loss, self.opt_d, "d")
            stats.update(self.after_d_step())
        for p in self._d_trainable:  # G's backward needs no gradients of D's weights
            p.requires_grad_(False)
        try:
            with autocast(self.device, self.precision):
                g_loss, g_stats = self.g_objective(fake)
            self._update(g_loss, self.opt_g, "g")
        finally:
            for p in self._d_trainable:
                p.requires_grad_(True)
        stats.update(g_stats)
        if self.ema is not None:
            self.ema.update(self.G)
        for scheduler in self.schedulers:
            scheduler.step()
        return stats

    def d_objective(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def g_objective(self, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def after_d_step(self) -> dict[str, Tensor]:
        """Updates that follow each D step (BEGAN's k_t); returns extra statistics."""
        return {}

    def _update(self, loss: Tensor, opt: torch.optim.Optimizer, which: str) -> None:
        """Backward and optimizer step, through the fp16 loss scaler when there is one."""
        scaled_update(loss, opt, self.scalers[which])

    # --- what the loop saves, samples and scores --------------------------------------------------

    def state_dict(self) -> dict:
        return {"fixed_z": self.fixed_z, "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        self.fixed_z = state["fixed_z"]
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)

    def sampling_G(self) -> nn.Module:
        """G_ema with its own batch-norm statistics when the run keeps one, else G."""
        from gankit.train.ema import standing_statistics

        return standing_statistics(self.ema.G_ema) if self.ema is not None else self.G

    def class_collapse(self) -> tuple[Tensor, int] | None:
        """(domain classifier's labels of the fixed-noise samples, class count) for the watchdog, else None."""
        from gankit.metrics import extract_features
        from gankit.sample import generate

        if self.cfg.data.name not in ("fashion-mnist", "digits"):
            return None
        _, logits = extract_features(generate(self.sampling_G(), self.fixed_z), network=self.cfg.data.name)
        return logits.argmax(dim=1), logits.shape[1]



class EBGANFamily(EnergyFamily):
    """EBGAN's losses on top of `EnergyFamily`."""

    def d_objective(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        recon_real, recon_fake = self.reconstruct_both(real, fake)
        real_energy, fake_energy = mse_energy(real, recon_real), mse_energy(fake, recon_fake)
        loss = d_ebgan(real_energy, fake_energy, self.cfg.ebgan.margin)
        return loss, {"d_loss": loss.detach(), "real_energy": real_energy.detach().mean(),
                      "fake_energy": fake_energy.detach().mean()}

    def g_objective(self, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        recon, code = self.D(fake)  # the bare D: its weights are frozen during G's step
        adversarial = g_ebgan(mse_energy(fake, recon))
        stats = {"g_loss": adversarial.detach()}
        loss = adversarial
        if self.cfg.ebgan.pullaway_weight > 0:
            pt = pull_away(code)
            loss = loss + self.cfg.ebgan.pullaway_weight * pt
            stats["pull_away"] = pt.detach()
        return loss, stats


def build_networks(cfg: Config, G: nn.Module, D: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """Spectral norm where `tricks` asks for it, then both networks onto `device`."""
    from gankit.build import place_model
    from gankit.models.tricks import spectral_norm_all

    if cfg.tricks.spectral_norm_d:
        spectral_norm_all(D)
    if cfg.tricks.spectral_norm_g:
        spectral_norm_all(G)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    return G, D


def build_discriminator(cfg: Config, code_dim: int, convs: int) -> AutoencoderDiscriminator:
    """The autoencoder D: width model.d_width, `model.d_options` (norm) passed on."""
    from gankit.build import data_shape

    return AutoencoderDiscriminator(data_shape(cfg.data), cfg.model.d_width, code_dim, convs=convs,
                                    **cfg.model.d_options)


def build_generator(cfg: Config) -> nn.Module:
    """G alone, from the config: the `model.name` generator of `gankit.models.MODELS`."""
    from gankit.build import _construct, data_shape
    from gankit.models import MODELS, check_model_shape

    shape = data_shape(cfg.data)
    check_model_shape(cfg.model.name, shape)
    m = cfg.model
    return _construct(MODELS[m.name][0], "g", (m.z_dim, shape, m.g_width), m.g_options)


def build(cfg: Config, device: torch.device, env) -> EBGANFamily:
    """Data, G (`model.name`), the autoencoder D, optimizers and EMA for `cfg`, on `device`."""
    from gankit.build import build_data

    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    G, D = build_networks(cfg, build_generator(cfg), build_discriminator(cfg, cfg.ebgan.code_dim, cfg.ebgan.convs), device)
    return EBGANFamily(cfg, G, D, data, device, env.world_size)
