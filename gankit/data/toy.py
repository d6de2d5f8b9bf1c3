"""2-D Gaussian mixtures used to study mode collapse (PacGAN / VEEGAN benchmarks).

Points are raw 2-D coordinates `[N, 2]` and are NOT scaled to `[-1, 1]`: the grid spans
about `[-4, 4]`, so a generator for it must not end in `tanh` (or must be scaled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from gankit.errors import GankitError


@dataclass
class ToyMixture:
    """An equal-weight mixture of isotropic Gaussians in 2-D.

    centers: `[K, 2]` float32 mode means; std: standard deviation of every mode.
    """

    name: str
    centers: torch.Tensor
    std: float

    @property
    def num_modes(self) -> int:
        return int(self.centers.shape[0])

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw `n` points: (points `[n, 2]` float32, mode index `[n]` int64, uniform over modes).

        All randomness comes from `generator` (a CPU generator), so draws are reproducible.
        """
        modes = torch.randint(0, self.num_modes, (n,), generator=generator, dtype=torch.int64)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float32)
        points = self.centers[modes] + self.std * noise
        return points, modes


def ring() -> ToyMixture:
    """8 modes equally spaced on the unit circle, the first at angle 0; std 0.01."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centers = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).to(torch.float32)
    return ToyMixture(name="ring", centers=centers, std=0.01)


def grid() -> ToyMixture:
    """25 modes at `{-4, -2, 0, 2, 4}^2` (row-major in x then y); std 0.05."""
    coords = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    centers = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1).to(torch.float32)
    return ToyMixture(name="grid", centers=centers, std=0.05)


TOY_MIXTURES: dict[str, Callable[[], ToyMixture]] = {"ring": ring, "grid": grid}


def make_toy(name: str) -> ToyMixture:
    """Build the toy mixture called `name` (a key of `TOY_MIXTURES`)."""
    if name not in TOY_MIXTURES:
        valid = ", ".join(sorted(TOY_MIXTURES))
        raise GankitError(f"unknown toy dataset {name!r}; choose one of: {valid}")
    return TOY_MIXTURES[name]()
