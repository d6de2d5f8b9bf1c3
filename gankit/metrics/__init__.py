"""Metrics for generative models: maths on features (FID, KID, IS, PRDC), 2-D mode counting,
and the feature networks that produce the features (`gankit.metrics.features`).

`METRICS` maps a metric name to a function that takes keyword arguments only and returns a flat
dict of JSON-ready values, so an evaluation loop can call every metric the same way:

    inputs = {"real_features": ..., "fake_features": ..., "fake_logits": ...}   # as needed
    for name in ("fid", "kid"):
        scores.update(METRICS[name](**{k: inputs[k] for k in METRIC_INPUTS[name]}))

| name  | keyword inputs (`METRIC_INPUTS`)         | returns                                    |
|-------|------------------------------------------|--------------------------------------------|
| fid   | real_features [N, F], fake_features [M, F] | {"fid"}                                  |
| kid   | real_features, fake_features             | {"kid", "kid_std"}                         |
| is    | fake_logits [M, K]                       | {"is", "is_std"}                           |
| prdc  | real_features, fake_features             | {"precision", "recall", "density", "coverage"} |
| modes | samples [M, 2], centers [K, 2], std      | {"modes", "num_modes", "hq_fraction", "reverse_kl", "counts"} |

Features and logits may be numpy arrays or torch tensors; defaults are the documented
protocol values of the underlying functions (KID: 100 subsets of 1,000; IS: 10 splits; PRDC:
k = 5).
"""

from __future__ import annotations

from typing import Callable

from gankit.metrics.features import (
    DOMAIN_NETWORKS,
    DomainClassifier,
    InceptionNet,
    extract_features,
    feature_protocol,
    find_inception_file,
    load_domain_classifier,
    load_inception,
    train_domain_classifier,
)
from gankit.metrics.fid import ArrayLike, feature_statistics, fid_bootstrap, fid_from_features, frechet_distance
from gankit.metrics.inception_score import inception_score_from_logits
from gankit.metrics.kid import kid_from_features
from gankit.metrics.modes import class_histogram_metrics, mode_metrics, stacked_labels
from gankit.metrics.prdc import prdc


def _fid(*, real_features: ArrayLike, fake_features: ArrayLike) -> dict:
    return {"fid": fid_from_features(real_features, fake_features)}


def _kid(*, real_features: ArrayLike, fake_features: ArrayLike) -> dict:
    mean, std = kid_from_features(real_features, fake_features)
    return {"kid": mean, "kid_std": std}


def _is(*, fake_logits: ArrayLike) -> dict:
    mean, std = inception_score_from_logits(fake_logits)
    return {"is": mean, "is_std": std}


def _prdc(*, real_features: ArrayLike, fake_features: ArrayLike) -> dict:
    return prdc(real_features, fake_features)


def _modes(*, samples: ArrayLike, centers: ArrayLike, std: float) -> dict:
    return mode_metrics(samples, centers, std)


METRICS: dict[str, Callable[..., dict]] = {
    "fid": _fid,
    "kid": _kid,
    "is": _is,
    "prdc": _prdc,
    "modes": _modes,
}

METRIC_INPUTS: dict[str, tuple[str, ...]] = {
    "fid": ("real_features", "fake_features"),
    "kid": ("real_features", "fake_features"),
    "is": ("fake_logits",),
    "prdc": ("real_features", "fake_features"),
    "modes": ("samples", "centers", "std"),
}

__all__ = [
    "METRICS",
    "METRIC_INPUTS",
    "DOMAIN_NETWORKS",
    "DomainClassifier",
    "InceptionNet",
    "extract_features",
    "feature_protocol",
    "find_inception_file",
    "load_domain_classifier",
    "load_inception",
    "train_domain_classifier",
    "feature_statistics",
    "frechet_distance",
    "fid_from_features",
    "fid_bootstrap",
    "kid_from_features",
    "inception_score_from_logits",
    "prdc",
    "mode_metrics",
    "class_histogram_metrics",
    "stacked_labels",
]
