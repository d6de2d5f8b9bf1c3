"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image Synthesis") on its
SNGAN ResNet backbone (Miyato et al. 2018), as a family: `model.family: biggan`.

What BigGAN adds to a projection-D, hinge-loss SNGAN, and where each piece lives:

    networks   residual G and D (`gankit.models.resnet`); G's blocks use class-conditional batch norm
               fed by ONE shared class embedding plus a chunk of z each (hierarchical z); projection D
    D step     x n_critic:  fake = G(z, c) ; loss_D = hinge(D(real, c), D(fake, c)) ; update D
    G step     loss_G = -mean D(G(z, c), c) + beta * sum_W ||W W^T * (1 - I)||^2 ; update G ; update G_ema
    sampling   G_ema with standing statistics (its own batch-norm statistics); truncation by resampling:
               z coordinates outside [-psi, psi] redrawn (`ResNetGenerator.truncate_z`)

The step itself is the GAN family's (`gankit.families.gan.GANTrainer`: n_critic D steps, then the G step
with every trick's term, then the EMA update), so BigGAN's one new step term, the orthogonal
regulariser, is one step trick (`gan_tricks.OrthogonalRegularisation` over `penalties.orthogonal`),
and every other GAN trick (DiffAugment, penalties, LR schedules, AMP, DDP) works unchanged. What
differs from the gan family is only how the networks are built: G reads the class inside every
block, which the gan family's conditioning wrappers (class embedding concatenated to z) cannot do.

`model.conditioning`: `projection` (class-conditional G and projection D: BigGAN) or `none`
(unconditional: SNGAN's ResNet; hierarchical z may still feed the batch norms). Spectral norm follows
`tricks.spectral_norm_g` / `spectral_norm_d`; on G it skips the shared class embedding, as BigGAN does.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.families.gan import FIXED_NOISE_SEED_OFFSET, GANFamily, GANTrainer, step_tricks
from gankit.models.resnet import ResNetDiscriminator, ResNetGenerator, resnet_blocks, z_chunks

KIND = "generation"
CONDITIONINGS = ("none", "projection")
IMAGE_DATA = ("fashion-mnist", "digits", "folder")
# Model tricks of the gan family wrap its networks in gankit.build; this family builds its own.
GAN_MODEL_TRICKS = (("minibatch", "none"), ("pack", 1), ("g_norm", "batch"), ("latent_mixture", 0))


def validate(cfg) -> None:
    """What the biggan family needs from the config (one-line GankitErrors naming the key)."""
    from gankit.build import data_shape

    b, m = cfg.biggan, cfg.model
    if cfg.data.name not in IMAGE_DATA:
        raise GankitError(f"the biggan family trains on images ({', '.join(IMAGE_DATA)}), not data.name={cfg.data.name}")
    if m.conditioning not in CONDITIONINGS:
        raise GankitError(f"the biggan family supports model.conditioning none (SNGAN) or projection (BigGAN), "
                          f"not {m.conditioning}; use the gan family for cgan, acgan or semi-supervised")
    if b.shared_dim < 1:
        raise GankitError(f"biggan.shared_dim must be >= 1, got {b.shared_dim}")
    if b.orthogonal < 0:
        raise GankitError(f"biggan.orthogonal must be >= 0 (0 = off), got {b.orthogonal}")
    if m.g_options or m.d_options:
        raise GankitError("the biggan family takes no model.g_options / d_options; use model.g_width, d_width and "
                          "the biggan.* keys")
    for key, off in GAN_MODEL_TRICKS:
        if getattr(cfg.tricks, key) != off:
            raise GankitError(f"tricks.{key} wraps the gan family's networks and is not applied by the biggan "
                              f"family; set tricks.{key}={off}")
    blocks, _, _ = resnet_blocks(data_shape(cfg.data))  # the sizes the ResNet can build
    z_chunks(m.z_dim, blocks, b.hierarchical_z)


def spectral_norm_generator(G: ResNetGenerator) -> ResNetGenerator:
    """Spectral norm on every linear / conv weight of G (batch-norm gains and biases included), not on
    the shared class embedding (BigGAN keeps it a plain embedding). In place; returns G."""
    from gankit.models.tricks import spectral_norm_all

    for name, child in G.named_children():
        if name != "shared":
            spectral_norm_all(child)
    return G


def build_networks(cfg) -> tuple[nn.Module, nn.Module]:
    """G and D from the config (freshly initialised: seed first), spectral-normalised as `tricks.*` says."""
    from gankit.build import data_shape
    from gankit.models.tricks import spectral_norm_all

    m, b = cfg.model, cfg.biggan
    shape = data_shape(cfg.data)
    num_classes = m.num_classes if m.conditioning == "projection" else 0
    if m.conditioning == "projection" and num_classes < 2:
        raise GankitError("model.conditioning=projection needs model.num_classes >= 2 (0 is resolved from the data's "
                          "labels when training); set --set model.num_classes=K")
    G = ResNetGenerator(m.z_dim, shape, m.g_width, num_classes=num_classes, shared_dim=b.shared_dim,
                        hierarchical_z=b.hierarchical_z)
    D = ResNetDiscriminator(shape, m.d_width, num_classes=num_classes)
    if cfg.tricks.spectral_norm_g:
        spectral_norm_generator(G)
    if cfg.tricks.spectral_norm_d:
        spectral_norm_all(D)
    return G, D


def build_generator(cfg) -> nn.Module:
    """G alone, from the config (`gankit sample`, `eval`, `interpolate` need no dataset)."""
    return build_networks(cfg)[0]


def build_trainer(cfg, G: nn.Module, D: nn.Module, world_size: int = 1) -> GANTrainer:
    """The GAN step with BigGAN's settings: `loss.name` (hinge), n_critic D steps, the orthogonal
    regulariser on G (weight `biggan.orthogonal`), EMA of G (`train.ema_kimg`), and the gan family's step tricks."""
    from gankit.augment import DInput
    from gankit.build import build_optimizers, build_schedulers
    from gankit.families.gan_tricks import OrthogonalRegularisation
    from gankit.train.ema import EMA, ema_beta

    t, tr = cfg.train, cfg.tricks
    opt_g, opt_d = build_optimizers(cfg, G, D)
    ema = EMA(G, ema_beta(t.ema_kimg, t.batch_size * world_size)) if t.ema_kimg > 0 else None
    tricks = step_tricks(cfg)
    if cfg.biggan.orthogonal > 0:
        tricks.append(OrthogonalRegularisation(G, cfg.biggan.orthogonal))
    return GANTrainer(G, D, opt_g, opt_d, cfg.loss.name, label_smoothing=cfg.loss.label_smoothing,
                      n_critic=t.n_critic, g_steps=t.g_steps, ema=ema,
                      d_input=DInput(tr.augment, tr.instance_noise, tr.schedule_steps or t.steps), tricks=tricks,
                      schedulers=build_schedulers(cfg, opt_g, opt_d, G), precision=cfg.runtime.precision)


def build(cfg, device: torch.device, env) -> GANFamily:
    """Data, the ResNet G and D, optimizers, EMA and the orthogonal regulariser for `cfg`, on `device`.

    The training state is the GAN family's (`GANFamily`): its sample grids and evaluations use G_ema
    with standing statistics, truncated as `tricks.sample_truncation` says (by resampling, for this G)."""
    from gankit.build import build_data, place_model, resolve_num_classes
    from gankit.sample import fixed_latents
    from gankit.train import distributed

    validate(cfg)
    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    resolve_num_classes(cfg, data.num_classes)
    G, D = build_networks(cfg)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    if env.enabled and cfg.runtime.sync_bn:
        G, D = distributed.convert_sync_bn(G, device), distributed.convert_sync_bn(D, device)
    trainer = build_trainer(cfg, G, D, world_size=env.world_size)
    if cfg.runtime.compile:
        G.compile()  # in place, after the EMA copy (see gankit.families.gan.build)
        D.compile()
    fixed_z = fixed_latents(cfg.log.n_samples, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
    return GANFamily(cfg, trainer, data, fixed_z)
