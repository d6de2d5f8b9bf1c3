"""Autoencoder discriminators (EBGAN, BEGAN) and BEGAN's decoder-shaped generator.

EBGAN (Zhao et al. 2017) and BEGAN (Berthelot et al. 2017) replace D's score by the
reconstruction error of an autoencoder: D = Dec(Enc(x)), and the *energy* of an image is how
badly D reconstructs it (low = real-looking). The networks follow BEGAN's paper:

- Encoder: a 3x3 conv from C to `width` channels, then per scale `convs` (paper: two) 3x3 convs + ELU and a
  stride-2 3x3 conv that halves H and W; scale i has `width * (i + 1)` channels (BEGAN's
  linear growth); a linear layer maps the base map to the code `[N, code_dim]` (no activation).
- Decoder: a linear layer from the code to a `width`-channel base map, then per scale two 3x3
  convs + ELU and a nearest-neighbour x2 upsampling; `convs` more at full size and a 3x3
  conv to C channels. D's decoder output is linear (an error can then exceed any margin);
  BEGAN's G is the same decoder from z with a final tanh (gankit's image range).

The number of scales and the base map come from `gankit.models.dcgan.dcgan_stages` (28x28 ->
two scales from a 7x7 base; 32 -> three from 4x4; 64 -> four from 4x4), so the same image
sizes as DCGAN work, non-square included. No batch norm by default (BEGAN has none);
`norm="batch"` adds it after every hidden conv of D (EBGAN's DCGAN-style D).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.dcgan import dcgan_stages
from gankit.models.layers import as_shape, check_int, reject_labels

AE_NORMS = ("none", "batch")


def _conv(fan_in: int, fan_out: int, norm: str, stride: int = 1) -> list[nn.Module]:
    """3x3 conv (padding 1), optional batch norm, ELU: one layer of BEGAN's blocks."""
    layers: list[nn.Module] = [nn.Conv2d(fan_in, fan_out, 3, stride=stride, padding=1, bias=norm == "none")]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(fan_out))
    layers.append(nn.ELU())
    return layers


class Decoder(nn.Module):
    """`code [N, code_dim] -> image [N, C, H, W]` (linear output; `tanh` adds BEGAN G's range)."""

    def __init__(self, code_dim: int, out_shape: Sequence[int], width: int, norm: str = "none",
                 tanh: bool = False, convs: int = 2) -> None:
        super().__init__()
        stages, h0, w0 = dcgan_stages(out_shape)
        channels = as_shape(out_shape, "out_shape")[0]
        self.base, self.width = (h0, w0), width
        self.project = nn.Linear(code_dim, h0 * w0 * width)
        layers: list[nn.Module] = []
        for _ in range(stages):
            layers += [m for _ in range(convs) for m in _conv(width, width, norm)]
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers += [m for _ in range(convs) for m in _conv(width, width, norm)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        if tanh:
            layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)

    def forward(self, code: Tensor) -> Tensor:
        h0, w0 = self.base
        # NHWC view then permute: free under the channels_last layout gankit uses on CPU.
        x = self.project(code).view(code.shape[0], h0, w0, self.width).permute(0, 3, 1, 2)
        return self.body(x)


class Encoder(nn.Module):
    """`image [N, C, H, W] -> code [N, code_dim]`."""

    def __init__(self, in_shape: Sequence[int], width: int, code_dim: int, norm: str = "none", convs: int = 2) -> None:
        super().__init__()
        stages, h0, w0 = dcgan_stages(in_shape)
        channels = as_shape(in_shape, "in_shape")[0]
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ELU()]
        fan_in = width
        for i in range(stages):
            fan_out = width * (i + 1)
            for j in range(convs):
                layers += _conv(fan_in if j == 0 else fan_out, fan_out, norm)
            layers += _conv(fan_out, width * (i + 2), norm, stride=2)  # downsample, grow the width
            fan_in = width * (i + 2)
        layers += [m for _ in range(convs) for m in _conv(fan_in, fan_in, norm)]
        self.body = nn.Sequential(*layers)
        self.base, self.channels = (h0, w0), fan_in
        self.code = nn.Linear(h0 * w0 * fan_in, code_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.body(x)
        # Flatten in NHWC order (matches the channels_last layout, no copy).
        return self.code(h.permute(0, 2, 3, 1).reshape(x.shape[0], -1))


class AutoencoderDiscriminator(nn.Module):
    """`D(x [N, C, H, W] in [-1, 1]) -> (reconstruction [N, C, H, W], code [N, code_dim])`.

    Not a scorer: the family turns the reconstruction into an energy [N] (EBGAN: mean squared
    error, BEGAN: mean absolute error; see `gankit.families.ebgan` / `began`), low = real.
    `width` is the first scale's channel count; `norm` is none (BEGAN) or batch.
    """

    def __init__(self, in_shape: Sequence[int], width: int, code_dim: int = 64, norm: str = "none",
                 convs: int = 2) -> None:
        super().__init__()
        check_int("width", width, 1)
        check_int("code_dim", code_dim, 1)
        check_int("convs", convs, 1)
        if norm not in AE_NORMS:
            raise GankitError(f"autoencoder D norm '{norm}' is unknown; choose one of: {', '.join(AE_NORMS)}")
        self.in_shape = as_shape(in_shape, "in_shape")
        self.code_dim = code_dim
        self.encoder = Encoder(in_shape, width, code_dim, norm, convs)
        self.decoder = Decoder(code_dim, in_shape, width, norm, convs=convs)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        reject_labels(c, "autoencoder D")
        code = self.encoder(x)
        return self.decoder(code), code


class BEGANGenerator(nn.Module):
    """`G(z [N, z_dim]) -> images [N, C, H, W]` in [-1, 1]: BEGAN's decoder (ELU, nearest
    upsampling, no batch norm) with its own weights and a final tanh."""

    def __init__(self, z_dim: int, out_shape: Sequence[int], width: int, convs: int = 2) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        check_int("width", width, 1)
        check_int("convs", convs, 1)
        self.z_dim = z_dim
        self.out_shape = as_shape(out_shape, "out_shape")
        self.decoder = Decoder(z_dim, out_shape, width, tanh=True, convs=convs)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        reject_labels(c, "began")
        return self.decoder(z)


def check_autoencoder_shape(shape: Sequence[int]) -> None:
    """Raise GankitError (one line) when the autoencoder networks cannot build images of `shape`."""
    try:
        dcgan_stages(shape)
    except GankitError as err:  # same sizes as DCGAN; say whose networks they are
        raise GankitError(str(err).replace("dcgan", "the ebgan/began autoencoder", 1)) from None


__all__ = ["AutoencoderDiscriminator", "BEGANGenerator", "Decoder", "Encoder", "check_autoencoder_shape"]
