"""Frechet distance between Gaussian fits of two feature sets (FID when the features are
Inception pool features; "domain FID" when they come from a gankit domain classifier).

    FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr( (S1^1/2 S2 S1^1/2)^1/2 )

All maths is float64. The trace term uses the eigenvalues of the symmetric PSD matrix
S1^1/2 S2 S1^1/2, so no complex numbers appear (a general `sqrtm` of S1 S2 can return
complex parts from rounding when the matrices are near-singular). The maths is kept apart
from feature extraction so that it can be tested on random features.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from gankit.errors import GankitError

ArrayLike = np.ndarray | torch.Tensor


def _to_float64(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def as_features(x: ArrayLike, name: str = "features") -> np.ndarray:
    """Convert a numpy array or torch tensor `[N, F]` into a float64 numpy array.

    Raises GankitError when `x` is not 2-D, has fewer than 2 rows or holds non-finite values.
    """
    x = _to_float64(x)
    if x.ndim != 2:
        raise GankitError(f"{name} must be a 2-D array [N, F], got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise GankitError(f"{name} needs at least 2 rows to estimate a covariance, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise GankitError(f"{name} contain NaN or inf; check the generator output for divergence")
    return x


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean `[F]` and unbiased covariance `[F, F]` (float64) of `features` `[N, F]`.

    Warns when N < F: the covariance is then singular and FID is dominated by estimation
    noise, so scores from such small samples are not comparable with larger ones.
    """
    x = as_features(features)
    n, f = x.shape
    if n < f:
        warnings.warn(
            f"only {n} samples for {f}-dimensional features: the covariance is singular and "
            f"FID is unreliable; use at least {f} samples",
            stacklevel=2,
        )
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (n - 1)
    return mu, sigma


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; tiny negative eigenvalues (rounding)
    are clipped to 0."""
    vals, vecs = np.linalg.eigh(sigma)
    vals = np.sqrt(np.clip(vals, 0.0, None))
    return (vecs * vals) @ vecs.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu1, mu2: `[F]`; sigma1, sigma2: `[F, F]` symmetric PSD covariances. Returns a float >= 0
    (a result of about -1e-12 from rounding is returned as 0.0).
    """
    mu1, mu2, s1, s2 = (_to_float64(a) for a in (mu1, mu2, sigma1, sigma2))
    f = mu1.shape[0]
    if mu1.shape != (f,) or mu2.shape != (f,) or s1.shape != (f, f) or s2.shape != (f, f):
        raise GankitError(
            f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}; "
            "both sets must use the same feature network"
        )
    # Symmetrise first: covariances computed in float32 elsewhere may be slightly asymmetric.
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    eigs = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_cross = np.sqrt(np.clip(eigs, 0.0, None)).sum()
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_cross)
    return max(value, 0.0)


def fid_from_features(f1: ArrayLike, f2: ArrayLike) -> float:
    """FID between two feature sets `[N1, F]` and `[N2, F]` (numpy or torch, any float dtype).

    Warns when a set has fewer samples than feature dimensions (see `feature_statistics`).
    """
    x1, x2 = as_features(f1, "f1"), as_features(f2, "f2")
    if x1.shape[1] != x2.shape[1]:
        raise GankitError(
            f"feature sizes differ ({x1.shape[1]} vs {x2.shape[1]}); extract both with the same network"
        )
    mu1, s1 = feature_statistics(x1)
    mu2, s2 = feature_statistics(x2)
    return frechet_distance(mu1, s1, mu2, s2)


def fid_bootstrap(
    f1: ArrayLike, f2: ArrayLike, n_boot: int = 100, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval `(low, high)` for FID between `f1` `[N1, F]` and `f2` `[N2, F]`.

    Each of `n_boot` rounds resamples the rows of both sets with replacement (numpy
    `default_rng(seed)`) and recomputes FID. Resampling duplicates rows, which lowers the
    effective sample size, so bootstrap FIDs sit a little above the point estimate: read the
    interval as the spread due to the finite samples, not as a bias correction.
    """
    if n_boot < 2:
        raise GankitError(f"n_boot must be >= 2, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise GankitError(f"confidence must be in (0, 1), got {confidence}")
    x1, x2 = as_features(f1, "f1"), as_features(f2, "f2")
    if x1.shape[1] != x2.shape[1]:
        raise GankitError(
            f"feature sizes differ ({x1.shape[1]} vs {x2.shape[1]}); extract both with the same network"
        )
    rng = np.random.default_rng(seed)
    scores = np.empty(n_boot)
    with warnings.catch_warnings():
        # The N < F warning, if it applies, was already worth one message, not n_boot.
        warnings.simplefilter("ignore")
        for i in range(n_boot):
            b1 = x1[rng.integers(0, len(x1), len(x1))]
            b2 = x2[rng.integers(0, len(x2), len(x2))]
            scores[i] = fid_from_features(b1, b2)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)
