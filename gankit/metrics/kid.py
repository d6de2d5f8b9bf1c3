"""Kernel Inception Distance (Binkowski et al., 2018): an unbiased estimate of the squared
MMD between two feature sets with the polynomial kernel k(x, y) = (x.y / d + 1)^degree.

Unlike FID it has no bias that depends on the sample size, so small-sample scores can be
compared; it is averaged over random subsets to bound the cost (quadratic in subset size).
"""

from __future__ import annotations

import numpy as np

from gankit.errors import GankitError
from gankit.metrics.fid import ArrayLike, as_features


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Unbiased MMD^2 of two equal-size float64 sets `[m, d]` with the polynomial kernel."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** degree
    k_yy = (y @ y.T / d + 1.0) ** degree
    k_xy = (x @ y.T / d + 1.0) ** degree
    # The unbiased estimator leaves out the diagonal k(x_i, x_i) terms of the within-set sums.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kid_from_features(
    f1: ArrayLike,
    f2: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    seed: int = 0,
) -> tuple[float, float]:
    """KID between features `f1` `[N1, F]` and `f2` `[N2, F]` (numpy or torch).

    For each of `subsets` rounds, draws `m = min(subset_size, N1, N2)` rows of each set
    without replacement (numpy `default_rng(seed)`) and computes the unbiased MMD^2.
    Returns `(mean, std)` over the rounds. The mean can be slightly negative when the two
    sets come from the same distribution (the estimator is unbiased, not clipped).
    """
    x1, x2 = as_features(f1, "f1"), as_features(f2, "f2")
    if x1.shape[1] != x2.shape[1]:
        raise GankitError(
            f"feature sizes differ ({x1.shape[1]} vs {x2.shape[1]}); extract both with the same network"
        )
    if subsets < 1 or subset_size < 2 or degree < 1:
        raise GankitError(
            f"need subsets >= 1, subset_size >= 2 and degree >= 1, got {subsets}, {subset_size}, {degree}"
        )
    m = min(subset_size, len(x1), len(x2))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        a = x1[rng.choice(len(x1), m, replace=False)]
        b = x2[rng.choice(len(x2), m, replace=False)]
        values[i] = _unbiased_mmd2(a, b, degree)
    return float(values.mean()), float(values.std())
