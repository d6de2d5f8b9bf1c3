"""Layers and small helpers shared by the model families.

Also holds the argument checks every constructor uses, so that every family
reports a bad value with the same one-line `GankitError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gankit.errors import GankitError


class Maxout(nn.Module):
    """Maxout unit (Goodfellow et al. 2013): `pieces` linear maps, keep the largest.

    Input `[N, in_features]`, output `[N, out_features]`, unbounded. Output unit j
    is `max_k (W_jk x + b_jk)` over k = 0..pieces-1.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        check_int("pieces", pieces, 1)
        self.in_features = in_features
        self.out_features = out_features
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear(x)
        # Row j*pieces + k of the linear weight is piece k of unit j.
        return h.view(x.shape[0], self.out_features, self.pieces).amax(dim=2)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2015), applied in place to every submodule.

    Conv, transposed-conv and linear weights ~ N(0, 0.02); batch-norm weights
    ~ N(1, 0.02); every bias 0. Use as `model.apply(init_dcgan_weights)`.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if module.weight is not None:
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)


def reject_labels(c: Tensor | None, family: str) -> None:
    """Raise if class labels reach an unconditional model (they would be silently ignored)."""
    if c is not None:
        raise GankitError(
            f"the {family} model is unconditional but class labels c were given; "
            "pass c=None or choose a class-conditional model"
        )


def check_int(name: str, value: object, minimum: int) -> None:
    """Raise unless `value` is an int (not a bool) that is at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GankitError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_dropout(value: object) -> None:
    """Raise unless `value` is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise GankitError(f"dropout must be a number in [0, 1), got {value!r}")


def as_shape(shape: Sequence[int], what: str) -> tuple[int, ...]:
    """Return `shape` as a tuple of positive ints, or raise naming `what` (e.g. "out_shape")."""
    try:
        items = tuple(shape)
    except TypeError:
        raise GankitError(f"{what} must be a tuple of positive integers, got {shape!r}") from None
    if not items or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in items):
        raise GankitError(f"{what} must be a tuple of positive integers, got {shape!r}")
    return items


def check_flat_or_image_shape(shape: Sequence[int], family: str) -> tuple[int, ...]:
    """Shapes a fully connected family can build: vectors (D,) and images (C, H, W)."""
    items = as_shape(shape, "data shape")
    if len(items) not in (1, 3):
        raise GankitError(
            f"{family} cannot build data of shape {items}: it supports vectors (D,), "
            "e.g. (2,) for toy data, and images (C, H, W)"
        )
    return items


def numel(shape: tuple[int, ...]) -> int:
    """Number of values in one sample of `shape`."""
    return int(torch.Size(shape).numel())


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode only; the identity in eval mode. Shape unchanged.

    Salimans et al.'s semi-supervised D puts one before each layer: it regularises a D
    that would otherwise memorise the few labelled images.
    """

    def __init__(self, std: float) -> None:
        super().__init__()
        if std < 0:
            raise GankitError(f"noise std must be >= 0, got {std}")
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return x
        return x + self.std * torch.randn_like(x)
