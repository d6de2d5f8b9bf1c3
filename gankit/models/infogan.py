"""The InfoGAN-style 28x28 networks (Chen et al. 2016, appendix), as shared by Lucic et al. 2018.

Lucic et al., "Are GANs Created Equal? A Large-Scale Study" (NeurIPS 2018), train every loss with
one architecture on MNIST and Fashion-MNIST, InfoGAN's:

- D: conv 4x4 s2 to `width` channels + LeakyReLU(0.2) -> conv 4x4 s2 to 2*width + BN + LReLU
  -> fc 16*width + BN + LReLU -> fc 1.  (width 64: conv64-conv128-fc1024-fc1.)
- G: fc 16*width + BN + ReLU -> fc 2*width*7*7 + BN + ReLU -> deconv 4x4 s2 to `width` + BN + ReLU
  -> deconv 4x4 s2 to C, tanh.  (width 64: fc1024-fc(128x7x7)-deconv64-deconv1.)

Every layer scales with `width / 64`, so width 64 is the paper's network. Only images of shape
(C, 28, 28) are built (two stride-2 stages around a 7x7 map). `D(norm="none")` drops D's batch
norms: WGAN-GP's and DRAGAN's penalties are per sample, and batch norm mixes samples.

- BEGAN's autoencoder D in the paper's code (`InfoGANAutoencoder`): encoder conv 4x4 s2 to `width` + LReLU
  -> conv 4x4 s2 to 2*width + LReLU -> fc `code_dim` (+ BN) + LReLU; decoder fc 2*width*7*7 (+ BN) + LReLU
  -> deconv 4x4 s2 to `width` (+ BN) + LReLU -> deconv 4x4 s2 to C, tanh. The optional batch norms follow
  the code's `discriminator_batchnorm` (off by default for BEGAN there, `norm="none"` here).

The reshapes between the 7x7 maps and the fully connected layers go through NHWC order (as in
`gankit.models.dcgan`), so they cost nothing when the trainer puts the models in channels_last.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import as_shape, check_int, init_dcgan_weights, reject_labels

BASE = 7  # 28 / 2 / 2
D_NORMS = ("batch", "none")


def infogan_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Return `shape` as (C, 28, 28); raise a one-line GankitError for any other shape."""
    items = as_shape(shape, "data shape")
    if len(items) != 3 or tuple(items[1:]) != (28, 28):
        raise GankitError(
            f"infogan builds images of shape (C, 28, 28) only, got {items}; "
            "use --set data.resolution=28 or the dcgan model for other sizes"
        )
    return items[0], items[1], items[2]


class InfoGANGenerator(nn.Module):
    """`G(z [N, z_dim]) -> images [N, C, 28, 28]` in [-1, 1]."""

    def __init__(self, z_dim: int, out_shape: Sequence[int], width: int = 64) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        check_int("width", width, 1)
        channels, _, _ = infogan_shape(out_shape)
        self.z_dim = z_dim
        self.out_shape = as_shape(out_shape, "out_shape")
        self.base_channels = 2 * width
        hidden = 16 * width
        # Bias-free where batch norm's shift follows.
        self.fc = nn.Sequential(
            nn.Linear(z_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, self.base_channels * BASE * BASE, bias=False),
            nn.BatchNorm1d(self.base_channels * BASE * BASE), nn.ReLU(),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(self.base_channels, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        reject_labels(c, "infogan")
        # NHWC view then permute: an NCHW tensor with channels_last strides, no copy.
        h = self.fc(z).view(z.shape[0], BASE, BASE, self.base_channels).permute(0, 3, 1, 2)
        return self.body(h)


class InfoGANDiscriminator(nn.Module):
    """`D(x [N, C, 28, 28] in [-1, 1]) -> raw scores [N]`, higher = more real."""

    def __init__(self, in_shape: Sequence[int], width: int = 64, norm: str = "batch") -> None:
        super().__init__()
        check_int("width", width, 1)
        if norm not in D_NORMS:
            raise GankitError(f"infogan D norm '{norm}' is unknown; choose one of: {', '.join(D_NORMS)}")
        channels, _, _ = infogan_shape(in_shape)
        self.in_shape = as_shape(in_shape, "in_shape")
        batch = norm == "batch"
        hidden = 16 * width
        # No normalisation on the first layer (as in InfoGAN); bias only where no norm follows.
        conv: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch),
        ]
        conv += [nn.BatchNorm2d(2 * width)] if batch else []
        self.conv = nn.Sequential(*conv, nn.LeakyReLU(0.2))
        fc: list[nn.Module] = [nn.Linear(2 * width * BASE * BASE, hidden, bias=not batch)]
        fc += [nn.BatchNorm1d(hidden)] if batch else []
        self.fc = nn.Sequential(*fc, nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden, 1)
        self.apply(init_dcgan_weights)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The fully connected layer's activations: `[N, 16 * width]` (1024 at width 64)."""
        reject_labels(c, "infogan")
        h = self.conv(x)
        # NHWC flatten: free for channels_last maps, which the trainer uses on CPU.
        return self.fc(h.permute(0, 2, 3, 1).reshape(h.shape[0], -1))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c)).squeeze(1)


class InfoGANAutoencoder(nn.Module):
    """`D(x [N, C, 28, 28] in [-1, 1]) -> (reconstruction [N, C, 28, 28] in [-1, 1], code [N, code_dim])`.

    The autoencoder D that Lucic et al.'s code gives BEGAN: the shared D's two convolutions as encoder (no
    fc1024), a `code_dim` bottleneck, and the shared G's layout as decoder, LeakyReLU throughout. Same
    contract as `gankit.models.autoencoder.AutoencoderDiscriminator`, so the energy families take either."""

    def __init__(self, in_shape: Sequence[int], width: int = 64, code_dim: int = 64, norm: str = "none") -> None:
        super().__init__()
        check_int("width", width, 1)
        check_int("code_dim", code_dim, 1)
        if norm not in D_NORMS:
            raise GankitError(f"infogan D norm '{norm}' is unknown; choose one of: {', '.join(D_NORMS)}")
        channels, _, _ = infogan_shape(in_shape)
        self.in_shape = as_shape(in_shape, "in_shape")
        self.base_channels = 2 * width
        batch = norm == "batch"
        flat = self.base_channels * BASE * BASE
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, self.base_channels, 4, 2, 1), nn.LeakyReLU(0.2),
        )
        self.code = nn.Sequential(nn.Linear(flat, code_dim), *([nn.BatchNorm1d(code_dim)] if batch else []),
                                  nn.LeakyReLU(0.2))
        self.expand = nn.Sequential(nn.Linear(code_dim, flat), *([nn.BatchNorm1d(flat)] if batch else []),
                                    nn.LeakyReLU(0.2))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(self.base_channels, width, 4, 2, 1), *([nn.BatchNorm2d(width)] if batch else []),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
        )
        self.apply(init_dcgan_weights)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        reject_labels(c, "infogan")
        h = self.encoder(x)
        code = self.code(h.permute(0, 2, 3, 1).reshape(h.shape[0], -1))  # NHWC flatten, as InfoGANDiscriminator
        h = self.expand(code).view(x.shape[0], BASE, BASE, self.base_channels).permute(0, 3, 1, 2)
        return self.decoder(h), code
