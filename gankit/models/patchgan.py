"""PatchGAN discriminator (Isola et al. 2017, "Image-to-Image Translation with Conditional GANs").

Instead of one score per image, D scores every overlapping patch: a stack of 4x4
convolutions (padding 1) with no final pooling or linear layer, so each output cell
sees only a `receptive_field(n_layers)`-pixel square of the input. The paper's
70x70 D (`n_layers=3`) is

    C64 (stride 2, no norm) - C128 (s2) - C256 (s2) - C512 (stride 1) - conv to 1 channel (s1)

each followed by norm (but the first) and LeakyReLU(0.2); layer i has
`width * min(2**i, 8)` channels. `n_layers` stride-2 layers give receptive fields
7, 16, 34, 70, 142, 286 for n_layers = 0..5; on a 256x256 input the 70x70 D gives a
30x30 score map.

Small images: each stride-2 layer floors the side to half and the two stride-1
layers take 1 each off, so the map side is `side // 2**n_layers - 2` (see
`patch_map_size`). 28x28 and 32x32 give 1x1 / 2x2 maps with 3 layers and 5x5 / 6x6
with 2 (receptive field 34, about the whole image); fewer layers give smaller patches.
An input too small for `n_layers` is a GankitError naming the smallest side that works.

For pix2pix, D judges the pair: call it on `torch.cat([input, output], dim=1)` with
`in_channels = C_in + C_out`.
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import check_int, init_dcgan_weights

NORMS = ("batch", "instance", "none")
MAX_LAYERS = 6


def receptive_field(n_layers: int) -> int:
    """Side in pixels of the input square one score of an `n_layers` PatchDiscriminator sees (70 for 3)."""
    check_int("n_layers", n_layers, 0)
    field = 1
    # Walk back from one output cell: the two stride-1 4x4 convs add 3 each,
    # every stride-2 4x4 conv doubles the field and adds 2.
    field += 3 + 3
    for _ in range(n_layers):
        field = field * 2 + 2
    return field


def patch_map_size(side: int, n_layers: int) -> int:
    """Score-map side for an input side `side` (4x4 kernels, padding 1): `side // 2**n_layers - 2`."""
    for _ in range(n_layers):
        side = side // 2  # (side + 2 - 4) // 2 + 1
    return side - 2  # two stride-1 convs, each (side + 2 - 4) + 1


def min_input_side(n_layers: int) -> int:
    """Smallest input side that leaves a score map of at least 1x1."""
    return 3 * 2**n_layers


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        # The pix2pix code's instance norm: no affine parameters, no running statistics.
        return nn.InstanceNorm2d(channels)
    return nn.Identity()


class PatchDiscriminator(nn.Module):
    """Scores every patch of an image (or of an (input, output) pair concatenated on channels).

    `forward(x [N, in_channels, H, W]) -> raw scores [N, H', W']` (logits, higher = more real),
    with `H' = H // 2**n_layers - 2` and likewise W'. Any H, W of at least
    `3 * 2**n_layers`.
    """

    def __init__(self, in_channels: int, width: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("width", width, 1)
        check_int("n_layers", n_layers, 0)
        if n_layers > MAX_LAYERS:
            raise GankitError(f"n_layers must be at most {MAX_LAYERS} (receptive field 286), got {n_layers}")
        if norm not in NORMS:
            raise GankitError(f"PatchDiscriminator norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.in_channels, self.width, self.n_layers, self.norm = in_channels, width, n_layers, norm
        use_bias = norm != "batch"  # batch norm's shift makes a conv bias redundant
        layers: list[nn.Module] = []
        channels = in_channels
        # n_layers stride-2 convs, then one stride-1 conv; the first has no norm (as in the paper).
        for i in range(n_layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            first = i == 0
            layers.append(nn.Conv2d(channels, out, 4, stride, 1, bias=use_bias or first))
            if not first:
                layers.append(_norm_layer(norm, out))
            layers.append(nn.LeakyReLU(0.2))
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    @property
    def receptive_field(self) -> int:
        """Input pixels (per side) one score sees."""
        return receptive_field(self.n_layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GankitError(
                f"PatchDiscriminator expects [N, {self.in_channels}, H, W] input, got {list(x.shape)}; "
                "for pix2pix pass torch.cat([input, output], dim=1)"
            )
        height, width = x.shape[2], x.shape[3]
        if min(height, width) < min_input_side(self.n_layers):
            raise GankitError(
                f"a {self.n_layers}-layer PatchDiscriminator needs inputs of at least "
                f"{min_input_side(self.n_layers)}x{min_input_side(self.n_layers)}, got {height}x{width}; "
                "use fewer layers (pix2pix.d_layers) or larger images"
            )
        return self.net(x).squeeze(1)

    def extra_repr(self) -> str:
        return f"receptive_field={self.receptive_field}"
