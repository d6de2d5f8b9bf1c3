"""DCGAN (Radford et al. 2015, "Unsupervised Representation Learning with DCGANs").

Discriminator: `k` convolutions of stride 2 (no pooling), each halving H and W,
LeakyReLU(0.2) after each, batch norm on every one but the first; layer i has
`min(width * 2**i, max_width)` channels. The score is a linear layer over the
flattened last feature map (not a conv), so any base size (e.g. 7x7 for 28x28,
4x6 for 32x48) works without a kernel sized to match.

Generator (mirrors D): a linear projection of z to the base map (D's deepest
width, H/2**k x W/2**k), batch norm + ReLU, then `k` transposed convolutions of
stride 2, each doubling H and W and halving the channels (batch norm + ReLU),
the last one to C channels followed by tanh. No other fully connected layers.

The number of stages `k` is the largest (at most 6) that divides H and W and
leaves a base side of at least 3; the base must then be at most 8 on each side and
`k >= 2`. Examples: 28x28 -> 7x7 base, 2 stages; 32 -> 4x4, 3; 64 -> 4x4, 4.

Both reshapes (G's projection to a map, D's map to a vector) go through NHWC
order so they cost nothing when the trainer uses channels_last; a layout
mismatch there was measured to make the backward pass ~4x slower on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import as_shape, check_dropout, check_int, init_dcgan_weights, reject_labels
from gankit.models.tricks import make_activation

MAX_STAGES = 6


def dcgan_stages(shape: Sequence[int]) -> tuple[int, int, int]:
    """Return `(k, h0, w0)`: stride-2 stages and base map size for images of `shape` (C, H, W).

    Raises GankitError, saying which sizes work, if DCGAN cannot build `shape`.
    """
    items = as_shape(shape, "data shape")
    if len(items) != 3:
        raise GankitError(
            f"dcgan builds images of shape (C, H, W), got {items}; for vector data such as "
            "(2,) use the mlp or gan2014 model"
        )
    _, height, width = items
    k = 0
    while k < MAX_STAGES:
        step = 2 ** (k + 1)
        if height % step or width % step or min(height, width) // step < 3:
            break
        k += 1
    h0, w0 = height // 2**k, width // 2**k
    if k < 2 or max(h0, w0) > 8:
        raise GankitError(
            f"dcgan cannot build {height}x{width} images: height and width must each be "
            "3 to 8 times the same power of two >= 4 (sides up to 512), e.g. 16, 24, 28, 32, "
            "64 or 32x48; resize or crop the data"
        )
    return k, h0, w0


def _padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) that make a stride-2 layer exactly halve / double H and W."""
    if kernel_size == 4:
        return 1, 0
    if kernel_size == 5:
        return 2, 1
    raise GankitError(f"dcgan kernel_size must be 4 or 5, got {kernel_size!r}")


def _stage_widths(width: int, max_width: int, stages: int) -> list[int]:
    check_int("width", width, 1)
    check_int("max_width", max_width, 1)
    return [min(width * 2**i, max_width) for i in range(stages)]


class DCGANGenerator(nn.Module):
    """`G(z [N, z_dim]) -> images [N, C, H, W]` in [-1, 1]."""

    def __init__(
        self,
        z_dim: int,
        out_shape: Sequence[int],
        width: int,
        kernel_size: int = 4,
        max_width: int = 1024,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        check_dropout(dropout)
        stages, h0, w0 = dcgan_stages(out_shape)
        padding, output_padding = _padding(kernel_size)
        widths = _stage_widths(width, max_width, stages)
        self.z_dim = z_dim
        self.out_shape = as_shape(out_shape, "out_shape")
        self.base = (h0, w0)
        self.base_channels = widths[-1]
        # Bias-free where batch norm's shift follows.
        self.project = nn.Linear(z_dim, h0 * w0 * widths[-1], bias=False)
        self.project_norm = nn.Sequential(nn.BatchNorm2d(widths[-1]), make_activation(activation))
        layers: list[nn.Module] = []
        channels = widths[::-1][1:] + [self.out_shape[0]]
        fan_in = widths[-1]
        for i, fan_out in enumerate(channels):
            last = i == len(channels) - 1
            layers.append(nn.ConvTranspose2d(
                fan_in, fan_out, kernel_size, stride=2, padding=padding,
                output_padding=output_padding, bias=last,
            ))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(fan_out), make_activation(activation)]
            if dropout > 0 and not last:
                layers.append(nn.Dropout(dropout))  # pix2pix-style noise in G
            fan_in = fan_out
        self.body = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        reject_labels(c, "dcgan")
        h0, w0 = self.base
        # NHWC view then permute: an NCHW tensor with channels_last strides, no copy.
        x = self.project(z).view(z.shape[0], h0, w0, self.base_channels).permute(0, 3, 1, 2)
        return self.body(self.project_norm(x))


D_NORMS = ("batch", "layer", "none")


class DCGANDiscriminator(nn.Module):
    """`D(x [N, C, H, W] in [-1, 1]) -> raw scores [N]`, higher = more real."""

    def __init__(
        self,
        in_shape: Sequence[int],
        width: int,
        kernel_size: int = 4,
        max_width: int = 1024,
        norm: str = "batch",
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise GankitError(f"dcgan D norm '{norm}' is unknown; choose one of: {', '.join(D_NORMS)}")
        stages, h0, w0 = dcgan_stages(in_shape)
        padding, _ = _padding(kernel_size)
        widths = _stage_widths(width, max_width, stages)
        self.in_shape = as_shape(in_shape, "in_shape")
        layers: list[nn.Module] = []
        fan_in = self.in_shape[0]
        for i, fan_out in enumerate(widths):
            # No normalisation on the first layer (as in the paper); bias only where no norm follows.
            normed = i > 0 and norm != "none"
            layers.append(nn.Conv2d(fan_in, fan_out, kernel_size, 2, padding, bias=not normed))
            if normed and norm == "batch":
                layers.append(nn.BatchNorm2d(fan_out))
            elif normed:
                # Per-sample normalisation: WGAN-GP's penalty is per sample, which batch norm would break.
                layers.append(nn.GroupNorm(1, fan_out))
            layers.append(make_activation(activation))
            fan_in = fan_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(h0 * w0 * widths[-1], 1)
        self.apply(init_dcgan_weights)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Last feature map flattened in (H, W, C) order: `[N, h0 * w0 * C_last]`."""
        reject_labels(c, "dcgan")
        h = self.body(x)
        # NHWC flatten: free for channels_last maps, which the trainer uses on CPU.
        return h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c)).squeeze(1)
