"""Fully connected GAN that trains reliably: the family for 2-D toy data.

Generator: `hidden_layers` blocks of Linear -> BatchNorm1d -> ReLU, then a linear
output; tanh for images (range [-1, 1]), no squashing for vectors such as 2-D toy
points (their range is the data's). Discriminator: `hidden_layers` blocks of
Linear -> LeakyReLU(0.2) -> Dropout, then a linear layer to one raw score.

Defaults (width 128-256 for toy data): 3 hidden layers each side, batch norm in
G (it keeps the hidden units from dying early and speeds up training), no batch
norm in D (it would couple real and fake samples within a batch), and no dropout
in D (toy sets are large relative to D, so it rarely overfits; raise it for small
image sets).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from gankit.models.layers import (
    GaussianNoise,
    check_dropout,
    check_flat_or_image_shape,
    check_int,
    numel,
    reject_labels,
)
from gankit.models.tricks import make_activation


class MLPGenerator(nn.Module):
    """`G(z [N, z_dim]) -> x [N, *out_shape]`; images in [-1, 1], vectors unbounded."""

    def __init__(
        self,
        z_dim: int,
        out_shape: Sequence[int],
        width: int,
        hidden_layers: int = 3,
        batchnorm: bool = True,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        check_int("width", width, 1)
        check_int("hidden_layers", hidden_layers, 1)
        check_dropout(dropout)
        self.z_dim = z_dim
        self.out_shape = check_flat_or_image_shape(out_shape, "mlp")
        layers: list[nn.Module] = []
        fan_in = z_dim
        for _ in range(hidden_layers):
            # The bias is redundant when batch norm's shift follows.
            layers.append(nn.Linear(fan_in, width, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(make_activation(activation))
            if dropout > 0:
                # pix2pix-style noise: dropout in G, active whenever G is in train mode.
                layers.append(nn.Dropout(dropout))
            fan_in = width
        layers.append(nn.Linear(fan_in, numel(self.out_shape)))
        if len(self.out_shape) == 3:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        reject_labels(c, "mlp")
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """`D(x [N, *in_shape]) -> raw scores [N]`, higher = more real.

    `input_noise` / `noise`: std of Gaussian noise added (in training mode) to the input / to each
    later layer's input (hidden and head), as in Salimans et al.'s semi-supervised D; 0 = off.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        width: int,
        hidden_layers: int = 3,
        dropout: float = 0.0,
        activation: str = "lrelu",
        input_noise: float = 0.0,
        noise: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("width", width, 1)
        check_int("hidden_layers", hidden_layers, 1)
        check_dropout(dropout)
        self.in_shape = check_flat_or_image_shape(in_shape, "mlp")
        layers: list[nn.Module] = [GaussianNoise(input_noise)] if input_noise > 0 else []
        fan_in = numel(self.in_shape)
        for _ in range(hidden_layers):
            layers += [nn.Linear(fan_in, width), make_activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            if noise > 0:  # noise on the input of every later layer, the score/class head included
                layers.append(GaussianNoise(noise))
            fan_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(fan_in, 1)
        # Each sample's score depends on that sample alone and no layer draws random numbers, so the
        # trainer may score real and fake batches in one call (fewer ops; same scores).
        self.scores_samples_independently = dropout == 0 and input_noise == 0 and noise == 0

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The representation the score layer reads: `[N, width]`."""
        reject_labels(c, "mlp")
        return self.body(x.reshape(x.shape[0], -1))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c)).squeeze(1)
