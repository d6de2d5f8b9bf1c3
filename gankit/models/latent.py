"""A mixture-of-Gaussians latent for G (DeLiGAN, Gurumurthy et al. 2017), made from ordinary z.

A continuous G fed one Gaussian blob of latents must map part of it between separate modes
of the data (Khayatkhoei et al. 2018): for data made of disconnected pieces, such as the
2-D grid of 25 Gaussians, those transition samples are the low-quality ones. With K
separated latent components, G can put the transitions in the empty latent space between
components, where no sample falls.

The mixture is a fixed, invertible-in-distribution change of the standard normal z every
other part of gankit draws, done inside G: z's first coordinate picks the component through
its normal CDF (K equal-probability bins), its position within the bin becomes a fresh
standard-normal coordinate again, so `z' = means[k] + std * e` with `e ~ N(0, I)` and `k`
uniform over K. Sampling, evaluation, reference batches and checkpoints need no change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

_EDGE = 1e-6  # keeps the within-bin position off 0 and 1, where the inverse normal CDF is infinite


class LatentMixtureG(nn.Module):
    """Wraps G: `G(z [N, z_dim]) -> G_inner(means[k] + std * e)`, K components with fixed random means.

    `means` `[K, z_dim]` are drawn from N(0, I) by a private generator seeded with `seed` and kept as a
    buffer (saved in checkpoints). Output shape and range are the wrapped G's.
    """

    def __init__(self, G: nn.Module, components: int, std: float, seed: int = 0) -> None:
        super().__init__()
        if components < 2:
            raise GankitError(f"tricks.latent_mixture must be 0 (off) or >= 2 components, got {components}")
        if not std > 0:
            raise GankitError(f"tricks.latent_mixture_std must be > 0, got {std}")
        self.G, self.z_dim, self.out_shape = G, G.z_dim, G.out_shape
        if hasattr(G, "num_classes"):
            self.num_classes = G.num_classes
        self.components, self.std = components, std
        means = torch.randn(components, G.z_dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("means", means)

    def mixture_latents(self, z: Tensor) -> Tensor:
        """Standard normal `z [N, z_dim]` -> mixture latents `[N, z_dim]` (deterministic in z)."""
        position = torch.special.ndtr(z[:, 0]) * self.components  # normal CDF: uniform on [0, K)
        k = position.floor().clamp(0, self.components - 1)
        within = (position - k).clamp(_EDGE, 1 - _EDGE)  # uniform on (0, 1), independent of k
        e = torch.cat([torch.special.ndtri(within).unsqueeze(1), z[:, 1:]], dim=1)
        return self.means[k.long()] + self.std * e

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.G(self.mixture_latents(z), c)
