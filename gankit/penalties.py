"""Regularisers that need D and autograd, not just its scores.

Each returns a scalar (already averaged over the batch, not yet weighted) that D
minimises in addition to its loss. `create_graph=True` makes the penalty itself
differentiable with respect to D's parameters.
"""

from typing import Callable

import torch
from torch import Tensor, nn

from gankit.errors import GankitError


def _input_gradients(D: nn.Module, x: Tensor, c: Tensor | None) -> Tensor:
    """d(sum of D's scores)/dx for every sample, shape like `x` (one score per sample)."""
    x = x.detach().requires_grad_(True)
    scores = D(x, c)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad


def wgan_gp(D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E (||grad D(x_hat)||_2 - 1)^2 at random interpolates.

    One uniform alpha per sample, x_hat = alpha * real + (1 - alpha) * fake.
    real, fake: `[N, ...]`, same shape.
    """
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(alpha_shape, device=real.device, dtype=real.dtype)
    x_hat = alpha * real.detach() + (1.0 - alpha) * fake.detach()
    grad = _input_gradients(D, x_hat, c)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def r1(D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None = None) -> Tensor:
    """R1 (Mescheder et al. 2018): E ||grad D(real)||^2 / 2 on real data only."""
    grad = _input_gradients(D, real, c)
    return 0.5 * grad.flatten(1).pow(2).sum(dim=1).mean()


def dragan(D: nn.Module, real: Tensor, fake: Tensor, c: Tensor | None = None) -> Tensor:
    """DRAGAN (Kodali et al. 2017): E (||grad D(x_hat)||_2 - 1)^2 around the real data.

    x_hat = real + alpha * delta, delta = 0.5 * std(real) * U[0, 1) noise (std over the
    whole batch), one uniform alpha per sample: the gradient is kept near 1 in a noisy
    neighbourhood of the data, where mode-collapsing sharp gradients appear.
    """
    real = real.detach()
    delta = 0.5 * real.std() * torch.rand_like(real)
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(alpha_shape, device=real.device, dtype=real.dtype)
    grad = _input_gradients(D, real + alpha * delta, c)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def orthogonal(module: nn.Module) -> Tensor:
    """BigGAN's orthogonal regulariser (Brock et al. 2019): sum over weights W of ||W W^T * (1 - I)||_F^2.

    W is each Linear / Conv2d weight as a matrix `[out, in * kh * kw]` (one row per filter), so only the
    cosines between different filters are pushed to 0, not their norms (spectral norm sets those).
    Under a spectral-norm parametrization the raw trainable weight is used, as BigGAN does. Embeddings
    (a class embedding) are left out. A G-side term: it is not one of PENALTIES (those score D).
    Returns an unweighted fp32 scalar (the paper's weight is 1e-4).
    """
    total = torch.zeros((), dtype=torch.float32)
    for m in module.modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            continue
        params = getattr(m, "parametrizations", None)
        weight = params.weight.original if params is not None and "weight" in params else m.weight
        w = weight.float().flatten(1)
        gram = w @ w.t()
        off_diagonal = gram - torch.diag_embed(torch.diagonal(gram))
        total = total.to(w.device) + off_diagonal.pow(2).sum()
    return total


Penalty = Callable[[nn.Module, Tensor, Tensor, Tensor | None], Tensor]

PENALTIES: dict[str, Penalty] = {"wgan-gp": wgan_gp, "r1": r1, "dragan": dragan}


def get_penalty(name: str) -> Penalty:
    """The penalty registered under `name`; a GankitError lists the valid names."""
    if name not in PENALTIES:
        raise GankitError(f"unknown penalty '{name}'; choose one of: none, {', '.join(PENALTIES)}")
    return PENALTIES[name]


def penalty_name(cfg) -> str | None:
    """The penalty a run's D trains with: `loss.penalty`, where 'auto' means WGAN-GP's for the wgan-gp loss."""
    name = cfg.loss.penalty
    if name == "auto":
        return "wgan-gp" if cfg.loss.name == "wgan-gp" else None
    return None if name == "none" else name
