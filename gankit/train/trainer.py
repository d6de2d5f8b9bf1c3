"""GANTrainer: the D and G update steps, usable from the CLI's loop or from your own.

One `train_step` = `n_critic` D steps, then `g_steps` G steps:

    D step:  fake = G(z, c) ; loss_D = d_loss(D(real), D(fake)) [+ w * penalty] ; update D
    G step:  loss_G = g_loss(D(G(z, c))) ; update G ; update G_ema

Exact speed-ups (same maths, measured in benchmarks/): when one D step is followed
by one G step, the G step reuses the D step's fake batch instead of running G a
second time; during G's step D's parameters do not require gradients, so backward
computes only what G needs.
"""

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError

from gankit.losses import NEEDS_REAL_SCORES_FOR_G, DLoss, GLoss, get_loss
from gankit.penalties import Penalty, get_penalty
from gankit.train.ema import EMA

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
        aux_weight: weight of the class cross-entropy when D returns `(scores, class_logits)` (ACGAN).
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
        aux_weight: float = 1.0,
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
        # Only the parameters that were trainable at the start get switched back on after G's step.
        self._d_trainable = [p for p in D.parameters() if p.requires_grad]

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def sample_z(self, n: int) -> Tensor:
        """Standard normal latents `[n, z_dim]` from the global RNG of G's device."""
        return torch.randn(n, self.G.z_dim, device=self.device)

    def d_step(self, real: Tensor, c: Tensor | None = None, fake: Tensor | None = None) -> dict[str, Tensor]:
        """One D update on `real` `[N, ...]` and `fake` (made by G without gradients when not given).

        Returns detached scalars: d_loss, real_score, fake_score (means of raw scores), penalty.
        """
        if fake is None:
            with torch.no_grad():
                fake = self.G(self.sample_z(real.shape[0]), c)
        fake = fake.detach()
        real_scores, real_logits = split_d_output(self.D(real, c))
        fake_scores, fake_logits = split_d_output(self.D(fake, c))
        if self.real_label == 1.0:
            loss = self.d_loss(real_scores, fake_scores)
        else:
            loss = self.d_loss(real_scores, fake_scores, real_label=self.real_label)
        stats = {"d_loss": loss.detach()}
        if real_logits is not None:  # ACGAN: D also learns to name the class of reals and fakes
            class_loss = aux_class_loss(real_logits, c) + aux_class_loss(fake_logits, c)
            loss = loss + self.aux_weight * class_loss
            stats["d_class_loss"] = class_loss.detach()
        if self.penalty is not None and self.penalty_weight > 0:
            penalty = self.penalty(self.D, real, fake, c)
            loss = loss + self.penalty_weight * penalty
            stats["penalty"] = penalty.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if self.clip > 0:
            with torch.no_grad():
                for p in self._d_trainable:
                    p.clamp_(-self.clip, self.clip)
        stats["real_score"] = real_scores.detach().mean()
        stats["fake_score"] = fake_scores.detach().mean()
        return stats

    def g_step(
        self, batch_size: int, c: Tensor | None = None, fake: Tensor | None = None, real: Tensor | None = None
    ) -> dict[str, Tensor]:
        """One G update. `fake` may be a batch G just made with gradients (it is then reused);
        `real` is scored (without gradients) only for losses that compare with real scores."""
        for p in self._d_trainable:
            p.requires_grad_(False)
        try:
            if fake is None:
                fake = self.G(self.sample_z(batch_size), c)
            fake_scores, fake_logits = split_d_output(self.D(fake, c))
            real_scores = None
            if self.g_needs_real and real is not None:
                with torch.no_grad():
                    real_scores = split_d_output(self.D(real, c))[0]
            loss = self.g_loss(fake_scores, real_scores)
            if fake_logits is not None:  # ACGAN: G's fakes should be recognisable as their class
                loss = loss + self.aux_weight * aux_class_loss(fake_logits, c)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            for p in self._d_trainable:
                p.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.G)
        return {"g_loss": loss.detach()}

    def train_step(self, next_batch: Callable[[], Batch]) -> dict[str, Tensor]:
        """n_critic D steps on batches from `next_batch()`, then g_steps G steps. Returns the last stats."""
        reuse = self.reuse_fake and self.n_critic == 1 and self.g_steps == 1
        fake = None
        for _ in range(self.n_critic):
            real, c = next_batch()
            if reuse:
                fake = self.G(self.sample_z(real.shape[0]), c)  # keeps its graph for the G step
            stats = self.d_step(real, c, fake)
        for _ in range(self.g_steps):
            stats.update(self.g_step(real.shape[0], c, fake=fake, real=real))
            fake = None
        return stats
