"""The original GAN networks (Goodfellow et al. 2014, "Generative Adversarial Nets").

Generator: `hidden_layers` fully connected ReLU layers of `width` units, then a
linear layer; for images its output goes through a sigmoid, as in the paper,
mapped to gankit's range by `2 * sigmoid(h) - 1` (range (-1, 1)). Vectors such as
2-D toy points get a linear output.

Discriminator: the input flattened, `hidden_layers` maxout layers (`pieces`
linear pieces per unit) each followed by dropout (p = 0.5 as in the paper), then
a linear layer to one raw score (the paper's sigmoid lives in the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gankit.models.layers import (
    Maxout,
    check_dropout,
    check_flat_or_image_shape,
    check_int,
    numel,
    reject_labels,
)


class GAN2014Generator(nn.Module):
    """`G(z [N, z_dim]) -> x [N, *out_shape]`; images in (-1, 1), vectors unbounded."""

    def __init__(
        self,
        z_dim: int,
        out_shape: Sequence[int],
        width: int,
        hidden_layers: int = 2,
    ) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        check_int("width", width, 1)
        check_int("hidden_layers", hidden_layers, 1)
        self.z_dim = z_dim
        self.out_shape = check_flat_or_image_shape(out_shape, "gan2014")
        layers: list[nn.Module] = []
        fan_in = z_dim
        for _ in range(hidden_layers):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, numel(self.out_shape)))
        self.net = nn.Sequential(*layers)
        self.bounded = len(self.out_shape) == 3

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        reject_labels(c, "gan2014")
        h = self.net(z)
        if self.bounded:
            h = 2.0 * torch.sigmoid(h) - 1.0
        return h.view(z.shape[0], *self.out_shape)


class GAN2014Discriminator(nn.Module):
    """`D(x [N, *in_shape]) -> raw scores [N]`, higher = more real."""

    def __init__(
        self,
        in_shape: Sequence[int],
        width: int,
        hidden_layers: int = 2,
        pieces: int = 5,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_int("width", width, 1)
        check_int("hidden_layers", hidden_layers, 1)
        # One piece would make maxout a plain linear layer: D would be linear.
        check_int("pieces", pieces, 2)
        check_dropout(dropout)
        self.in_shape = check_flat_or_image_shape(in_shape, "gan2014")
        layers: list[nn.Module] = []
        fan_in = numel(self.in_shape)
        for _ in range(hidden_layers):
            layers.append(Maxout(fan_in, width, pieces))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            fan_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(fan_in, 1)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The representation the score layer reads (after dropout in train mode): `[N, width]`."""
        reject_labels(c, "gan2014")
        return self.body(x.reshape(x.shape[0], -1))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c)).squeeze(1)
