"""SRGAN networks (Ledig et al. 2017, "Photo-realistic single image super-resolution using a GAN").

`SRGenerator` maps a low-resolution image `[N, C, h, w]` in [-1, 1] to `[N, C, h*s, w*s]` in
[-1, 1] (s = 2 or 4): a 9x9 conv, residual blocks (conv-BN-PReLU-conv-BN + skip), a conv-BN
joined by a global skip to the first conv's output, then log2(s) sub-pixel stages (conv to 4x
channels, pixel shuffle x2, PReLU) and a 9x9 conv with tanh. Every conv before the upsampling
runs at the low resolution, which is where SRGAN's speed comes from.

`SRDiscriminator` scores high-resolution images `[N, C, H, W]` with raw logits `[N]`: a conv
with LeakyReLU, then `n_stages` stages of (stride-2 conv, stride-1 conv), each conv with BN and
LeakyReLU 0.2, doubling the width each stage (the paper's 64-128-256-512 at width 64, 4 stages),
then a two-layer dense head. The paper flattens a 6x6 map for 96x96 inputs; here the map is
average-pooled to 1x1 first, so one D works at any resolution (28x28 included).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

SR_SCALES = (2, 4)


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus the identity: `[N, width, h, w]` -> same shape."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRGenerator(nn.Module):
    """Residual super-resolution generator with pixel-shuffle upsampling.

    Input `[N, channels, h, w]` in [-1, 1] (any h, w); output `[N, channels, h*scale, w*scale]`
    in [-1, 1] (tanh). `width` is the feature width, `n_blocks` the number of residual blocks
    (the paper: width 64, 16 blocks).
    """

    def __init__(self, channels: int, scale: int = 4, width: int = 64, n_blocks: int = 8) -> None:
        super().__init__()
        if scale not in SR_SCALES:
            raise GankitError(f"SRGAN scale must be 2 or 4, got {scale}; e.g. --set sr.scale=4")
        if channels < 1 or width < 1 or n_blocks < 1:
            raise GankitError(f"SRGenerator needs channels, width and n_blocks >= 1, got {channels}, {width}, {n_blocks}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)])
        self.post = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        up: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):  # log2(scale) stages of x2
            up += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)

    def forward(self, x: Tensor) -> Tensor:
        """`[N, C, h, w]` in [-1, 1] -> `[N, C, h*scale, w*scale]` in [-1, 1]."""
        features = self.head(x)
        features = features + self.post(self.blocks(features))  # global skip around the residual trunk
        return torch.tanh(self.tail(self.upsample(features)))


class SRDiscriminator(nn.Module):
    """SRGAN's discriminator on high-resolution images: `[N, channels, H, W]` in [-1, 1] -> logits `[N]`.

    `n_stages` stride-2 stages (each halves H and W, rounding up), so H and W should be at least
    2 ** n_stages; the default 3 suits 28x28 (28 -> 14 -> 7 -> 4).
    """

    def __init__(self, channels: int, width: int = 64, n_stages: int = 3, dense: int = 1024) -> None:
        super().__init__()
        if channels < 1 or width < 1 or n_stages < 1 or dense < 1:
            raise GankitError(f"SRDiscriminator needs channels, width, n_stages and dense >= 1, "
                              f"got {channels}, {width}, {n_stages}, {dense}")

        def conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.LeakyReLU(0.2)]

        # The first conv has no BN (as in the paper); then stride-2 conv, and a stride-1 conv at twice the width.
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2)]
        layers += conv(width, width, 2)
        cin = width
        for stage in range(1, n_stages):
            cout = width * 2 ** stage
            layers += conv(cin, cout, 1) + conv(cout, cout, 2)
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, dense),
                                  nn.LeakyReLU(0.2), nn.Linear(dense, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Raw scores `[N]` (higher = more real) of images `[N, C, H, W]` in [-1, 1]."""
        return self.head(self.features(x)).squeeze(1)


__all__ = ["SR_SCALES", "ResidualBlock", "SRGenerator", "SRDiscriminator"]
