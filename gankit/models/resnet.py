"""ResNet G and D of SNGAN (Miyato et al. 2018) and BigGAN (Brock et al. 2019).

Generator: a linear map of z to a `width x h0 x w0` map, then `k` up-blocks, each doubling H and W:

    h = conv3x3(upsample(relu(BN(x, y)))) ;  out = conv3x3(relu(BN(h, y))) + conv1x1(upsample(x))

(pre-activation residual blocks; nearest-neighbour upsampling), then BN, ReLU, conv3x3 to C
channels and tanh. The batch norms inside the blocks are *conditional* (`ConditionalBatchNorm2d`):
their gain and bias are linear functions of a vector `y` per sample. BigGAN builds `y` from

- a **shared class embedding** `shared(c)` (one embedding for every block, not one per block), and
- **hierarchical ("skip") z**: z is split into `k + 1` chunks; chunk 0 feeds the linear layer,
  chunk i feeds block i's batch norms (concatenated with `shared(c)`).

With no classes and no hierarchical z (SNGAN's unconditional G) the blocks use plain batch norm.

Discriminator: `k` down-blocks (the first one "optimized": no activation before its first conv,
shortcut pools first) each halving H and W by average pooling, one more block at the same size,
ReLU, a sum over positions -> `h [N, width]`, and the score `head(h) + <embed(c), h>` (projection
discriminator, Miyato & Koyama 2018) when the D has classes, else `head(h)`. No batch norm in D.

Every width is the same (`width` channels in every block), as BigGAN's 32x32 network. The number
of blocks `k` is the largest (at most 6) that divides H and W and leaves a base side of at least 3;
it must be >= 1 and the base at most 8 a side: 28x28 -> 7x7, k=2; 32 -> 4x4, k=3; 48x32 -> 6x4, k=3.

Spectral norm is not built in: the family applies it (`gankit.models.tricks.spectral_norm_all`),
so the same networks serve SNGAN (D only) and BigGAN (G and D, not G's shared embedding).
Weights start orthogonal (BigGAN's init), which the orthogonal regulariser then keeps near.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.conditional import balanced_labels, check_labels
from gankit.models.layers import as_shape, check_int, reject_labels

MAX_BLOCKS = 6


def resnet_blocks(shape: Sequence[int]) -> tuple[int, int, int]:
    """Return `(k, h0, w0)`: up/down blocks and base map size for images of `shape` (C, H, W).

    Raises GankitError, naming the sizes that work, when the ResNet cannot build `shape`."""
    items = as_shape(shape, "data shape")
    if len(items) != 3:
        raise GankitError(f"the resnet model builds images of shape (C, H, W), got {items}; for vector data such as "
                          "(2,) use the mlp or gan2014 model")
    _, height, width = items
    k = 0
    while k < MAX_BLOCKS:
        step = 2 ** (k + 1)
        if height % step or width % step or min(height, width) // step < 3:
            break
        k += 1
    h0, w0 = height // 2**k, width // 2**k
    if k < 1 or max(h0, w0) > 8:
        raise GankitError(f"the resnet model cannot build {height}x{width} images: height and width must each be 3 to 8 "
                          "times the same power of two >= 2, e.g. 12, 16, 28, 32, 64 or 48x32; resize or crop the data")
    return k, h0, w0


def init_orthogonal(module: nn.Module) -> None:
    """BigGAN's initialisation, in place on every submodule: orthogonal conv / linear / embedding weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
        nn.init.orthogonal_(module.weight)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias depend on a vector per sample (de Vries et al. 2017; BigGAN).

    `forward(x [N, C, H, W], y [N, cond_dim]) -> [N, C, H, W]`: `BN(x) * (1 + gain(y)) + bias(y)`, where
    BN has no affine parameters of its own and `gain`, `bias` are linear maps. With `cond_dim` 0 it is
    an ordinary affine BatchNorm2d and `y` is ignored (SNGAN's unconditional G).
    """

    def __init__(self, num_features: int, cond_dim: int) -> None:
        super().__init__()
        check_int("num_features", num_features, 1)
        check_int("cond_dim", cond_dim, 0)
        self.cond_dim = cond_dim
        self.bn = nn.BatchNorm2d(num_features, affine=cond_dim == 0)
        if cond_dim:
            self.gain = nn.Linear(cond_dim, num_features)
            self.bias = nn.Linear(cond_dim, num_features)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.bn(x)
        if not self.cond_dim:
            return out
        if y is None or y.shape != (x.shape[0], self.cond_dim):
            raise GankitError(f"conditional batch norm needs y of shape [{x.shape[0]}, {self.cond_dim}], "
                              f"got {None if y is None else list(y.shape)}")
        return out * (1.0 + self.gain(y)[:, :, None, None]) + self.bias(y)[:, :, None, None]


class GBlock(nn.Module):
    """Up-block: `[N, in_ch, H, W], y -> [N, out_ch, 2H, 2W]` (pre-activation, conditional BN, learnt 1x1 shortcut)."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_ch, cond_dim)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(out_ch, cond_dim)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)  # upsampling changes the map, so the shortcut is always learnt

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """Down-block: `[N, in_ch, H, W] -> [N, out_ch, H/2, W/2]` (or the same size when `downsample` is False).

    `first` is SNGAN's "optimized" first block: no ReLU before its first conv (the input is the image),
    and its shortcut pools before the 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool = True, first: bool = False) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if (in_ch != out_ch or downsample) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first and self.downsample:
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.downsample else s
        return h + s


def z_chunks(z_dim: int, blocks: int, hierarchical: bool) -> list[int]:
    """Sizes z is split into: `[z_dim]`, or (hierarchical) `blocks + 1` near-equal chunks, the first taking the rest."""
    if not hierarchical:
        return [z_dim]
    chunk = z_dim // (blocks + 1)
    if chunk < 1:
        raise GankitError(f"hierarchical z splits z into {blocks + 1} chunks (one per block plus the input), but "
                          f"model.z_dim={z_dim}; raise z_dim to at least {blocks + 1} or set biggan.hierarchical_z=false")
    return [z_dim - blocks * chunk] + [chunk] * blocks


class ResNetGenerator(nn.Module):
    """`G(z [N, z_dim], c [N] or None) -> images [N, C, H, W]` in [-1, 1].

    Args:
        z_dim, out_shape, width: latent size, image shape (C, H, W), channels of every block.
        num_classes: 0 = unconditional; K >= 2 = class-conditional batch norm from a shared embedding
            (called with `c=None` it draws balanced classes 0, 1, ..., K-1, 0, ...).
        shared_dim: width of the shared class embedding (conditional G only).
        hierarchical_z: split z across the input and every block (BigGAN's skip-z).
    """

    def __init__(self, z_dim: int, out_shape: Sequence[int], width: int = 64, num_classes: int = 0,
                 shared_dim: int = 128, hierarchical_z: bool = False) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        check_int("width", width, 1)
        check_int("num_classes", num_classes, 0)
        if num_classes == 1:
            raise GankitError("num_classes must be 0 (unconditional) or >= 2, got 1")
        self.z_dim, self.out_shape, self.num_classes = z_dim, tuple(as_shape(out_shape, "out_shape")), num_classes
        k, self.h0, self.w0 = resnet_blocks(self.out_shape)
        self.width, self.hierarchical_z = width, hierarchical_z
        self.chunks = z_chunks(z_dim, k, hierarchical_z)
        if num_classes:
            check_int("shared_dim", shared_dim, 1)
            self.shared = nn.Embedding(num_classes, shared_dim)
        cond_dim = (shared_dim if num_classes else 0) + (self.chunks[-1] if hierarchical_z else 0)
        self.linear = nn.Linear(self.chunks[0], self.h0 * self.w0 * width)
        self.blocks = nn.ModuleList(GBlock(width, width, cond_dim) for _ in range(k))
        self.out_bn = nn.BatchNorm2d(width)
        self.out_conv = nn.Conv2d(width, self.out_shape[0], 3, padding=1)
        self.apply(init_orthogonal)

    def conditions(self, z: Tensor, c: Tensor | None) -> tuple[Tensor, list[Tensor | None]]:
        """(input of the linear layer [N, chunks[0]], one batch-norm condition y [N, cond_dim] or None per block)."""
        parts = list(torch.split(z, self.chunks, dim=1))
        head, rest = parts[0], parts[1:] if self.hierarchical_z else [None] * len(self.blocks)
        if not self.num_classes:
            return head, rest
        e = self.shared(c)
        return head, [e if r is None else torch.cat([e, r], dim=1) for r in rest]

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise GankitError(f"the resnet generator takes z of shape [N, {self.z_dim}], got {list(z.shape)}")
        if self.num_classes:
            c = balanced_labels(z.shape[0], self.num_classes, z.device) if c is None else c
            c = check_labels(c, self.num_classes, z.shape[0], "generator")
        else:
            reject_labels(c, "resnet")
        head, ys = self.conditions(z, c)
        # Linear -> NHWC -> NCHW view: free under channels_last, which gankit uses for CPU convolutions.
        x = self.linear(head).view(z.shape[0], self.h0, self.w0, self.width).permute(0, 3, 1, 2)
        for block, y in zip(self.blocks, ys):
            x = block(x, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(x))))

    def truncate_z(self, z: Tensor, truncation: float) -> Tensor:
        """BigGAN's truncation trick: every coordinate of z outside [-truncation, truncation] is redrawn
        from the normal truncated to that range (`gankit.latent_tools.truncate_by_resampling`)."""
        from gankit.latent_tools import truncate_by_resampling

        return truncate_by_resampling(z, truncation)

    truncation_mode = "resample"  # recorded in evaluation protocols (the default trick squeezes the CDF)


class ResNetDiscriminator(nn.Module):
    """`D(x [N, C, H, W], c [N] or None) -> raw scores [N]`; `D.features(x) -> h [N, width]` (sum-pooled).

    num_classes 0: `head(h)`; K >= 2: the projection discriminator `head(h) + <embed(c), h>` (needs `c`).
    """

    scores_samples_independently = True  # no batch norm, no noise: each score depends on its own sample

    def __init__(self, in_shape: Sequence[int], width: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        check_int("width", width, 1)
        check_int("num_classes", num_classes, 0)
        if num_classes == 1:
            raise GankitError("num_classes must be 0 (unconditional) or >= 2, got 1")
        self.in_shape, self.num_classes = tuple(as_shape(in_shape, "in_shape")), num_classes
        k, _, _ = resnet_blocks(self.in_shape)
        blocks = [DBlock(self.in_shape[0], width, downsample=True, first=True)]
        blocks += [DBlock(width, width, downsample=True) for _ in range(k - 1)]
        blocks.append(DBlock(width, width, downsample=False))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 1)
        if num_classes:
            self.embed = nn.Embedding(num_classes, width)
        self.apply(init_orthogonal)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """`h [N, width]`: ReLU of the last block, summed over positions (SNGAN's global sum pooling)."""
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = self.features(x)
        score = self.head(h).squeeze(1)
        if not self.num_classes:
            reject_labels(c, "resnet")
            return score
        c = check_labels(c, self.num_classes, x.shape[0], "discriminator")
        return score + (self.embed(c) * h).sum(dim=1)
