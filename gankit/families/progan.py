"""Progressive growing of GANs (Karras et al. 2018) as a gankit family.

G and D start at 4x4 (`progan.start_resolution`) and grow by doubling to `data.resolution`. The
schedule is in real images seen (`nimg`, batch-size invariant): the first level trains
`stable_kimg`, then each new level fades in over `fade_kimg` (alpha 0 -> 1) and trains `stable_kimg`
at alpha 1. One `train_step`:

    stage, alpha = growth_at(nimg)            ; set on G, D and G_ema (new level: reset Adam)
    D step:  real = fade_images(real batch)    ; fake = G(z)
             loss_D = d_loss(D(real), D(fake)) + lambda * GP + drift * E[D(real)^2]   ; update D
    G step:  loss_G = g_loss(D(fake))          ; update G ; update G_ema

with WGAN-GP (`loss.name: wgan-gp`, `loss.penalty_weight` = lambda) in the presets. The growth
state is two buffers of G and D (saved with the weights), and the rest is a function of `nimg`
(saved in the family state), so resuming mid-fade is exact.
"""

from __future__ import annotations


import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.families.base import PairFamily
from gankit.models.progan import ProGANDiscriminator, ProGANGenerator, fade_images, growth_at, growth_plan
from gankit.train.speed import autocast, make_scaler

KIND = "generation"
FIXED_NOISE_SEED_OFFSET = 1_000_003  # fixed sample noise never shares a stream with training (as gan.py)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise GankitError(message)


def validate_image_generation(cfg, family: str, start_resolution: int) -> None:
    """Checks shared by the growing / style families: image data, no classes, a reachable resolution."""
    from gankit.config import resolution_hw

    _require(cfg.data.name in ("fashion-mnist", "digits", "folder"),
             f"the {family} family trains on images (fashion-mnist, digits or folder), not data.name={cfg.data.name}")
    _require(cfg.model.conditioning == "none",
             f"the {family} family is unconditional; set model.conditioning=none")
    _require(start_resolution >= 1, f"{family}.start_resolution must be >= 1, got {start_resolution}")
    h, w = resolution_hw(cfg.data.resolution)
    growth_plan(h, w, start_resolution)
    _require(cfg.train.g_steps == 1, f"the {family} family runs one G step per train step; set train.g_steps=1")


def validate(cfg) -> None:
    """The progan section's ranges and the data it can grow to (one-line errors)."""
    p = cfg.progan
    validate_image_generation(cfg, "progan", p.start_resolution)
    _require(p.fade_kimg >= 0 and p.stable_kimg >= 0, "progan.fade_kimg and progan.stable_kimg must be >= 0")
    _require(p.fade_kimg + p.stable_kimg > 0, "progan.fade_kimg + progan.stable_kimg must be > 0")
    _require(p.fmap_base >= 0, f"progan.fmap_base must be >= 0 (0 = the width everywhere), got {p.fmap_base}")
    _require(p.drift >= 0, f"progan.drift must be >= 0, got {p.drift}")
    _require(p.stddev_group >= 2, f"progan.stddev_group must be >= 2, got {p.stddev_group}")


def image_shape(cfg) -> tuple[int, int, int]:
    from gankit.build import data_shape

    return data_shape(cfg.data)


def build_generator(cfg) -> ProGANGenerator:
    """G alone from the config (grown; a checkpoint's buffers set the stage it had reached)."""
    p = cfg.progan
    return ProGANGenerator(cfg.model.z_dim, image_shape(cfg), cfg.model.g_width, p.fmap_base, p.start_resolution)


def build_discriminator(cfg) -> ProGANDiscriminator:
    p = cfg.progan
    return ProGANDiscriminator(image_shape(cfg), cfg.model.d_width, p.fmap_base, p.start_resolution, p.stddev_group)


def penalty_term(cfg, D: nn.Module, real: Tensor, fake: Tensor, d_updates: int) -> Tensor | None:
    """`loss.penalty` (WGAN-GP, R1, ...) weighted by loss.penalty_weight, lazily every tricks.penalty_every
    D steps (then weighted by that interval as well); None on the steps it skips."""
    from gankit.penalties import get_penalty, penalty_name

    name, every = penalty_name(cfg), cfg.tricks.penalty_every
    if name is None or cfg.loss.penalty_weight == 0 or d_updates % every:
        return None
    return cfg.loss.penalty_weight * every * get_penalty(name)(D, real, fake, None)


class Updater:
    """Backward + optimizer step through the fp16 loss scaler when there is one (as GANTrainer does)."""

    def __init__(self, device: torch.device, precision: str):
        self.scalers = {"g": make_scaler(device, precision), "d": make_scaler(device, precision)}

    def __call__(self, loss: Tensor, opt: torch.optim.Optimizer, which: str) -> None:
        opt.zero_grad(set_to_none=True)
        scaler = self.scalers[which]
        if scaler is None:
            loss.backward()
            opt.step()
            return
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def frozen(module: nn.Module):
    """Context: `module`'s parameters need no gradients (G's step computes only G's)."""

    class _Frozen:
        def __enter__(self):
            self.params = [p for p in module.parameters() if p.requires_grad]
            for p in self.params:
                p.requires_grad_(False)

        def __exit__(self, *exc):
            for p in self.params:
                p.requires_grad_(True)

    return _Frozen()


class ProGANFamily(PairFamily):
    """The growing GAN as the run loop sees it (`gankit.families.base.Family`)."""

    def __init__(self, cfg, G: ProGANGenerator, D: ProGANDiscriminator, data, fixed_z: Tensor, device: torch.device,
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
        self.images_per_step = t.batch_size * t.n_critic  # n_critic real batches per G step
        self.nimg = 0  # real images D has seen: the growth schedule's clock (checkpointed)
        self.d_updates = 0
        p = cfg.progan
        self.fade_nimg, self.stable_nimg = round(p.fade_kimg * 1000), round(p.stable_kimg * 1000)
        self._set_growth(*growth_at(0, self.fade_nimg, self.stable_nimg, G.doublings))

    def _set_growth(self, stage: int, alpha: float) -> None:
        for net in self.networks.values():
            net.set_growth(stage, alpha)

    def grow(self) -> tuple[int, float]:
        """Set the stage and alpha for the images seen so far; a level that starts fading in resets Adam."""
        stage, alpha = growth_at(self.nimg, self.fade_nimg, self.stable_nimg, self.G.doublings)
        if stage != self.G.growth()[0] and self.cfg.progan.reset_optimizer:
            for opt in (self.opt_g, self.opt_d):
                opt.state.clear()  # the new layers' steps start from fresh moments, as the paper's code does
        self._set_growth(stage, alpha)
        return stage, alpha

    def train_step(self) -> dict[str, Tensor]:
        stage, alpha = self.grow()
        cfg, n_critic = self.cfg, self.cfg.train.n_critic
        reuse = n_critic == 1
        fake = None
        for _ in range(n_critic):
            real, _ = self.data.next_batch()
            real = fade_images(real, stage, alpha, self.G.doublings)
            with autocast(self.device, cfg.runtime.precision):
                z = torch.randn(real.shape[0], self.G.z_dim, device=self.device)
                if reuse:
                    fake = self.G_run(z)  # keeps its graph for the G step (same G, so the same maths)
                else:
                    with torch.no_grad():
                        fake = self.G_run(z)
                stats = self.d_step(real, fake.detach())
            self.nimg += real.shape[0]
        stats.update(self.g_step(real.shape[0], fake if reuse else None))
        stats["stage"] = torch.tensor(float(stage))
        stats["alpha"] = torch.tensor(alpha)
        return stats

    def d_step(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """D's loss + lambda * gradient penalty + drift * E[D(real)^2]; one update of D."""
        real_scores, fake_scores = self.D_run(real), self.D_run(fake)
        adversarial = self.d_loss(real_scores, fake_scores)
        loss = adversarial + self.cfg.progan.drift * real_scores.square().mean()
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

    def g_step(self, batch_size: int, fake: Tensor | None) -> dict[str, Tensor]:
        with frozen(self.D), autocast(self.device, self.cfg.runtime.precision):
            if fake is None:
                fake = self.G_run(torch.randn(batch_size, self.G.z_dim, device=self.device))
            loss = self.g_loss(self.D(fake), None)
            self.update(loss, self.opt_g, "g")
        if self.ema is not None:
            self.ema.update(self.G)
        return {"g_loss": loss.detach()}

    def state_dict(self) -> dict:
        return {"nimg": self.nimg, "d_updates": self.d_updates, "fixed_z": self.fixed_z}

    def load_state_dict(self, state: dict) -> None:
        self.nimg, self.d_updates, self.fixed_z = int(state["nimg"]), int(state["d_updates"]), state["fixed_z"]

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """As every pair family scores (grids show the grown resolution as blocks), plus the growth reached."""
        result, key, lower_is_better = super().evaluate(seed)
        stage, alpha = self.G.growth()
        result["protocol"]["growth"] = {"stage": stage, "alpha": alpha}
        return result, key, lower_is_better

    def wrap(self, wrap_module) -> None:
        """Under DDP. The levels not yet grown get no gradient, so the wrappers allow unused parameters."""
        self.G_run = wrap_module(self.G, find_unused_parameters=True)
        self.D_run = wrap_module(self.D, find_unused_parameters=True)


def build(cfg, device: torch.device, env) -> ProGANFamily:
    """Data, the growing G and D, Adam for each, EMA of G, and the fixed sample noise."""
    from gankit.build import build_data, place_model
    from gankit.sample import fixed_latents

    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    G, D = build_generator(cfg), build_discriminator(cfg)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    fixed_z = fixed_latents(cfg.log.n_samples, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
    return ProGANFamily(cfg, G, D, data, fixed_z, device, env.world_size)
