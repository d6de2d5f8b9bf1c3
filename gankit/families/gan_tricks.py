"""Step tricks of the noise -> image GAN: each one small object, each in one place.

The GAN family's step (`gankit.families.gan.GANTrainer`) names its hook points in the order
the algorithm runs them, and calls every trick there; a trick implements only the points it
needs (the base class's are no-ops):

    D step:  real_scores, fake_scores = trick.d_scores(...)      label flipping
             loss_D += trick.d_term(view)                         gradient penalty, class losses
             trick.after_d_update(D)                              WGAN weight clipping
    G step:  D_for_G = trick.g_critic(trainer, real, c)           unrolled D
             fake_scores, real_scores = trick.g_scores(...)       top-k fakes
             loss_G += trick.g_term(view)                         feature matching, ACGAN class loss

Model tricks (spectral norm, minibatch layers, PacGAN, latent mixtures, reference batch norm)
are not here: they wrap the networks when they are built (`gankit.families.gan.build_networks`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.penalties import Penalty, get_penalty

Batch = tuple[Tensor, Tensor | None]


def aux_class_loss(logits: Tensor, c: Tensor | None) -> Tensor:
    """Mean cross-entropy of class logits `[N, K]` against labels `c` `[N]` (ACGAN's class loss)."""
    if c is None:
        raise GankitError("this discriminator has a class head (ACGAN) but no labels c were given; "
                          "train it on labelled data")
    return F.cross_entropy(logits, c)


@dataclass
class DView:
    """What a D-loss term may read: the bare D, its inputs as D saw them, class logits, the update count."""

    D: nn.Module
    real_in: Tensor
    fake_in: Tensor
    c: Tensor | None
    real_logits: Tensor | None
    fake_logits: Tensor | None
    d_updates: int
    to_d: Callable[[Tensor], Tensor]  # what D sees of any batch (augmentation, instance noise)


@dataclass
class GView:
    """What a G-loss term may read: the D that scores G, the fakes (with gradients) and reals as D sees them."""

    D: nn.Module
    fake_in: Tensor
    real_in: Tensor | None
    c: Tensor | None
    fake_logits: Tensor | None


class StepTrick:
    """No-op hooks; a trick overrides the points of the GAN step it needs."""

    uses_class_head = False  # trains D's class logits (so the step does not complain they are unused)
    replaces_adversarial = False  # G's adversarial term is reported but not trained on
    needs_real_in_g = False  # G's step must pass D's view of the real batch

    def d_scores(self, real_scores: Tensor, fake_scores: Tensor) -> tuple[Tensor, Tensor]:
        return real_scores, fake_scores

    def d_term(self, view: DView) -> tuple[Tensor | None, dict[str, Tensor]]:
        return None, {}

    def after_d_update(self, D: nn.Module) -> None:
        pass

    def g_critic(self, trainer, real: Tensor, c: Tensor | None) -> nn.Module | None:
        return None

    def g_scores(self, fake_scores: Tensor, real_scores: Tensor | None, g_updates: int) -> tuple[Tensor, Tensor | None]:
        return fake_scores, real_scores

    def g_term(self, view: GView) -> tuple[Tensor | None, dict[str, Tensor]]:
        return None, {}


class GradientPenalty(StepTrick):
    """`weight` x penalty(D, real, fake, c) in D's loss (WGAN-GP, R1, DRAGAN, or your function).

    Lazy regularisation (StyleGAN2): with `every` = k the penalty runs on every k-th D update,
    k times as heavy, so its average pull is unchanged at 1/k of the cost."""

    def __init__(self, penalty: str | Penalty, weight: float = 10.0, every: int = 1):
        self.penalty = get_penalty(penalty) if isinstance(penalty, str) else penalty
        self.weight, self.every = weight, every

    def d_term(self, view: DView) -> tuple[Tensor | None, dict[str, Tensor]]:
        if self.weight <= 0 or view.d_updates % self.every:
            return None, {}
        value = self.penalty(view.D, view.real_in, view.fake_in, view.c)
        return self.every * self.weight * value, {"penalty": value.detach()}


class OrthogonalRegularisation(StepTrick):
    """BigGAN: `weight` x `gankit.penalties.orthogonal(G)` in G's loss (filters of each layer kept near
    orthogonal, which makes G amenable to truncation). `G` is the bare generator (not a DDP wrapper)."""

    def __init__(self, G: nn.Module, weight: float = 1e-4):
        self.G, self.weight = G, weight

    def g_term(self, view: GView) -> tuple[Tensor | None, dict[str, Tensor]]:
        from gankit.penalties import orthogonal

        value = orthogonal(self.G)
        return self.weight * value, {"orthogonal": value.detach()}


class WeightClip(StepTrick):
    """WGAN: D's trainable parameters clamped to [-clip, clip] after every D update."""

    def __init__(self, clip: float):
        self.clip = clip

    def after_d_update(self, D: nn.Module) -> None:
        with torch.no_grad():
            for p in D.parameters():
                if p.requires_grad:
                    p.clamp_(-self.clip, self.clip)


class LabelFlip(StepTrick):
    """Noisy labels: with probability `p` a (real, fake) score pair swaps targets in D's loss."""

    def __init__(self, p: float):
        self.p = p

    def d_scores(self, real_scores: Tensor, fake_scores: Tensor) -> tuple[Tensor, Tensor]:
        flip = torch.rand(real_scores.shape, device=real_scores.device) < self.p
        return torch.where(flip, fake_scores, real_scores), torch.where(flip, real_scores, fake_scores)


class ACGANClassLoss(StepTrick):
    """ACGAN: D learns to name the class of reals and fakes; G learns to make its fakes show their class."""

    uses_class_head = True

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def d_term(self, view: DView) -> tuple[Tensor | None, dict[str, Tensor]]:
        loss = aux_class_loss(view.real_logits, view.c) + aux_class_loss(view.fake_logits, view.c)
        return self.weight * loss, {"d_class_loss": loss.detach()}

    def g_term(self, view: GView) -> tuple[Tensor | None, dict[str, Tensor]]:
        return self.weight * aux_class_loss(view.fake_logits, view.c), {}


class SemiSupervisedLoss(StepTrick):
    """Semi-supervised GAN: `weight` x cross-entropy of D's class head on a few labelled images.

    `labelled_batches()` returns the next labelled batch `(x [M, ...], labels [M])`. The class
    head is not trained on the (unlabelled) real and fake batches."""

    uses_class_head = True

    def __init__(self, labelled_batches: Callable[[], Batch], weight: float = 1.0):
        self.labelled_batches, self.weight = labelled_batches, weight

    def d_term(self, view: DView) -> tuple[Tensor | None, dict[str, Tensor]]:
        labelled, labels = self.labelled_batches()
        out = view.D(view.to_d(labelled))
        loss = F.cross_entropy(out[1], labels)
        return self.weight * loss, {"d_sup_loss": loss.detach()}


class FeatureMatching(StepTrick):
    """Salimans et al.: `weight` x ||mean D.features(real) - mean D.features(fake)||^2 in G's loss.

    `only=True` trains G on this term alone (their semi-supervised recipe); the adversarial
    term is still computed and logged."""

    needs_real_in_g = True

    def __init__(self, weight: float, only: bool = False):
        if weight <= 0:
            raise GankitError("feature matching needs a weight > 0; e.g. --set tricks.feature_matching=1")
        self.weight, self.replaces_adversarial = weight, only

    def g_term(self, view: GView) -> tuple[Tensor | None, dict[str, Tensor]]:
        if view.real_in is None:
            return None, {}
        with torch.no_grad():
            target = view.D.features(view.real_in, view.c).mean(dim=0)
        fm = (view.D.features(view.fake_in, view.c).mean(dim=0) - target).pow(2).sum()
        return self.weight * fm, {"feature_matching": fm.detach()}


class TopK(StepTrick):
    """Top-k training of G (Sinha et al. 2020): only the k fakes D scores highest enter G's adversarial loss.

    k / batch starts at 1 and is multiplied by `decay` every `every` G updates, down to `minimum`;
    a function of the checkpointed G update count alone, so a resumed run keeps the same k."""

    def __init__(self, minimum: float = 0.5, decay: float = 0.99, every: int = 100):
        self.minimum, self.decay, self.every = minimum, decay, every

    def fraction(self, g_updates: int) -> float:
        return max(self.minimum, self.decay ** (g_updates // self.every))

    def g_scores(self, fake_scores: Tensor, real_scores: Tensor | None, g_updates: int) -> tuple[Tensor, Tensor | None]:
        n = fake_scores.shape[0]
        k = max(1, math.ceil(self.fraction(g_updates) * n - 1e-9))  # tolerance: 0.5 * 256 must give 128
        if k >= n:
            return fake_scores, real_scores
        idx = fake_scores.detach().topk(k, dim=0).indices
        # Real scores stay whole, except when they pair one-to-one with the fakes (relativistic loss).
        if real_scores is not None and real_scores.shape == fake_scores.shape:
            real_scores = real_scores[idx]
        return fake_scores[idx], real_scores


class Unrolled(StepTrick):
    """Unrolled GAN (Metz et al.), first order: G is scored by a copy of D advanced `steps` D updates.

    The copy has D's optimizer state and trains on `real` and fresh fakes with every D-side
    trick; G's gradient flows through the copy's scores, not through its updates. D is untouched."""

    def __init__(self, steps: int):
        self.steps = steps

    def g_critic(self, trainer, real: Tensor, c: Tensor | None) -> nn.Module | None:
        if real is None:
            return None
        D = copy.deepcopy(trainer.D)
        opt = type(trainer.opt_d)(D.parameters(), **trainer.opt_d.defaults)
        opt.load_state_dict(copy.deepcopy(trainer.opt_d.state_dict()))
        for _ in range(self.steps):
            with torch.no_grad():
                fake = trainer.G(trainer.sample_z(real.shape[0]), c)
            loss, _ = trainer.d_objective(D, real, fake, c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for trick in trainer.tricks:
                trick.after_d_update(D)
        return D.requires_grad_(False)
