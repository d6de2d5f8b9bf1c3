"""U-Net generator (Ronneberger et al. 2015) as pix2pix uses it (Isola et al. 2017).

An encoder of `depth` 4x4 stride-2 convolutions halves H and W at each level; a mirrored
decoder of 4x4 stride-2 transposed convolutions doubles them back, and every decoder block
also sees the encoder's map of the same size (a skip connection: concatenated on channels),
so low-level detail (edges, positions) need not pass through the bottleneck. Level i has
`width * min(2**i, 8)` channels: pix2pix's C64-C128-C256-C512-C512-C512-C512-C512 at depth 8.

    encoder block: LeakyReLU(0.2) - Conv - BatchNorm   (the first: Conv only; the innermost: no norm)
    decoder block: ReLU - ConvTranspose - BatchNorm [- Dropout]   (the last: to out_channels, then tanh)

Dropout is pix2pix's only source of noise (it found a z input ignored). It sits in the
innermost decoder blocks: `min(3, max(1, (depth - 1) // 2))` of the `depth - 1` blocks, i.e.
the paper's 3 of 7 at depth 8 and 2 of 4 at depth 5. `dropout=0` turns it off.

Any H x W: the input is padded (edge pixels replicated) up to a multiple of `2**depth`,
and the output cropped back. `auto_depth(H, W)` picks a depth for a size: the smallest that
brings the shorter side to 1 (capped at 8, so 256-px inputs get the paper's 8), lowered while
the padding would grow a side by more than a quarter. 28x28 -> depth 5 (padded to 32x32).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import check_dropout, check_int, init_dcgan_weights

MAX_DEPTH = 8


def auto_depth(height: int, width: int) -> int:
    """The U-Net depth `depth=None` picks for `height x width` inputs (see the module docstring)."""
    check_int("height", height, 1)
    check_int("width", width, 1)
    side = min(height, width)
    depth = max(1, min(MAX_DEPTH, math.ceil(math.log2(side)) if side > 1 else 1))
    while depth > 1 and max(_padded(height, depth) / height, _padded(width, depth) / width) > 1.25:
        depth -= 1
    return depth


def _padded(side: int, depth: int) -> int:
    step = 2**depth
    return -(-side // step) * step


def dropout_blocks(depth: int) -> int:
    """How many of the innermost decoder blocks carry dropout at this depth."""
    return min(3, max(1, (depth - 1) // 2)) if depth > 1 else 0


class UNetGenerator(nn.Module):
    """Image-to-image U-Net: `forward(x [N, in_channels, H, W] in [-1, 1]) -> [N, out_channels, H, W]` in (-1, 1).

    The depth is fixed at construction (the weights depend on it): `depth=None` means
    `auto_depth(*size)` when `size=(H, W)` of the training images is given, else the paper's 8
    (any input still works: it is padded to a multiple of 2**depth, e.g. 28 -> 256 at depth 8).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 64,
        depth: int | None = None,
        dropout: float = 0.5,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("width", width, 1)
        check_dropout(dropout)
        if depth is None:
            depth = auto_depth(*size) if size is not None else MAX_DEPTH
        check_int("depth", depth, 1)
        if depth > MAX_DEPTH:
            raise GankitError(f"U-Net depth must be at most {MAX_DEPTH}, got {depth}")
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        self.depth, self.dropout = depth, float(dropout)
        channels = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList(self._down_block(i, in_channels if i == 0 else channels[i - 1], channels[i])
                                  for i in range(depth))
        n_drop = dropout_blocks(depth)
        ups = []
        for j in range(depth):  # j = 0 is the innermost decoder block
            level = depth - 1 - j  # the encoder level whose output size this block's input has
            c_in = channels[level] if j == 0 else 2 * channels[level]
            if j == depth - 1:
                ups.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()))
                continue
            layers: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(c_in, channels[level - 1], 4, 2, 1, bias=False),
                                       nn.BatchNorm2d(channels[level - 1])]
            if j < n_drop and dropout > 0:
                layers.append(nn.Dropout(dropout))
            ups.append(nn.Sequential(*layers))
        self.up = nn.ModuleList(ups)
        self.apply(init_dcgan_weights)

    def _down_block(self, i: int, c_in: int, c_out: int) -> nn.Module:
        innermost = i == self.depth - 1
        if i == 0:
            return nn.Conv2d(c_in, c_out, 4, 2, 1)
        if innermost:  # a 1x1 bottleneck has no statistics to normalise (batch size 1 would fail)
            return nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(c_in, c_out, 4, 2, 1))
        return nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GankitError(f"UNetGenerator expects [N, {self.in_channels}, H, W] input, got {list(x.shape)}")
        height, width = x.shape[2], x.shape[3]
        pad_h, pad_w = _padded(height, self.depth) - height, _padded(width, self.depth) - width
        if pad_h or pad_w:
            top, left = pad_h // 2, pad_w // 2
            x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode="replicate")
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
        h = self.up[0](skips[-1])
        for j in range(1, self.depth):
            h = self.up[j](torch.cat([h, skips[self.depth - 1 - j]], dim=1))
        if pad_h or pad_w:
            h = h[:, :, top:top + height, left:left + width]
        return h

    def extra_repr(self) -> str:
        return f"depth={self.depth}, dropout={self.dropout}"
