"""Precision, recall (Kynkaanniemi et al., 2019) and density, coverage (Naeem et al., 2020).

Each set's manifold is approximated by balls around its points, with radius the distance to
the point's k-th nearest neighbour in the same set (the point itself excluded):
- precision: fraction of fake points inside at least one real ball (fidelity);
- recall:    fraction of real points inside at least one fake ball (diversity);
- density:   mean number of real balls holding a fake point, divided by k (about 1 when the
             two distributions match; above 1 when fakes crowd dense real regions);
- coverage:  fraction of real balls holding at least one fake point (diversity, robust to
             fake outliers).
Distances are Euclidean, in float64, computed with `torch.cdist` on row chunks so memory
stays at `chunk_size x N` instead of `N x N`.
"""

from __future__ import annotations

import torch

from gankit.errors import GankitError
from gankit.metrics.fid import ArrayLike, as_features


def _tensor(x: ArrayLike, name: str) -> torch.Tensor:
    return torch.from_numpy(as_features(x, name))


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    """Distance from each row of `x` `[N, F]` to its k-th nearest other row: `[N]`."""
    radii = []
    for chunk in torch.split(x, chunk_size):
        dist = torch.cdist(chunk, x)
        # The k+1 smallest include the point itself at distance 0, hence index k.
        radii.append(dist.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def prdc(
    real_features: ArrayLike, fake_features: ArrayLike, k: int = 5, chunk_size: int = 1024
) -> dict[str, float]:
    """Precision, recall, density and coverage of fake features `[M, F]` against real `[N, F]`.

    Returns `dict(precision, recall, density, coverage)`; precision, recall and coverage are
    in [0, 1], density in [0, N/k]. Needs N > k and M > k.
    """
    real, fake = _tensor(real_features, "real_features"), _tensor(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise GankitError(
            f"feature sizes differ ({real.shape[1]} vs {fake.shape[1]}); extract both with the same network"
        )
    if k < 1 or len(real) <= k or len(fake) <= k:
        raise GankitError(f"need k >= 1 and more than k samples per set; got k={k}, {len(real)} real, {len(fake)} fake")
    real_radii = _kth_neighbour_radii(real, k, chunk_size)
    fake_radii = _kth_neighbour_radii(fake, k, chunk_size)

    # One pass over fake-vs-real distances serves all four scores.
    in_real_balls = []  # per fake point: how many real balls contain it
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)
    real_in_fake = torch.zeros(len(real), dtype=torch.bool)  # real point inside some fake ball?
    for chunk, radii in zip(torch.split(fake, chunk_size), torch.split(fake_radii, chunk_size)):
        dist = torch.cdist(chunk, real)  # [c, N]
        in_real_balls.append((dist <= real_radii[None, :]).sum(dim=1))
        nearest_fake = torch.minimum(nearest_fake, dist.min(dim=0).values)
        real_in_fake |= (dist <= radii[:, None]).any(dim=0)
    counts = torch.cat(in_real_balls)

    return {
        "precision": float((counts > 0).double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(counts.double().sum() / (k * len(fake))),
        "coverage": float((nearest_fake <= real_radii).double().mean()),
    }
