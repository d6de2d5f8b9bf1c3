"""Exponential moving average of G's weights (Karras et al.), with its decay set in images.

The half-life is in images, so the average means the same thing at any batch size:
after `halflife_kimg * 1000` real images, an old weight's share has halved.
"""

import copy

import torch
from torch import nn


def ema_beta(halflife_kimg: float, batch_size: int) -> float:
    """Per-update decay: beta ** (halflife / batch) = 1/2. A half-life of 0 gives 0 (G_ema = G)."""
    if halflife_kimg <= 0:
        return 0.0
    return 0.5 ** (batch_size / (halflife_kimg * 1000.0))


class EMA:
    """Keeps `G_ema`, a frozen copy of G whose parameters trail G's; buffers (BN statistics) are copied."""

    def __init__(self, G: nn.Module, beta: float):
        self.beta = beta
        self.G_ema = copy.deepcopy(G).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, G: nn.Module) -> None:
        """G_ema <- beta * G_ema + (1 - beta) * G, parameter by parameter; buffers copied as they are."""
        ema_params = list(self.G_ema.parameters())
        params = [p.detach() for p in G.parameters()]
        if self.beta == 0.0:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - self.beta)
        for ema_buffer, buffer in zip(self.G_ema.buffers(), G.buffers()):
            ema_buffer.copy_(buffer)
