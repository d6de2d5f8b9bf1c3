"""GANTrainer: the D and G update steps, usable from the CLI's loop or from your own.

One `train_step` = `n_critic` D steps, then `g_steps` G steps:

    D step:  fake = G(z, c) ; loss_D = d_loss(D(real), D(fake)) [+ w * penalty] ; update D
    G step:  loss_G = g_loss(D(G(z, c))) ; update G ; update G_ema

Exact speed-ups (same maths, measured in benchmarks/): when one D step is followed
by one G step, the G step reuses the D step's fake batch instead of running G a
second time; during G's step D's parameters do not require gradients, so backward
computes only what G needs.
"""

import copy
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.augment import DInput
from gankit.errors import GankitError
from gankit.losses import NEEDS_REAL_SCORES_FOR_G, DLoss, GLoss, get_loss
from gankit.penalties import Penalty, get_penalty
from gankit.train.ema import EMA
from gankit.train.speed import autocast, make_scaler

Batch = tuple[Tensor, Tensor | None]


def split_d_output(out: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor | None]:
    """D's output as (scores [N], class_logits [N, K] or None): auxiliary heads return a second tensor."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


def aux_class_loss(logits: Tensor, c: Tensor | None) -> Tensor:
    """Mean cross-entropy of class logits `[N, K]` against labels `c` `[N]` (ACGAN's class loss)."""
    if c is None:
        raise GankitError("this discriminator has a class head (ACGAN) but no labels c were given; "
                          "train it on labelled data")
    return F.cross_entropy(logits, c)


class GANTrainer:
    """Holds G, D, their optimizers and the loss; runs D and G updates.

    Args:
        G: generator, `G(z [N, z_dim], c) -> fake [N, ...]`, with attribute `z_dim`.
        D: discriminator, `D(x, c) -> scores [N]`, higher = more real.
        opt_g, opt_d: optimizers over G's and D's parameters.
        loss: a name from `gankit.losses.LOSSES`, or your own `(d_loss, g_loss)` pair of
            functions of scores (`d_loss(real_scores, fake_scores)`, `g_loss(fake_scores, real_scores)`).
        penalty: None, a name from `gankit.penalties.PENALTIES`, or `fn(D, real, fake, c) -> scalar`.
        penalty_weight: multiplies the penalty in D's loss.
        label_smoothing: one-sided smoothing; the real target becomes 1 - label_smoothing.
        clip: if > 0, clamp D's parameters to [-clip, clip] after each D step (WGAN).
        n_critic / g_steps: D steps per train_step / G steps per train_step.
        ema: an `EMA` to update after each G step, or None.
        reuse_fake: let the G step reuse the D step's fake batch when n_critic == g_steps == 1.
        d_input: a `gankit.augment.DInput` every D input goes through (DiffAugment, instance noise).
        label_flip: probability that a (real, fake) score pair swaps targets in D's loss (noisy labels).
        feature_matching: weight of ||mean D.features(real) - mean D.features(fake)||^2 in G's loss.
        unrolled_steps: k > 0 scores G's fakes with a copy of D advanced k D steps (first-order unrolled GAN).
        penalty_every: lazy regularisation: the penalty runs every k-th D step, weighted by k.
        schedulers: LR schedulers, or anything with their `step` / `state_dict` / `load_state_dict` (such as
            `gankit.models.latent.TruncationSwitch`), stepped once per `train_step` (after its G steps).
        aux_weight: weight of the class cross-entropy when D returns `(scores, class_logits)` (ACGAN).
        labelled_batches: semi-supervised GAN: a function returning the next labelled batch
            `(x [M, ...], labels [M])`; D's class logits on it add `sup_weight` x cross-entropy to D's
            loss, and the class head is not trained on the (unlabelled) real and fake batches.
        feature_matching_only: G's loss is the feature-matching term alone (Salimans' recipe for
            semi-supervised learning), without the adversarial term.
        precision: "fp32" | "bf16" | "fp16": autocast dtype of the forwards; fp16 adds one
            GradScaler per network (`scalers`, saved in checkpoints).
        topk_min, topk_decay, topk_every: top-k training of G (Sinha et al. 2020): only the k fakes
            D scores highest enter G's adversarial loss; k / batch starts at 1 and is multiplied by
            `topk_decay` every `topk_every` G updates, down to `topk_min` (1.0 = off).

    Under DistributedDataParallel, `wrap(G_ddp, D_ddp)` makes the steps run G's forwards and
    D's forwards in D's step through the wrappers (so their gradients are all-reduced); G's
    step scores fakes with the bare D, whose gradients it does not compute, so no all-reduce
    of D is expected there. `G` and `D` always stay the bare modules (state dicts, EMA, z_dim).
    """

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        loss: str | tuple[DLoss, GLoss] = "nonsaturating",
        *,
        penalty: str | Penalty | None = None,
        penalty_weight: float = 10.0,
        label_smoothing: float = 0.0,
        clip: float = 0.0,
        n_critic: int = 1,
        g_steps: int = 1,
        ema: EMA | None = None,
        reuse_fake: bool = True,
        d_input: DInput | None = None,
        label_flip: float = 0.0,
        feature_matching: float = 0.0,
        unrolled_steps: int = 0,
        penalty_every: int = 1,
        schedulers: list | None = None,
        precision: str = "fp32",
        aux_weight: float = 1.0,
        labelled_batches: Callable[[], Batch] | None = None,
        sup_weight: float = 1.0,
        feature_matching_only: bool = False,
        topk_min: float = 1.0,
        topk_decay: float = 0.99,
        topk_every: int = 100,
    ):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        if isinstance(loss, str):
            self.d_loss, self.g_loss = get_loss(loss)
            self.g_needs_real = loss in NEEDS_REAL_SCORES_FOR_G
        else:
            self.d_loss, self.g_loss = loss
            self.g_needs_real = True  # unknown user G loss: give it the real scores too
        self.penalty = get_penalty(penalty) if isinstance(penalty, str) else penalty
        self.penalty_weight = penalty_weight
        self.real_label = 1.0 - label_smoothing
        self.clip = clip
        self.n_critic, self.g_steps = n_critic, g_steps
        self.ema = ema
        self.reuse_fake = reuse_fake
        self.aux_weight = aux_weight
        self.labelled_batches, self.sup_weight = labelled_batches, sup_weight
        if feature_matching_only and feature_matching <= 0:
            raise GankitError("feature_matching_only needs a feature_matching weight > 0")
        self.g_adversarial = not feature_matching_only
        # Only the parameters that were trainable at the start get switched back on after G's step.
        self._d_trainable = [p for p in D.parameters() if p.requires_grad]
        self.d_input = d_input if d_input is not None and d_input.active else None
        self.label_flip, self.feature_matching = label_flip, feature_matching
        self.unrolled_steps, self.penalty_every = unrolled_steps, penalty_every
        self.schedulers = list(schedulers or [])
        self.topk_min, self.topk_decay, self.topk_every = topk_min, topk_decay, topk_every
        self.d_updates = self.g_updates = 0  # counters for the lazy penalty and annealing (checkpointed)
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

    def _update(self, loss: Tensor, opt: torch.optim.Optimizer, which: str) -> None:
        """Backward and optimizer step, through the fp16 loss scaler when there is one."""
        opt.zero_grad(set_to_none=True)
        scaler = self.scalers[which]
        if scaler is None:
            loss.backward()
            opt.step()
            return
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def state_dict(self) -> dict:
        """The trainer's own state for checkpoints: update counters and LR schedulers."""
        return {"d_updates": self.d_updates, "g_updates": self.g_updates,
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        self.d_updates, self.g_updates = int(state["d_updates"]), int(state["g_updates"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)

    def topk_fraction(self) -> float:
        """Share of G's fakes that enter its adversarial loss now (top-k training; 1.0 = all).

        A function of the checkpointed `g_updates` alone, so a resumed run keeps the same k."""
        if self.topk_min >= 1.0:
            return 1.0
        return max(self.topk_min, self.topk_decay ** (self.g_updates // self.topk_every))

    def _top_k(self, fake_scores: Tensor, real_scores: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """The k highest fake scores (the fakes D finds most real); the rest get no gradient from G's loss.

        Real scores stay whole, except when they pair one-to-one with the fakes (as in the
        relativistic loss, fake i against real i): then each kept fake keeps its own partner."""
        n = fake_scores.shape[0]
        k = max(1, math.ceil(self.topk_fraction() * n - 1e-9))  # tolerance: 0.5 * 256 must give 128
        if k >= n:
            return fake_scores, real_scores
        idx = fake_scores.detach().topk(k, dim=0).indices
        if real_scores is not None and real_scores.shape == fake_scores.shape:
            real_scores = real_scores[idx]
        return fake_scores[idx], real_scores

    def _to_d(self, x: Tensor) -> Tensor:
        """What D sees of a batch: augmented and noised when those tricks are on."""
        if self.d_input is None:
            return x
        self.d_input.set_step(self.g_updates)
        return self.d_input(x)

    @property
    def device(self) -> torch.device:
        # One of G's parameters, kept: `module.to` moves a parameter's data, not the object, so its
        # device stays current, and the lookup skips a walk over G's modules (several per step).
        return self._g_param.device

    def sample_z(self, n: int) -> Tensor:
        """Standard normal latents `[n, z_dim]` from the global RNG of G's device."""
        return torch.randn(n, self.G.z_dim, device=self.device)

    def d_step(self, real: Tensor, c: Tensor | None = None, fake: Tensor | None = None) -> dict[str, Tensor]:
        """One D update on `real` `[N, ...]` and `fake` (made by G without gradients when not given).

        Returns detached scalars: d_loss, real_score, fake_score (means of raw scores), penalty.
        """
        # Lazy regularisation: the penalty every k-th D step, k times as heavy.
        with_penalty = self.d_updates % self.penalty_every == 0
        with autocast(self.device, self.precision):
            if fake is None:
                with torch.no_grad():
                    fake = self.G_run(self.sample_z(real.shape[0]), c)
            loss, stats = self._d_objective(self.D_run, real, fake.detach(), c, with_penalty, self.penalty_every)
        self._update(loss, self.opt_d, "d")
        self.d_updates += 1
        if self.clip > 0:
            with torch.no_grad():
                for p in self._d_trainable:
                    p.clamp_(-self.clip, self.clip)
        return stats

    def _d_objective(
        self, D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None, with_penalty: bool = True, scale: int = 1
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss on one batch (plus `scale` x the weighted penalty when `with_penalty`) and its stats.

        `D` may be a DDP wrapper; the penalty runs on the bare module (its gradients reach the same
        parameters within the same backward, so they are all-reduced with the rest)."""
        real_in, fake_in = self._to_d(real), self._to_d(fake)
        if getattr(getattr(D, "module", D), "scores_samples_independently", False):
            # One forward over both batches: the same scores (D couples no samples), half the calls.
            n = real_in.shape[0]
            scores, logits = split_d_output(D(torch.cat([real_in, fake_in]), None if c is None else torch.cat([c, c])))
            real_scores, fake_scores = scores[:n], scores[n:]
            real_logits, fake_logits = (None, None) if logits is None else (logits[:n], logits[n:])
        else:
            real_scores, real_logits = split_d_output(D(real_in, c))
            fake_scores, fake_logits = split_d_output(D(fake_in, c))
        stats = {"real_score": real_scores.detach().mean(), "fake_score": fake_scores.detach().mean()}
        if self.label_flip > 0:
            # Noisy labels: a flipped pair scores the real as fake and the fake as real.
            flip = torch.rand(real_scores.shape, device=real_scores.device) < self.label_flip
            real_scores, fake_scores = torch.where(flip, fake_scores, real_scores), torch.where(flip, real_scores, fake_scores)
        if self.real_label == 1.0:
            loss = self.d_loss(real_scores, fake_scores)
        else:
            loss = self.d_loss(real_scores, fake_scores, real_label=self.real_label)
        stats["d_loss"] = loss.detach()
        if self.labelled_batches is not None:  # semi-supervised: cross-entropy on the few labelled images
            labelled, labels = self.labelled_batches()
            sup_loss = F.cross_entropy(split_d_output(D(self._to_d(labelled)))[1], labels)
            loss = loss + self.sup_weight * sup_loss
            stats["d_sup_loss"] = sup_loss.detach()
        elif real_logits is not None:  # ACGAN: D also learns to name the class of reals and fakes
            class_loss = aux_class_loss(real_logits, c) + aux_class_loss(fake_logits, c)
            loss = loss + self.aux_weight * class_loss
            stats["d_class_loss"] = class_loss.detach()
        if self.penalty is not None and self.penalty_weight > 0 and with_penalty:
            penalty = self.penalty(getattr(D, "module", D), real_in, fake_in, c)
            loss = loss + scale * self.penalty_weight * penalty
            stats["penalty"] = penalty.detach()
        return loss, stats

    def g_step(
        self, batch_size: int, c: Tensor | None = None, fake: Tensor | None = None, real: Tensor | None = None
    ) -> dict[str, Tensor]:
        """One G update. `fake` may be a batch G just made with gradients (it is then reused);
        `real` is scored (without gradients) only for losses that compare with real scores,
        and for feature matching and unrolling (which need a real batch)."""
        D = self._unrolled_d(real, c) if self.unrolled_steps > 0 and real is not None else self.D
        for p in self._d_trainable:
            p.requires_grad_(False)
        try:
            with autocast(self.device, self.precision):
                if fake is None:
                    fake = self.G_run(self.sample_z(batch_size), c)
                loss, stats = self._g_objective(D, fake, real, c)
            self._update(loss, self.opt_g, "g")
        finally:
            for p in self._d_trainable:
                p.requires_grad_(True)
        self.g_updates += 1
        if self.ema is not None:
            self.ema.update(self.G)
        return stats

    def _g_objective(self, D: nn.Module, fake: Tensor, real: Tensor | None, c: Tensor | None) -> tuple[Tensor, dict]:
        """G's loss on `fake` (plus feature matching against `real` when on) and its stats."""
        fake_in = self._to_d(fake)
        fake_scores, fake_logits = split_d_output(D(fake_in, c))
        needs_real = real is not None and (self.g_needs_real or self.feature_matching > 0)
        real_in = self._to_d(real) if needs_real else None
        real_scores = None
        if self.g_needs_real and real is not None:
            with torch.no_grad():
                real_scores = split_d_output(D(real_in, c))[0]
        adversarial = self.g_loss(*self._top_k(fake_scores, real_scores))
        stats = {"g_loss": adversarial.detach()}
        loss = adversarial if self.g_adversarial else torch.zeros((), device=fake.device)
        if fake_logits is not None and self.labelled_batches is None:  # ACGAN: fakes should show their class
            loss = loss + self.aux_weight * aux_class_loss(fake_logits, c)
        if self.feature_matching > 0 and real_in is not None:
            with torch.no_grad():
                target = D.features(real_in, c).mean(dim=0)
            fm = (D.features(fake_in, c).mean(dim=0) - target).pow(2).sum()
            loss = loss + self.feature_matching * fm
            stats["feature_matching"] = fm.detach()
        return loss, stats

    def _unrolled_d(self, real: Tensor, c: Tensor | None) -> nn.Module:
        """A copy of D advanced `unrolled_steps` D steps (same optimizer state) on `real` and fresh fakes.

        First-order unrolling (as most implementations): G's gradient is taken through the
        unrolled D's scores, not through the unrolled updates themselves. D is left untouched.
        """
        D = copy.deepcopy(self.D)
        opt = type(self.opt_d)(D.parameters(), **self.opt_d.defaults)
        opt.load_state_dict(copy.deepcopy(self.opt_d.state_dict()))
        for _ in range(self.unrolled_steps):
            with torch.no_grad():
                fake = self.G(self.sample_z(real.shape[0]), c)
            loss, _ = self._d_objective(D, real, fake, c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if self.clip > 0:
                with torch.no_grad():
                    for p in D.parameters():
                        p.clamp_(-self.clip, self.clip)
        return D.requires_grad_(False)

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
