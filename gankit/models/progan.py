"""Progressive growing of GANs (Karras et al. 2018): G and D grow 4x4 -> 8x8 -> ... -> the target.

Both networks hold every level from the start; two buffers, `stage` (the highest level in use) and
`alpha` (the fade-in of that level), choose which part runs. G always returns images at the target
resolution: the current level's output is upsampled (nearest), so sample grids, checkpoints and
metrics see the resolution G has reached so far, as blocks of pixels. D always takes target-size
images and average-pools them to its current level. During a fade, the new level's output is blended
with the old level's (alpha 0 = old path, 1 = new path), in G at the RGB output and in D after the
first block.

Shared layers (also used by `gankit.models.stylegan`): equalized learning rate (weights drawn from
N(0, 1) and scaled at run time by He's constant, so Adam's step is the same relative size for every
layer), pixel norm, and `growth_plan`, which says whether a resolution is reachable by doubling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.tricks import MinibatchStdDev

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # He's gain for a (leaky) ReLU: keeps activations' variance through a layer


def growth_plan(height: int, width: int, start: int = 4) -> tuple[int, int, int]:
    """(base_height, base_width, doublings) such that base * 2**doublings = (height, width).

    The shorter side starts at `start` pixels; the longer one at what the same doublings leave of it
    (so 32x64 grows from 4x8). A resolution no doubling reaches is a one-line error."""
    short = min(height, width)
    doublings = round(math.log2(short / start)) if short >= start else -1
    if doublings < 0 or start * 2**doublings != short or height % 2**doublings or width % 2**doublings:
        raise GankitError(
            f"data.resolution {height}x{width} is not reachable by doubling from {start} px: the shorter side must "
            f"be {start}*2^k and the longer a multiple of 2^k (e.g. --set data.resolution=32, or change the "
            "family's start_resolution)")
    return height >> doublings, width >> doublings, doublings


def level_channels(level: int, width: int, fmap_base: int, start: int = 4) -> int:
    """Feature maps at a level: `width`, or min(width, fmap_base / its resolution) (narrower as it grows)."""
    if fmap_base <= 0:
        return width
    return max(1, min(width, fmap_base // (start * 2**level)))


class EqualizedLinear(nn.Module):
    """Linear layer with equalized LR: weight ~ N(0, 1/lr_mul^2), used as weight * gain * lr_mul / sqrt(fan_in).

    `lr_mul` < 1 slows a layer's effective learning rate (StyleGAN's mapping network uses 0.01).
    `[N, in] -> [N, out]`."""

    def __init__(self, in_features: int, out_features: int, gain: float = LRELU_GAIN, lr_mul: float = 1.0,
                 bias: bool = True, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul)) if bias else None
        self.scale = gain * lr_mul / math.sqrt(in_features)  # the runtime scale
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class EqualizedConv2d(nn.Module):
    """Conv2d ('same' padding) with equalized LR: weight ~ N(0, 1), used as weight * gain / sqrt(in * k * k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = LRELU_GAIN,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + eps): each pixel's feature vector gets unit mean square (dim 1)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


def upsample(x: Tensor, factor: int = 2) -> Tensor:
    """Nearest-neighbour upsampling by an integer factor (ProGAN's)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: Tensor, factor: int = 2) -> Tensor:
    """Average pooling by an integer factor (ProGAN's)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def fade_images(x: Tensor, stage: int, alpha: float, doublings: int) -> Tensor:
    """Real images as D sees them while a level fades in: pooled to the current level, blended with
    the level below (alpha 0 = the old resolution, 1 = the new), upsampled back to the target size.

    So real and fake images have the same blur at every point of growth. `[N, C, H, W]` -> same shape."""
    factor = 2 ** (doublings - stage)
    current = downsample(x, factor)
    if stage > 0 and alpha < 1.0:
        current = torch.lerp(upsample(downsample(current)), current, alpha)
    return upsample(current, factor)


class GrowthState(nn.Module):
    """`stage` and `alpha` as buffers (saved with the weights, so a checkpoint samples at its resolution)."""

    def __init__(self, doublings: int) -> None:
        super().__init__()
        self.doublings = doublings
        # A freshly built network is the grown one; training sets stage 0 before its first step.
        self.register_buffer("stage", torch.tensor(doublings, dtype=torch.long))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_growth(self, stage: int, alpha: float) -> None:
        """Use levels 0..`stage`, the last faded in by `alpha` in [0, 1]."""
        if not 0 <= stage <= self.doublings or not 0.0 <= alpha <= 1.0:
            raise GankitError(f"growth stage must be in 0..{self.doublings} and alpha in [0, 1], got {stage}, {alpha}")
        self.stage.fill_(stage)
        self.alpha.fill_(alpha)

    def growth(self) -> tuple[int, float]:
        return int(self.stage), float(self.alpha)


class ProGANGenerator(GrowthState):
    """`G(z [N, z_dim], c=None) -> [N, C, H, W]` in [-1, 1] at the target size, drawn at the current level.

    Level 0: pixel-normed z -> equalized linear to a base-size map -> 3x3 conv; each further level:
    nearest upsample, two 3x3 convs; every conv is followed by leaky ReLU and pixel norm. Each level has
    its own 1x1 toRGB."""

    def __init__(self, z_dim: int, out_shape: tuple[int, int, int], width: int = 128, fmap_base: int = 0,
                 start_resolution: int = 4) -> None:
        channels, height, width_px = out_shape
        base_h, base_w, doublings = growth_plan(height, width_px, start_resolution)
        super().__init__(doublings)
        self.z_dim, self.out_shape, self.base = z_dim, tuple(out_shape), (base_h, base_w)
        ch = [level_channels(i, width, fmap_base, start_resolution) for i in range(doublings + 1)]
        self.norm = PixelNorm()
        # ProGAN's dense first layer: gain sqrt(2)/4 (the map is 4x4; its output is reshaped, not summed).
        self.dense = EqualizedLinear(z_dim, ch[0] * base_h * base_w, gain=LRELU_GAIN / 4)
        self.blocks = nn.ModuleList([nn.ModuleList([EqualizedConv2d(ch[0], ch[0], 3)])])
        for i in range(1, doublings + 1):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(ch[i - 1], ch[i], 3), EqualizedConv2d(ch[i], ch[i], 3)]))
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, channels, 1, gain=1.0) for c in ch])

    def _block(self, level: int, x: Tensor) -> Tensor:
        if level > 0:
            x = upsample(x)
        for conv in self.blocks[level]:
            x = self.norm(lrelu(conv(x)))
        return x

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            raise GankitError("the progan family is unconditional; use a preset without class labels")
        stage, alpha = self.growth()
        x = self.dense(self.norm(z)).view(z.shape[0], -1, *self.base)
        x = self.norm(lrelu(x))
        x = self._block(0, x)
        old = x
        for level in range(1, stage + 1):
            old = x
            x = self._block(level, x)
        rgb = self.to_rgb[stage](x)
        if stage > 0 and alpha < 1.0:
            rgb = torch.lerp(upsample(self.to_rgb[stage - 1](old)), rgb, alpha)
        return torch.tanh(upsample(rgb, 2 ** (self.doublings - stage)))


class ProGANDiscriminator(GrowthState):
    """`D(x [N, C, H, W], c=None) -> scores [N]` (raw, higher = more real), read at the current level.

    fromRGB (1x1) at the current level; each level: two 3x3 convs and average pooling; at the base:
    minibatch stddev, a 3x3 conv and two dense layers."""

    def __init__(self, in_shape: tuple[int, int, int], width: int = 128, fmap_base: int = 0,
                 start_resolution: int = 4, stddev_group: int = 4) -> None:
        channels, height, width_px = in_shape
        base_h, base_w, doublings = growth_plan(height, width_px, start_resolution)
        super().__init__(doublings)
        self.in_shape = tuple(in_shape)
        ch = [level_channels(i, width, fmap_base, start_resolution) for i in range(doublings + 1)]
        self.from_rgb = nn.ModuleList([EqualizedConv2d(channels, c, 1) for c in ch])
        self.blocks = nn.ModuleList([nn.ModuleList()])  # level 0 has the epilogue instead
        for i in range(1, doublings + 1):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(ch[i], ch[i], 3), EqualizedConv2d(ch[i], ch[i - 1], 3)]))
        self.stddev = MinibatchStdDev(stddev_group)
        self.conv = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.dense = EqualizedLinear(ch[0] * base_h * base_w, ch[0])
        self.out = EqualizedLinear(ch[0], 1, gain=1.0)

    def _block(self, level: int, h: Tensor) -> Tensor:
        for conv in self.blocks[level]:
            h = lrelu(conv(h))
        return downsample(h)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        stage, alpha = self.growth()
        x = downsample(x, 2 ** (self.doublings - stage))
        h = lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self._block(stage, h)
            if alpha < 1.0:
                h = torch.lerp(lrelu(self.from_rgb[stage - 1](downsample(x))), h, alpha)
        for level in range(stage - 1, 0, -1):
            h = self._block(level, h)
        h = lrelu(self.conv(self.stddev(h)))
        h = lrelu(self.dense(h.flatten(1)))
        return self.out(h).squeeze(1)


def growth_at(nimg: int, fade_nimg: int, stable_nimg: int, doublings: int) -> tuple[int, float]:
    """(stage, alpha) after `nimg` real images: level 0 trains `stable_nimg` images, then each level fades
    in over `fade_nimg` (alpha 0 -> 1) and trains `stable_nimg` at alpha 1; the last level stays."""
    if nimg < stable_nimg:
        return 0, 1.0
    period = fade_nimg + stable_nimg
    stage = (nimg - stable_nimg) // period + 1 if period > 0 else doublings
    if stage > doublings:
        return doublings, 1.0
    into = nimg - stable_nimg - (stage - 1) * period
    return stage, (min(1.0, into / fade_nimg) if fade_nimg > 0 else 1.0)
