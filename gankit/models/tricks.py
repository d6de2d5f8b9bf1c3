"""Stabilising layers and wrappers that work with every model family.

Each trick wraps or edits a built G or D through the family contract only
(`D.features`, `G.z_dim`, `G.out_shape`), so any current or future family gets it:

- `spectral_norm_all(module)`: spectral normalisation (Miyato et al. 2018) on every
  linear / conv / transposed-conv weight.
- `MinibatchStdDev` (ProGAN) and `MinibatchDiscrimination` (Salimans et al. 2016):
  layers that let D see batch statistics; `MinibatchHeadD` puts them between D's
  features and a new score layer.
- `PackedD` (PacGAN, Lin et al. 2018): D scores m samples concatenated.
- `RefBatchNorm` + `RefBatchG`: reference / virtual batch normalisation for G
  (Salimans et al. 2016): normalisation statistics come from a fixed reference batch.
- `ACTIVATIONS` / `make_activation`: the activation choices the model options name.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "lrelu": nn.LeakyReLU,  # slope 0.2 (DCGAN)
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name; LeakyReLU uses slope 0.2 as in DCGAN."""
    if name not in ACTIVATIONS:
        raise GankitError(f"activation '{name}' is unknown; choose one of: {', '.join(ACTIVATIONS)}")
    return nn.LeakyReLU(0.2) if name == "lrelu" else ACTIVATIONS[name]()


def spectral_norm_all(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral-normalise every Linear / Conv2d / ConvTranspose2d / Embedding weight in `module`, in place.

    Embeddings included: a projection D's class embedding is part of its score (Miyato & Koyama).

    Uses torch's parametrization (a persistent power-iteration vector per weight, kept in
    the state dict so resume is exact). Returns `module`.
    """
    from torch.nn.utils.parametrizations import spectral_norm

    targets = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding))]
    for layer in targets:
        # ConvTranspose2d keeps its output channels on dim 1 of the weight.
        dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
        spectral_norm(layer, n_power_iterations=n_power_iterations, dim=dim)
    return module


class MinibatchStdDev(nn.Module):
    """ProGAN's minibatch standard deviation: appends one feature (map) holding the
    average over features of the per-feature std within groups of `group_size` samples.

    `[N, F] -> [N, F + 1]` or `[N, C, H, W] -> [N, C + 1, H, W]`. N must be divisible by
    the group size (a smaller last group uses the whole batch as one group).
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        if group_size < 2:
            raise GankitError(f"minibatch stddev group_size must be >= 2, got {group_size}")
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        g = self.group_size if n % self.group_size == 0 else n
        grouped = x.reshape(g, n // g, *x.shape[1:])  # sample i belongs to group i % (n // g)
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [n // g, ...]
        stat = std.flatten(1).mean(dim=1)  # [n // g]: one number per group
        stat = stat.repeat(g)  # back to [n], same i % (n // g) order
        if x.dim() == 2:
            return torch.cat([x, stat[:, None]], dim=1)
        extra = stat.view(n, 1, 1, 1).expand(n, 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016): `[N, F] -> [N, F + kernels]`.

    Features go through a tensor T to `kernels` rows of `kernel_dim`; for each sample and
    kernel the output is sum over other samples of exp(-L1 distance), so D can notice when
    fakes are too alike.
    """

    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 8) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        m = (x @ self.T).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # [K, N, Dk]
        # L1 distances per kernel, [K, N, N]. cdist never builds the [N, N, K, Dk] differences that
        # broadcasting would (8x faster forward + backward at N=256, K=16, Dk=8, one thread: benchmarks/trick_costs.py).
        dist = torch.cdist(m, m, p=1)
        # exp(0) = 1 for the sample itself is subtracted: only other samples count.
        o = torch.exp(-dist).sum(dim=2).t() - 1.0  # [N, K]
        return torch.cat([x, o], dim=1)


class MinibatchHeadD(nn.Module):
    """D with a minibatch layer between its features and a new linear score layer.

    `kind`: "stddev" (adds 1 feature) or "mbd" (adds `kernels` features). The inner D's own
    score layer is left unused. `features()` returns what the new score layer reads.
    """

    def __init__(self, D: nn.Module, kind: str, kernels: int = 16, group_size: int = 4) -> None:
        super().__init__()
        self.D = D
        self.in_shape = D.in_shape
        with torch.no_grad():
            was = D.training
            width = D.eval().features(torch.zeros(2, *D.in_shape)).shape[1]
            D.train(was)
        if kind == "stddev":
            self.layer: nn.Module = MinibatchStdDev(group_size)
            extra = 1
        elif kind == "mbd":
            self.layer = MinibatchDiscrimination(width, kernels)
            extra = kernels
        else:
            raise GankitError(f"minibatch layer '{kind}' is unknown; choose stddev or mbd")
        self.score = nn.Linear(width + extra, 1)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.layer(self.D.features(x, c))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.score(self.features(x, c)).squeeze(1)


def packed_shape(shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape the inner D of a PacGAN sees: vectors (D,) -> (m D,); images (C, H, W) -> (m C, H, W)."""
    return (shape[0] * pack,) + tuple(shape[1:])


class PackedD(nn.Module):
    """PacGAN: the inner D (built for `packed_shape(in_shape, pack)`) scores `pack` samples at once.

    `x [N, *in_shape] -> scores [N / pack]`; samples n*pack .. n*pack + pack - 1 form pack n.
    N must be divisible by `pack`. Losses are batch means, so they need no change.
    """

    def __init__(self, D: nn.Module, in_shape: tuple[int, ...], pack: int) -> None:
        super().__init__()
        self.D, self.pack, self.in_shape = D, pack, tuple(in_shape)

    def _pack(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise GankitError(f"PacGAN with pack={self.pack} needs a batch divisible by {self.pack}, got {n}")
        # [N, C, ...] -> [N/m, m, C, ...] -> [N/m, m*C, ...]: the m samples stacked along the first axis.
        return x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            raise GankitError("PacGAN packing does not support class-conditional D; set tricks.pack=1")
        return self.D.features(self._pack(x))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            raise GankitError("PacGAN packing does not support class-conditional D; set tricks.pack=1")
        return self.D(self._pack(x))
