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
        self._source: nn.Module | None = None  # the G whose tensors _pairs holds (walking modules every step is slow)
        self._pairs: tuple[list, list, list, list] = ([], [], [], [])

    def _tensors(self, G: nn.Module) -> tuple[list, list, list, list]:
        """(G_ema params, G params, G_ema buffers, G buffers), listed once per source G.

        Loading a state dict or moving G to a device (`module.to`) keeps these tensor objects, so the
        lists stay valid; they are rebuilt whenever update() is given another G."""
        if self._source is not G:
            self._pairs = (list(self.G_ema.parameters()), [p.detach() for p in G.parameters()],
                           list(self.G_ema.buffers()), list(G.buffers()))
            self._source = G
        return self._pairs

    @torch.no_grad()
    def update(self, G: nn.Module) -> None:
        """G_ema <- beta * G_ema + (1 - beta) * G, parameter by parameter; buffers copied as they are."""
        ema_params, params, ema_buffers, buffers = self._tensors(G)
        if self.beta == 0.0:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - self.beta)
        if buffers:
            torch._foreach_copy_(ema_buffers, buffers)


@torch.no_grad()
def refresh_batchnorm(G: nn.Module, batches: int = 16, batch_size: int = 256, seed: int = 0,
                      num_classes: int = 0) -> int:
    """Re-estimate the running statistics of every batch norm in `G` from `batches` batches of fresh z.

    G_ema's buffers are copies of G's, but its weights are an average over many steps, so in eval
    mode its batch norms normalise with statistics of a different network; sampling from G_ema
    then drifts from what its weights would produce. Running G_ema in train mode over fresh latents
    (with a cumulative average, momentum None) gives it statistics of its own. Latents come from a
    private generator seeded with `seed`, so the global RNG stream of training is untouched; a
    class-conditional G (`num_classes` > 0) gets uniformly drawn labels.
    Returns the number of batch norm layers refreshed (0: nothing to do, G left as it was).
    """
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    was_training = G.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts equally
    G.train()
    try:
        for _ in range(batches):
            z = torch.randn(batch_size, G.z_dim, generator=gen).to(device)
            c = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device) if num_classes else None
            G(z, c)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        G.train(was_training)
    return len(norms)


STANDING_STATS_SEED = 0  # latents for G_ema's own batch-norm statistics: fixed, so sampling is repeatable


@torch.no_grad()
def standing_statistics(G_ema: nn.Module) -> nn.Module:
    """Give G_ema batch-norm statistics of its own before it samples (BigGAN's "standing statistics").

    Called wherever G_ema generates: sample grids and evaluation during training, and every command
    that loads G_ema from a checkpoint. In place: during training the next EMA update copies G's
    buffers back, so what G trains on is unchanged. The global RNG state is saved and restored
    around it (dropout in G draws from it), so a run's random stream, and resume, stay exact.
    A G with SyncBatchNorm (torchrun with runtime.sync_bn) is left as it is: its train-mode forward
    would wait for the other ranks. Returns G_ema.
    """
    if any(isinstance(m, nn.SyncBatchNorm) for m in G_ema.modules()):
        return G_ema
    device = next(G_ema.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        refresh_batchnorm(G_ema, seed=STANDING_STATS_SEED, num_classes=getattr(G_ema, "num_classes", 0))
    return G_ema
