"""Mode counting: the PacGAN / VEEGAN protocol for 2-D Gaussian mixtures, and class
histograms for image data judged by a classifier (including stacked MNIST-style labels).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics.fid import ArrayLike

HQ_STDS = 3.0  # a sample is high-quality within this many standard deviations of its mode


def _as_tensor(x: ArrayLike, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _kl_to_reference(q: torch.Tensor, p: torch.Tensor) -> float:
    """KL(q || p) for probability vectors; terms with q = 0 contribute 0, q > 0 = p gives inf."""
    mask = q > 0
    return float((q[mask] * (q[mask].log() - p[mask].log())).sum())


def mode_metrics(samples: ArrayLike, centers: ArrayLike, std: float) -> dict:
    """Mode coverage and quality of 2-D `samples` `[N, 2]` for a mixture with `centers` `[K, 2]`.

    The rule (PacGAN, Lin et al. 2018, after VEEGAN): each sample is assigned to its nearest
    mode center (Euclidean). It is high-quality (hq) if its Euclidean distance to that center
    is <= 3 * `std`. A mode is covered if it receives at least one hq sample.
    `reverse_kl` = KL(q || uniform over K modes), where q is the histogram of hq samples over
    the modes, normalised; modes with zero count contribute 0; it is 0 for perfectly even
    coverage and log K when every hq sample sits in one mode. If there are no hq samples at all,
    `reverse_kl` is log K (treated as fully collapsed, the worst value the metric can take).
    The protocol draws N = 2,500 samples (the caller draws them).

    Returns dict(modes: int covered, num_modes: K, hq_fraction: float in [0, 1],
    reverse_kl: float in [0, log K], counts: list of K ints, hq samples per mode).
    Fraction of hq samples expected from the true mixture: 1 - exp(-4.5) = 0.9889.
    """
    x = _as_tensor(samples, torch.float64)
    c = _as_tensor(centers, torch.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise GankitError(f"samples must be a non-empty [N, 2] array, got shape {tuple(x.shape)}")
    if c.ndim != 2 or c.shape[1] != 2 or len(c) == 0:
        raise GankitError(f"centers must be a non-empty [K, 2] array, got shape {tuple(c.shape)}")
    if not std > 0:
        raise GankitError(f"std must be > 0, got {std}")
    if not torch.isfinite(x).all():
        raise GankitError("samples contain NaN or inf; the generator has diverged")
    num_modes = len(c)
    nearest_dist, nearest = torch.cdist(x, c).min(dim=1)
    hq = nearest_dist <= HQ_STDS * std
    counts = torch.bincount(nearest[hq], minlength=num_modes)
    n_hq = int(counts.sum())
    if n_hq == 0:
        reverse_kl = math.log(num_modes)
    else:
        q = counts.double() / n_hq
        reverse_kl = _kl_to_reference(q, torch.full_like(q, 1.0 / num_modes))
    return {
        "modes": int((counts > 0).sum()),
        "num_modes": num_modes,
        "hq_fraction": n_hq / len(x),
        "reverse_kl": reverse_kl,
        "counts": [int(v) for v in counts],
    }


def class_histogram_metrics(pred_labels: ArrayLike, real_label_distribution: ArrayLike) -> dict:
    """Class coverage of generated images, judged by a classifier's predicted labels.

    pred_labels: `[N]` ints in 0..K-1 (the classifier's argmax on generated images).
    real_label_distribution: `[K]` non-negative class frequencies of the real data (counts or
    probabilities; normalised here). K is its length.
    Returns dict(classes_covered: classes with >= 1 predicted sample, num_classes: K,
    class_kl: KL(generated histogram || real distribution), counts: list of K ints).
    The direction is generated-to-real (the "reverse" KL, as in `mode_metrics`): classes the
    generator never produces contribute 0, so it grows as the mass concentrates on few classes,
    and it is inf when the generator produces a class with zero real frequency.
    """
    labels = _as_tensor(pred_labels, torch.int64)
    p = _as_tensor(real_label_distribution, torch.float64)
    if p.ndim != 1 or len(p) == 0 or (p < 0).any() or p.sum() <= 0:
        raise GankitError("real_label_distribution must be a non-empty [K] vector of non-negative frequencies")
    if labels.ndim != 1 or len(labels) == 0:
        raise GankitError(f"pred_labels must be a non-empty [N] vector, got shape {tuple(labels.shape)}")
    num_classes = len(p)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise GankitError(f"pred_labels must lie in 0..{num_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
    counts = torch.bincount(labels, minlength=num_classes)
    q = counts.double() / len(labels)
    return {
        "classes_covered": int((counts > 0).sum()),
        "num_classes": num_classes,
        "class_kl": _kl_to_reference(q, p / p.sum()),
        "counts": [int(v) for v in counts],
    }


def stacked_labels(digit_labels: ArrayLike, base: int = 10) -> torch.Tensor:
    """Combine per-channel class labels `[N, C]` into one label `[N]` in 0..base^C - 1
    (stacked MNIST: 3 digits give 1,000 modes, label = 100*d0 + 10*d1 + d2)."""
    d = _as_tensor(digit_labels, torch.int64)
    if d.ndim != 2:
        raise GankitError(f"digit_labels must be [N, C], got shape {tuple(d.shape)}")
    weights = base ** torch.arange(d.shape[1] - 1, -1, -1, dtype=torch.int64)
    return (d * weights).sum(dim=1)
