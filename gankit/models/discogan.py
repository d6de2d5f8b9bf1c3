"""DiscoGAN's networks (Kim et al. 2017, "Learning to Discover Cross-Domain Relations with GANs").

G is a plain convolutional encoder-decoder with no skip connections and no residual blocks:

    encoder: n_layers x (4x4 conv, stride 2) with LeakyReLU(0.2), batch norm on all but the first
    decoder: n_layers x (4x4 transposed conv, stride 2) with batch norm and ReLU, the last one to
             `out_channels` with tanh

Layer i of the encoder has `width * 2**i` channels (the paper's 64x64 G: 64-128-256-512). Any H, W:
the input is reflection-padded to a multiple of `2**n_layers` and the output cropped back
(28x28 with 3 layers: padded to 32, bottleneck 4x4).

D mirrors the encoder: n_layers x (4x4 conv, stride 2) with LeakyReLU(0.2) and batch norm on all
but the first, then a 3x3 conv to one channel whose map is averaged into one raw score per image.
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import check_int, init_dcgan_weights
from gankit.models.resnet_gen import pad_to_multiple


def _check(in_channels: int, width: int, n_layers: int) -> None:
    check_int("in_channels", in_channels, 1)
    check_int("width", width, 1)
    check_int("n_layers", n_layers, 1)
    if n_layers > 6:
        raise GankitError(f"DiscoGAN n_layers must be at most 6, got {n_layers}")


def _encoder(in_channels: int, width: int, n_layers: int) -> tuple[list[nn.Module], int]:
    """The stride-2 conv stack shared by G's encoder and D; returns (layers, output channels)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for i in range(n_layers):
        out = width * 2**i
        layers.append(nn.Conv2d(channels, out, 4, stride=2, padding=1, bias=i == 0))
        if i > 0:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.LeakyReLU(0.2))
        channels = out
    return layers, channels


class DiscoGenerator(nn.Module):
    """`forward(x [N, in_channels, H, W] in [-1, 1]) -> y [N, out_channels, H, W] in [-1, 1]`."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        _check(in_channels, width, n_layers)
        check_int("out_channels", out_channels, 1)
        self.in_channels, self.out_channels, self.width, self.n_layers = in_channels, out_channels, width, n_layers
        layers, channels = _encoder(in_channels, width, n_layers)
        for i in reversed(range(n_layers)):
            last = i == 0
            out = out_channels if last else width * 2 ** (i - 1)
            layers.append(nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GankitError(f"DiscoGenerator expects [N, {self.in_channels}, H, W] input, got {list(x.shape)}")
        padded, (height, width) = pad_to_multiple(x, 2**self.n_layers)
        return self.net(padded)[..., :height, :width]


class DiscoDiscriminator(nn.Module):
    """`forward(x [N, in_channels, H, W]) -> raw scores [N]` (logits, higher = more real).

    Needs H, W >= 2**n_layers (each stride-2 layer halves the side).
    """

    def __init__(self, in_channels: int, width: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        _check(in_channels, width, n_layers)
        self.in_channels, self.width, self.n_layers = in_channels, width, n_layers
        layers, channels = _encoder(in_channels, width, n_layers)
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GankitError(f"DiscoDiscriminator expects [N, {self.in_channels}, H, W] input, got {list(x.shape)}")
        if min(x.shape[-2:]) < 2**self.n_layers:
            raise GankitError(f"a {self.n_layers}-layer DiscoDiscriminator needs inputs of at least "
                              f"{2**self.n_layers}x{2**self.n_layers}, got {x.shape[-2]}x{x.shape[-1]}; "
                              "use fewer layers (cycle.d_layers) or larger images")
        return self.net(x).mean(dim=(1, 2, 3))
