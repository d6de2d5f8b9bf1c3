"""CycleGAN's generator (Zhu et al. 2017, after Johnson et al. 2016): a ResNet image-to-image network.

    c7s1-w - d2w - d4w (n_down stride-2 convs) - n_blocks x R(w * 2**n_down) - u2w - uw - c7s1-out - tanh

c7s1-k: 7x7 conv, stride 1, reflection padding 3, instance norm, ReLU. dk: 3x3 conv, stride 2,
instance norm, ReLU. R: residual block of two 3x3 convs (reflection padding), instance norm, the
first followed by ReLU. uk: 3x3 transposed conv, stride 2, instance norm, ReLU. The paper's
generator for 128x128 is `n_blocks=6`, for 256x256 `n_blocks=9`; both use `n_down=2`, `width=64`.

Any H, W: the input is reflection-padded up to a multiple of `2**n_down` (so every stride-2 layer
halves exactly and the decoder comes back to the same size) and the output cropped back.
28x28 with `n_down=2` needs no padding (28 -> 14 -> 7 -> 14 -> 28).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import check_int


def _norm(channels: int) -> nn.Module:
    # CycleGAN's instance norm: affine off, no running statistics (train and eval behave the same).
    return nn.InstanceNorm2d(channels)


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), 3x3 convs with reflection padding; shape preserved."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflection-pad `x [N, C, H, W]` on the bottom/right to sides divisible by `multiple`.

    Returns (padded tensor, original (H, W)). Reflection needs a pad smaller than the side,
    so very small inputs fall back to replicate padding.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (height, width)


class ResnetGenerator(nn.Module):
    """CycleGAN's G: `forward(x [N, in_channels, H, W] in [-1, 1]) -> y [N, out_channels, H, W] in [-1, 1]`.

    width: channels of the first layer (the paper's 64); the bottleneck has `width * 2**n_down`.
    n_blocks: residual blocks at the bottleneck. n_down: stride-2 downsamplings (and as many upsamplings).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, n_blocks: int = 6, n_down: int = 2) -> None:
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("width", width, 1)
        check_int("n_blocks", n_blocks, 0)
        check_int("n_down", n_down, 0)
        if n_down > 5:
            raise GankitError(f"ResnetGenerator n_down must be at most 5, got {n_down}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.width, self.n_blocks, self.n_down = width, n_blocks, n_down
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), _norm(width), nn.ReLU()]
        channels = width
        for _ in range(n_down):
            layers += [nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1), _norm(channels * 2), nn.ReLU()]
            channels *= 2
        layers += [ResidualBlock(channels) for _ in range(n_blocks)]
        for _ in range(n_down):
            # output_padding=1 makes each transposed conv exactly double the side.
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(channels // 2), nn.ReLU()]
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GankitError(f"ResnetGenerator expects [N, {self.in_channels}, H, W] input, got {list(x.shape)}")
        padded, (height, width) = pad_to_multiple(x, 2**self.n_down)
        return self.net(padded)[..., :height, :width]


def _init_weights(module: nn.Module) -> None:
    # CycleGAN's "normal" init: conv weights ~ N(0, 0.02), biases 0 (instance norm has no parameters).
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
