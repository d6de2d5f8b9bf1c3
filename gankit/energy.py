"""Energy losses of the autoencoder-D families, EBGAN and BEGAN, as small pure functions.

Here D is an autoencoder and an image's *energy* is its reconstruction error (low = real-looking),
so these losses take energies, not D's scores: they live apart from `gankit.losses`, whose pairs
are functions of scores (higher = more real). Every `d_*` is minimised by D, every `g_*` by G.

EBGAN (Zhao, Mathieu and LeCun 2017):
    D(x)  = ||Dec(Enc(x)) - x||^2 per image (here: the mean over pixels, `mse_energy`)
    L_D   = D(x) + max(0, m - D(G(z)))           `d_ebgan`
    L_G   = D(G(z)) + w * PT(S)                  `g_ebgan` + weight * `pull_away`
    PT(S) = 1 / (N (N - 1)) sum_{i != j} (S_i . S_j / (|S_i| |S_j|))^2   (S = D's codes of a fake batch)

BEGAN (Berthelot, Schumm and Metz 2017), with eta = 1:
    L(v)     = mean |v - D(v)|                   `l1_energy` (per image), averaged over the batch
    L_D      = L(x) - k_t L(G(z))                `d_began`
    L_G      = L(G(z))                           `g_began`
    k_{t+1}  = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)   `began_k_update`
    M_global = L(x) + |gamma L(x) - L(G(z))|     `m_global` (falls as training converges)
"""

from __future__ import annotations

import torch
from torch import Tensor


def mse_energy(x: Tensor, reconstruction: Tensor) -> Tensor:
    """EBGAN's energy: mean squared reconstruction error per image, `[N, ...]` x2 -> `[N]` (>= 0)."""
    return (reconstruction.float() - x.float()).pow(2).flatten(1).mean(dim=1)


def l1_energy(x: Tensor, reconstruction: Tensor) -> Tensor:
    """BEGAN's L with eta = 1: mean absolute reconstruction error per image, `[N, ...]` x2 -> `[N]` (>= 0)."""
    return (reconstruction.float() - x.float()).abs().flatten(1).mean(dim=1)


def d_ebgan(real_energy: Tensor, fake_energy: Tensor, margin: float) -> Tensor:
    """EBGAN's D loss: mean D(x) + mean max(0, m - D(G(z))); energies `[N]`, scalar >= 0.

    D lowers the energy of real images and raises that of fakes until it reaches the margin m,
    past which a fake no longer contributes (so D cannot win by driving fake energies to infinity)."""
    return real_energy.mean() + torch.relu(margin - fake_energy).mean()


def g_ebgan(fake_energy: Tensor) -> Tensor:
    """EBGAN's G loss (without the pull-away term): mean D(G(z)), energies `[N]` -> scalar >= 0."""
    return fake_energy.mean()


def pull_away(codes: Tensor) -> Tensor:
    """EBGAN's pull-away term: the mean squared cosine similarity between distinct pairs of codes.

    `codes [N, F]` (D's encoder output for a fake batch, N >= 2) -> scalar in [0, 1]. It is 1 when
    every code points the same way (G collapsed onto one mode) and 0 when they are orthogonal; G
    minimises it, which pushes its samples apart in D's representation."""
    n = codes.shape[0]
    if n < 2:
        raise ValueError(f"the pull-away term needs at least 2 codes, got {n}")
    unit = torch.nn.functional.normalize(codes.float().flatten(1), dim=1)
    cosine = unit @ unit.t()
    off_diagonal = cosine.pow(2).sum() - cosine.diagonal().pow(2).sum()
    return off_diagonal / (n * (n - 1))


def d_began(real_loss: Tensor, fake_loss: Tensor, k: Tensor | float) -> Tensor:
    """BEGAN's D loss L(x) - k_t L(G(z)); batch-mean reconstruction losses (scalars) -> scalar."""
    return real_loss - k * fake_loss


def g_began(fake_loss: Tensor) -> Tensor:
    """BEGAN's G loss L(G(z)) (a batch-mean reconstruction loss, scalar)."""
    return fake_loss


def began_k_update(k: Tensor, real_loss: Tensor, fake_loss: Tensor, gamma: float, lambda_k: float,
                    clip: bool = True) -> Tensor:
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1), as a detached tensor like `k`.

    Proportional control of the equilibrium E[L(G(z))] = gamma E[L(x)]: when fakes reconstruct
    too well (D is losing), k grows and D pushes harder on them. The BEGAN paper clips k to [0, 1];
    `clip=False` leaves it unbounded, as Lucic et al.'s code does (k < 0 makes D reconstruct fakes too)."""
    balance = gamma * real_loss.detach().to(k.dtype) - fake_loss.detach().to(k.dtype)
    k_next = k + lambda_k * balance
    return torch.clamp(k_next, 0.0, 1.0) if clip else k_next


def m_global(real_loss: Tensor, fake_loss: Tensor, gamma: float) -> Tensor:
    """BEGAN's convergence measure L(x) + |gamma L(x) - L(G(z))| (detached scalar, >= 0): lower = closer
    to convergence; it tracks sample quality, unlike the other GAN losses."""
    real_loss, fake_loss = real_loss.detach(), fake_loss.detach()
    return real_loss + (gamma * real_loss - fake_loss).abs()
