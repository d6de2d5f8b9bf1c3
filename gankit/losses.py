"""GAN losses as pure functions of the discriminator's raw scores.

Every `d_*` function is minimised by D and every `g_*` function by G. Scores are
D's raw outputs (logits), shape `[N]`, higher = more real. Each function returns a
scalar mean over the batch. Nothing here touches a network or autograd beyond the
arithmetic, so each loss can be checked against a hand-computed value.

Notation: with `D(x) = sigmoid(score)`, `-log D(x) = softplus(-score)` and
`-log(1 - D(x)) = softplus(score)`; using softplus keeps the BCE losses finite for
any score.
"""

from typing import Callable

import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError


def _bce_real(scores: Tensor, real_label: float) -> Tensor:
    """Mean BCE of `scores` against target `real_label` (1.0, or 1 - smoothing)."""
    if real_label == 1.0:
        return F.softplus(-scores).mean()
    return (real_label * F.softplus(-scores) + (1.0 - real_label) * F.softplus(scores)).mean()


def d_nonsaturating(real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """D's binary cross-entropy: -log D(real) - log(1 - D(fake)).

    `real_label < 1` is one-sided label smoothing (Salimans et al. 2016): only the
    real target is softened, fakes keep target 0.
    """
    return _bce_real(real_scores, real_label) + F.softplus(fake_scores).mean()


def g_nonsaturating(fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
    """G maximises log D(fake): strong gradients early, when D rejects fakes easily."""
    return F.softplus(-fake_scores).mean()


def d_minimax(real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """The 2014 paper's D objective; identical to the non-saturating D loss."""
    return d_nonsaturating(real_scores, fake_scores, real_label)


def g_minimax(fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
    """G minimises log(1 - D(fake)), the saturating game of the 2014 paper."""
    return -F.softplus(fake_scores).mean()


def d_lsgan(real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """Least squares (Mao et al. 2017, a-b-c = 0-1-1): 1/2 E(D(real)-1)^2 + 1/2 E D(fake)^2."""
    return 0.5 * ((real_scores - real_label) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def g_lsgan(fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
    """Least squares G: 1/2 E(D(fake)-1)^2."""
    return 0.5 * ((fake_scores - 1.0) ** 2).mean()


def d_wgan(real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """Wasserstein critic: E D(fake) - E D(real) (needs a Lipschitz constraint on D)."""
    return fake_scores.mean() - real_scores.mean()


def g_wgan(fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
    """Wasserstein G: -E D(fake)."""
    return -fake_scores.mean()


def d_hinge(real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """Hinge (Lim & Ye 2017; SNGAN, BigGAN): E relu(1 - D(real)) + E relu(1 + D(fake))."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_hinge(fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
    """Hinge G: -E D(fake)."""
    return -fake_scores.mean()


def d_relativistic(real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """Relativistic standard GAN (Jolicoeur-Martineau 2018): D judges real *relative to* fake, pairwise."""
    return F.softplus(-(real_scores - fake_scores)).mean()


def g_relativistic(fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
    """Relativistic G: make fakes look more real than reals; needs the real scores."""
    if real_scores is None:
        raise ValueError("the relativistic G loss needs real_scores")
    return F.softplus(-(fake_scores - real_scores)).mean()


DLoss = Callable[..., Tensor]
GLoss = Callable[..., Tensor]

# name -> (D loss, G loss). `wgan-gp` shares the WGAN pair; its gradient penalty
# lives in penalties.py and is switched on by the loss name in build.py.
LOSSES: dict[str, tuple[DLoss, GLoss]] = {
    "minimax": (d_minimax, g_minimax),
    "nonsaturating": (d_nonsaturating, g_nonsaturating),
    "lsgan": (d_lsgan, g_lsgan),
    "wgan": (d_wgan, g_wgan),
    "wgan-gp": (d_wgan, g_wgan),
    "hinge": (d_hinge, g_hinge),
    "relativistic": (d_relativistic, g_relativistic),
}

# Losses whose G objective reads the real scores too (the trainer then scores a real batch in G's step).
NEEDS_REAL_SCORES_FOR_G = {"relativistic"}

# Label smoothing only means something for the cross-entropy and least-squares targets.
SUPPORTS_LABEL_SMOOTHING = {"minimax", "nonsaturating", "lsgan"}


def get_loss(name: str) -> tuple[DLoss, GLoss]:
    """The (D loss, G loss) pair registered under `name`; a GankitError lists the valid names."""
    if name not in LOSSES:
        raise GankitError(f"unknown loss '{name}'; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
