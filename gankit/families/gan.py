"""The noise -> image GAN family: the 2014 GAN, DCGAN, LSGAN, WGAN(-GP), hinge/SNGAN, cGAN, ACGAN,
projection D and the semi-supervised GAN, with every stabiliser.

One `train_step` = `n_critic` D steps, then `g_steps` G steps (Goodfellow et al. 2014, Algorithm 1):

    D step:  fake = G(z, c) ; loss_D = d_loss(D(real), D(fake)) + D-side trick terms ; update D
    G step:  loss_G = g_loss(D(G(z, c))) + G-side trick terms ; update G ; update G_ema

Step tricks (penalties, clipping, label flips, class losses, feature matching, top-k,
unrolling) are objects from `gankit.families.gan_tricks`, called at the points named in the
step; model tricks wrap the networks when they are built (`gankit.build.build_models`).

Exact speed-ups (same maths, measured in benchmarks/): when one D step is followed by one G
step, the G step reuses the D step's fake batch instead of running G a second time; during G's
step D's parameters do not require gradients, so backward computes only what G needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gankit.augment import DInput
from gankit.errors import GankitError
from gankit.families.gan_tricks import DView, GView, StepTrick
from gankit.losses import NEEDS_REAL_SCORES_FOR_G, DLoss, GLoss, get_loss
from gankit.train.ema import EMA
from gankit.train.speed import autocast, make_scaler, scaled_update

KIND = "generation"
Batch = tuple[Tensor, Tensor | None]


def split_d_output(out: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor | None]:
    """D's output as (scores [N], class_logits [N, K] or None): auxiliary heads return a second tensor."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


def scores_in_one_call(D: nn.Module) -> bool:
    """True when D may score the real and fake batches in one forward with the same result as two.

    D must say its score for each sample depends on that sample alone and draws no random numbers
    (`scores_samples_independently`), and hold no spectral norm: each forward in training mode runs
    one power iteration, so one call would give the scores of one iteration where two calls give two."""
    bare = getattr(D, "module", D)
    if not getattr(bare, "scores_samples_independently", False):
        return False
    return not any(parametrize.is_parametrized(m) or hasattr(m, "weight_u") for m in bare.modules())


class GANTrainer:
    """Holds G, D, their optimizers, the loss and the step tricks; runs D and G updates.

    Args:
        G: generator, `G(z [N, z_dim], c) -> fake [N, ...]`, with attribute `z_dim`.
        D: discriminator, `D(x, c) -> scores [N]`, higher = more real (or `(scores, class_logits)`).
        opt_g, opt_d: optimizers over G's and D's parameters.
        loss: a name from `gankit.losses.LOSSES`, or your own `(d_loss, g_loss)` pair of
            functions of scores (`d_loss(real_scores, fake_scores)`, `g_loss(fake_scores, real_scores)`).
        label_smoothing: one-sided smoothing; the real target becomes 1 - label_smoothing.
        n_critic / g_steps: D steps per train_step / G steps per train_step.
        ema: an `EMA` to update after each G step, or None.
        d_input: a `gankit.augment.DInput` every D input goes through (DiffAugment, instance noise).
        tricks: step tricks (`gankit.families.gan_tricks`), called in order at each hook point.
        schedulers: LR schedulers, or anything with their `step` / `state_dict` / `load_state_dict`,
            stepped once per `train_step` (after its G steps).
        precision: "fp32" | "bf16" | "fp16": autocast dtype of the forwards; fp16 adds one
            GradScaler per network (`scalers`, saved in checkpoints).
        reuse_fake: let the G step reuse the D step's fake batch when n_critic == g_steps == 1.

    Under DistributedDataParallel, `wrap(G_ddp, D_ddp)` makes the steps run G's forwards and
    D's forwards in D's step through the wrappers (so their gradients are all-reduced); G's
    step scores fakes with the bare D, whose gradients it does not compute.
    """

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        loss: str | tuple[DLoss, GLoss] = "nonsaturating",
        *,
        label_smoothing: float = 0.0,
        n_critic: int = 1,
        g_steps: int = 1,
        ema: EMA | None = None,
        d_input: DInput | None = None,
        tricks: Sequence[StepTrick] = (),
        schedulers: Sequence = (),
        precision: str = "fp32",
        reuse_fake: bool = True,
    ):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        if isinstance(loss, str):
            self.d_loss, self.g_loss = get_loss(loss)
            self.g_needs_real = loss in NEEDS_REAL_SCORES_FOR_G
        else:
            self.d_loss, self.g_loss = loss
            self.g_needs_real = True  # unknown user G loss: give it the real scores too
        self.real_label = 1.0 - label_smoothing
        self.n_critic, self.g_steps = n_critic, g_steps
        self.ema, self.reuse_fake = ema, reuse_fake
        self.d_input = d_input if d_input is not None and d_input.active else None
        self.tricks = list(tricks)
        self.schedulers = list(schedulers)
        self.class_head_trained = any(t.uses_class_head for t in self.tricks)
        self.g_adversarial = not any(t.replaces_adversarial for t in self.tricks)
        self.g_needs_real_in = any(t.needs_real_in_g for t in self.tricks)
        # Only the parameters that were trainable at the start get switched back on after G's step.
        self._d_trainable = [p for p in D.parameters() if p.requires_grad]
        self.one_call = scores_in_one_call(D)
        self.d_updates = self.g_updates = 0  # counters for lazy penalties and annealing (checkpointed)
        self._wrapped: tuple[nn.Module, nn.Module] | None = None  # DDP wrappers, set by wrap()
        self.precision = precision
        self._g_param = next(G.parameters())
        device = self._g_param.device
        self.scalers = {"d": make_scaler(device, precision), "g": make_scaler(device, precision)}

    def wrap(self, G_run: nn.Module, D_run: nn.Module) -> None:
        """Run the forwards that need gradient sync through these wrappers (e.g. DDP of G and D)."""
        self._wrapped = (G_run, D_run)

    @property
    def G_run(self) -> nn.Module:
        """What the steps call for G: its DDP wrapper after `wrap`, else G itself."""
        return self._wrapped[0] if self._wrapped is not None else self.G

    @property
    def D_run(self) -> nn.Module:
        return self._wrapped[1] if self._wrapped is not None else self.D

    @property
    def device(self) -> torch.device:
        # One of G's parameters, kept: `module.to` moves a parameter's data, not the object, so its
        # device stays current, and the lookup skips a walk over G's modules (several per step).
        return self._g_param.device

    def sample_z(self, n: int) -> Tensor:
        """Standard normal latents `[n, z_dim]` from the global RNG of G's device."""
        return torch.randn(n, self.G.z_dim, device=self.device)

    def _update(self, loss: Tensor, opt: torch.optim.Optimizer, which: str) -> None:
        """Backward and optimizer step, through the fp16 loss scaler when there is one."""
        scaled_update(loss, opt, self.scalers[which])

    def state_dict(self) -> dict:
        """The trainer's own state for checkpoints: update counters and LR schedulers."""
        return {"d_updates": self.d_updates, "g_updates": self.g_updates,
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        self.d_updates, self.g_updates = int(state["d_updates"]), int(state["g_updates"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)

    def to_d(self, x: Tensor) -> Tensor:
        """What D sees of a batch: augmented and noised when those tricks are on."""
        if self.d_input is None:
            return x
        self.d_input.set_step(self.g_updates)
        return self.d_input(x)

    def d_step(self, real: Tensor, c: Tensor | None = None, fake: Tensor | None = None) -> dict[str, Tensor]:
        """One D update on `real` `[N, ...]` and `fake` (made by G without gradients when not given).

        Returns detached scalars: d_loss, real_score, fake_score (means of raw scores) and the tricks' terms.
        """
        with autocast(self.device, self.precision):
            if fake is None:
                with torch.no_grad():
                    fake = self.G_run(self.sample_z(real.shape[0]), c)
            loss, stats = self.d_objective(self.D_run, real, fake.detach(), c)
        self._update(loss, self.opt_d, "d")
        self.d_updates += 1
        for trick in self.tricks:
            trick.after_d_update(self.D)
        return stats

    def _score_both(self, D: nn.Module, real_in: Tensor, fake_in: Tensor, c: Tensor | None):
        """(real_scores, real_logits, fake_scores, fake_logits), in one D call where that is exact."""
        if self.one_call:
            n = real_in.shape[0]
            scores, logits = split_d_output(D(torch.cat([real_in, fake_in]), None if c is None else torch.cat([c, c])))
            return scores[:n], None if logits is None else logits[:n], scores[n:], None if logits is None else logits[n:]
        real_scores, real_logits = split_d_output(D(real_in, c))
        fake_scores, fake_logits = split_d_output(D(fake_in, c))
        return real_scores, real_logits, fake_scores, fake_logits

    def d_objective(self, D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss on one batch (the loss of its scores plus every trick's D term) and its stats.

        `D` may be a DDP wrapper; tricks get the bare module (its gradients reach the same
        parameters within the same backward, so they are all-reduced with the rest)."""
        real_in, fake_in = self.to_d(real), self.to_d(fake)
        real_scores, real_logits, fake_scores, fake_logits = self._score_both(D, real_in, fake_in, c)
        if real_logits is not None and not self.class_head_trained:
            raise GankitError("D has a class head but no trick trains it; pass ACGANClassLoss or SemiSupervisedLoss "
                              "in tricks=[...] (gankit.families.gan_tricks)")
        stats = {"real_score": real_scores.detach().mean(), "fake_score": fake_scores.detach().mean()}
        for trick in self.tricks:
            real_scores, fake_scores = trick.d_scores(real_scores, fake_scores)
        if self.real_label == 1.0:
            loss = self.d_loss(real_scores, fake_scores)
        else:
            loss = self.d_loss(real_scores, fake_scores, real_label=self.real_label)
        stats["d_loss"] = loss.detach()
        view = DView(getattr(D, "module", D), real_in, fake_in, c, real_logits, fake_logits, self.d_updates, self.to_d)
        for trick in self.tricks:
            term, trick_stats = trick.d_term(view)
            if term is not None:
                loss = loss + term
            stats.update(trick_stats)
        return loss, stats

    def g_step(
        self, batch_size: int, c: Tensor | None = None, fake: Tensor | None = None, real: Tensor | None = None
    ) -> dict[str, Tensor]:
        """One G update. `fake` may be a batch G just made with gradients (it is then reused);
        `real` is scored (without gradients) only for losses that compare with real scores,
        and for tricks that need a real batch (feature matching, unrolling)."""
        D = self.D
        for trick in self.tricks:
            D = trick.g_critic(self, real, c) or D
        for p in self._d_trainable:
            p.requires_grad_(False)
        try:
            with autocast(self.device, self.precision):
                if fake is None:
                    fake = self.G_run(self.sample_z(batch_size), c)
                loss, stats = self.g_objective(D, fake, real, c)
            self._update(loss, self.opt_g, "g")
        finally:
            for p in self._d_trainable:
                p.requires_grad_(True)
        self.g_updates += 1
        if self.ema is not None:
            self.ema.update(self.G)
        return stats

    def g_objective(self, D: nn.Module, fake: Tensor, real: Tensor | None, c: Tensor | None) -> tuple[Tensor, dict]:
        """G's loss on `fake` (the adversarial term plus every trick's G term) and its stats."""
        fake_in = self.to_d(fake)
        fake_scores, fake_logits = split_d_output(D(fake_in, c))
        needs_real = real is not None and (self.g_needs_real or self.g_needs_real_in)
        real_in = self.to_d(real) if needs_real else None
        real_scores = None
        if self.g_needs_real and real is not None:
            with torch.no_grad():
                real_scores = split_d_output(D(real_in, c))[0]
        for trick in self.tricks:
            fake_scores, real_scores = trick.g_scores(fake_scores, real_scores, self.g_updates)
        adversarial = self.g_loss(fake_scores, real_scores)
        stats = {"g_loss": adversarial.detach()}
        loss = adversarial if self.g_adversarial else torch.zeros((), device=fake.device)
        view = GView(D, fake_in, real_in, c, fake_logits)
        for trick in self.tricks:
            term, trick_stats = trick.g_term(view)
            if term is not None:
                loss = loss + term
            stats.update(trick_stats)
        return loss, stats

    def train_step(self, next_batch: Callable[[], Batch]) -> dict[str, Tensor]:
        """n_critic D steps on batches from `next_batch()`, then g_steps G steps. Returns the last stats."""
        reuse = self.reuse_fake and self.n_critic == 1 and self.g_steps == 1
        fake = None
        for _ in range(self.n_critic):
            real, c = next_batch()
            if reuse:
                with autocast(self.device, self.precision):
                    fake = self.G_run(self.sample_z(real.shape[0]), c)  # keeps its graph for the G step
            stats = self.d_step(real, c, fake)
        for _ in range(self.g_steps):
            stats.update(self.g_step(real.shape[0], c, fake=fake, real=real))
            fake = None
        for scheduler in self.schedulers:
            scheduler.step()
        return stats


def step_tricks(cfg, labelled_batches: Callable[[], Batch] | None = None) -> list[StepTrick]:
    """The step tricks `cfg` asks for, in the order the step applies them."""
    from gankit.families import gan_tricks as gt
    from gankit.penalties import penalty_name

    lo, tr, m = cfg.loss, cfg.tricks, cfg.model
    tricks: list[StepTrick] = []
    if tr.label_flip > 0:
        tricks.append(gt.LabelFlip(tr.label_flip))
    if m.conditioning == "acgan":
        tricks.append(gt.ACGANClassLoss(cfg.cond.aux_weight))
    if m.conditioning == "semi-supervised":
        tricks.append(gt.SemiSupervisedLoss(labelled_batches, cfg.semi.sup_weight))
    if penalty_name(cfg) is not None:
        tricks.append(gt.GradientPenalty(penalty_name(cfg), lo.penalty_weight, tr.penalty_every))
    if lo.clip > 0:
        tricks.append(gt.WeightClip(lo.clip))
    if tr.feature_matching > 0:
        tricks.append(gt.FeatureMatching(tr.feature_matching, only=tr.feature_matching_only))
    if tr.topk_min < 1.0:
        tricks.append(gt.TopK(tr.topk_min, tr.topk_decay, tr.topk_every))
    if tr.unrolled_steps > 0:
        tricks.append(gt.Unrolled(tr.unrolled_steps))
    return tricks


def build_trainer(cfg, G: nn.Module, D: nn.Module, world_size: int = 1,
                  labelled_batches: Callable[[], Batch] | None = None) -> GANTrainer:
    """The trainer for `cfg`; `world_size` processes each take train.batch_size images per step.

    `labelled_batches` (a semi-supervised run's `TrainingData.labelled_batches`) feeds D's supervised term."""
    from gankit.build import build_optimizers, build_schedulers
    from gankit.train.ema import ema_beta

    opt_g, opt_d = build_optimizers(cfg, G, D)
    t, tr = cfg.train, cfg.tricks
    ema = EMA(G, ema_beta(t.ema_kimg, t.batch_size * world_size)) if t.ema_kimg > 0 else None
    return GANTrainer(
        G, D, opt_g, opt_d, cfg.loss.name,
        label_smoothing=cfg.loss.label_smoothing,
        n_critic=t.n_critic,
        g_steps=t.g_steps,
        ema=ema,
        d_input=DInput(tr.augment, tr.instance_noise, tr.schedule_steps or t.steps),
        tricks=step_tricks(cfg, labelled_batches),
        schedulers=build_schedulers(cfg, opt_g, opt_d, G),
        precision=cfg.runtime.precision,
    )


FIXED_NOISE_SEED_OFFSET = 1_000_003  # fixed sample noise never shares a stream with training


class GANFamily:
    """The noise -> image GAN as the run loop sees it (`gankit.families.base.Family`)."""

    def __init__(self, cfg, trainer: GANTrainer, data, fixed_z: Tensor):
        self.cfg, self.trainer, self.data, self.fixed_z = cfg, trainer, data, fixed_z
        self.sampler = data.sampler
        self.scalers = trainer.scalers
        self.images_per_step = cfg.train.batch_size * cfg.train.n_critic

    @property
    def networks(self) -> dict[str, nn.Module]:
        nets = {"G": self.trainer.G, "D": self.trainer.D}
        if self.trainer.ema is not None:
            nets["G_ema"] = self.trainer.ema.G_ema
        return nets

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.trainer.opt_g, "d": self.trainer.opt_d}

    @property
    def schedulers(self) -> list:
        """LR schedulers (the watchdog lowers their base rates on a rollback)."""
        return self.trainer.schedulers

    def sampling_G(self) -> nn.Module:
        """G_ema with its own batch-norm statistics when the run keeps one, else G."""
        from gankit.train.ema import standing_statistics

        return standing_statistics(self.trainer.ema.G_ema) if self.trainer.ema is not None else self.trainer.G

    def train_step(self) -> dict[str, Tensor]:
        return self.trainer.train_step(self.data.next_batch)

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "fixed_z": self.fixed_z}

    def load_state_dict(self, state: dict) -> None:
        if state.get("trainer") is not None:  # update counters and LR schedulers (absent in older checkpoints)
            self.trainer.load_state_dict(state["trainer"])
        self.fixed_z = state["fixed_z"]

    def write_samples(self, path: Path) -> None:
        """Sample grid (or scatter for 2-D data) from G_ema when it exists, else G, on the fixed noise
        (truncated as the run samples: `tricks.sample_truncation`)."""
        from gankit.sample import generate, save_samples, truncate_latents

        G = self.sampling_G()
        samples = generate(G, truncate_latents(G, self.fixed_z, self.cfg.tricks.sample_truncation))
        reference = self.data.reference
        save_samples(samples, path, reference=reference if samples.dim() == 2 else None)

    def class_collapse(self) -> tuple[Tensor, int] | None:
        """(domain classifier's labels of the fixed-noise samples, class count) for the watchdog's
        mode-collapse check, where the data has a shipped classifier (fashion-mnist, digits); else None."""
        from gankit.metrics import extract_features
        from gankit.sample import generate, truncate_latents

        if self.cfg.data.name not in ("fashion-mnist", "digits") or self.data.reference.dim() != 4:
            return None
        G = self.sampling_G()
        images = generate(G, truncate_latents(G, self.fixed_z, self.cfg.tricks.sample_truncation))
        _, logits = extract_features(images, network=self.cfg.data.name)
        return logits.argmax(dim=1), logits.shape[1]

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """Score G_ema (or G) as `eval.*` says; returns (result, primary key, lower is better)."""
        from gankit.metrics.evaluate import default_metrics, evaluate_run, primary_key

        cfg = self.cfg
        which = "G_ema" if self.trainer.ema is not None else "G"
        result = evaluate_run(self.sampling_G(), self.trainer.D, cfg, seed=seed, which=which,
                              device=self.trainer.device, truncation=cfg.tricks.sample_truncation)
        key, lower_is_better = primary_key(cfg.eval.metrics or default_metrics(cfg.data), cfg.data)
        return result, key, lower_is_better

    def wrap(self, wrap_module: Callable[[nn.Module], nn.Module]) -> None:
        self.trainer.wrap(wrap_module(self.trainer.G), wrap_module(self.trainer.D))


def build_generator(cfg) -> nn.Module:
    """G alone, from the config (sampling a checkpoint needs no dataset)."""
    from gankit.build import build_models

    return build_models(cfg)[0]


def build(cfg, device: torch.device, env) -> GANFamily:
    """Data, G and D (with their model tricks), optimizers, EMA and step tricks for `cfg`, on `device`."""
    from gankit.build import build_data, build_models, place_model, resolve_num_classes
    from gankit.sample import fixed_latents
    from gankit.train import distributed

    # Data first: a conditional model takes its class count from the labels.
    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    resolve_num_classes(cfg, data.num_classes)
    G, D = build_models(cfg)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    if env.enabled and cfg.runtime.sync_bn:
        G, D = distributed.convert_sync_bn(G, device), distributed.convert_sync_bn(D, device)
    trainer = build_trainer(cfg, G, D, world_size=env.world_size, labelled_batches=data.labelled_batches)
    if cfg.runtime.compile:
        # In place, so state_dict keys and attributes stay the bare module's; after build_trainer,
        # so G_ema is a copy of the plain G (a deep copy would share the compiled call of G).
        G.compile()
        D.compile()
    n_points = 1000 if data.reference.dim() == 2 else cfg.log.n_samples
    fixed_z = fixed_latents(n_points, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
    return GANFamily(cfg, trainer, data, fixed_z)
