"""Metric maths against closed forms and direct computations (features are random numbers)."""

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.errors import GankitError
from gankit.metrics import (
    METRIC_INPUTS,
    METRICS,
    class_histogram_metrics,
    feature_statistics,
    fid_bootstrap,
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    mode_metrics,
    prdc,
    stacked_labels,
)


def _gaussian(n, f, seed, shift=0.0, scale=1.0):
    # A fixed mixing matrix correlates the features (like a real network's); the seed only
    # changes the draw, so equal shift/scale means the same distribution.
    mix = np.random.default_rng(1234).normal(size=(f, f)) / math.sqrt(f)
    return np.random.default_rng(seed).normal(size=(n, f)) @ mix * scale + shift


def _scipy_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_scipy_sqrtm():
    a, b = _gaussian(500, 16, 0), _gaussian(400, 16, 1, shift=0.3, scale=1.5)
    ours, ref = fid_from_features(a, b), _scipy_fid(a, b)
    assert ref > 0.1
    assert abs(ours - ref) / ref < 1e-6


def test_fid_accepts_torch_float32():
    a, b = _gaussian(300, 8, 2), _gaussian(300, 8, 3, shift=1.0)
    ours = fid_from_features(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    assert ours == pytest.approx(_scipy_fid(a, b), rel=1e-4)


def test_fid_of_identical_sets_is_zero():
    a = _gaussian(1000, 32, 4)
    assert abs(fid_from_features(a, a.copy())) < 1e-6


def test_frechet_distance_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)


def test_fid_warns_when_fewer_samples_than_features():
    a, b = _gaussian(20, 64, 5), _gaussian(20, 64, 6)
    with pytest.warns(UserWarning, match="samples"):
        fid_from_features(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feature_statistics(_gaussian(100, 8, 7))  # N >= F: no warning


def test_fid_rejects_bad_inputs():
    with pytest.raises(GankitError, match="feature sizes differ"):
        fid_from_features(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(GankitError, match="NaN"):
        fid_from_features(np.full((10, 3), np.nan), np.zeros((10, 3)))
    with pytest.raises(GankitError, match="2-D"):
        fid_from_features(np.zeros(10), np.zeros(10))


def test_fid_bootstrap_interval_brackets_the_spread():
    a, b = _gaussian(400, 4, 8), _gaussian(400, 4, 9, shift=0.5)
    low, high = fid_bootstrap(a, b, n_boot=50, seed=0)
    point = fid_from_features(a, b)
    assert low < high
    assert low < point * 1.5 and high > point * 0.5
    assert fid_bootstrap(a, b, n_boot=50, seed=0) == (low, high)  # seeded


def test_kid_near_zero_for_same_distribution_and_positive_for_shift():
    a, b = _gaussian(600, 16, 10), _gaussian(600, 16, 11)
    mean, std = kid_from_features(a, b, subsets=20, subset_size=300)
    assert abs(mean) < max(3 * std, 1e-3)
    shifted_mean, shifted_std = kid_from_features(a, b + 1.0, subsets=20, subset_size=300)
    assert shifted_mean > 0.1 and shifted_mean > 10 * shifted_std


def test_kid_subset_size_capped_and_seeded():
    a, b = _gaussian(50, 4, 12), _gaussian(40, 4, 13, shift=2.0)
    assert kid_from_features(a, b, subsets=5, subset_size=1000) == kid_from_features(a, b, subsets=5)
    assert kid_from_features(a, b, subsets=5)[0] > 0


def test_inception_score_bounds():
    k = 10
    constant = np.tile(np.random.default_rng(0).normal(size=(1, k)), (200, 1))
    assert inception_score_from_logits(constant, splits=4)[0] == pytest.approx(1.0, abs=1e-9)
    confident = 50.0 * np.eye(k)[np.arange(200) % k]  # each split holds every class equally
    mean, std = inception_score_from_logits(torch.from_numpy(confident), splits=4)
    assert mean == pytest.approx(k, rel=1e-6)
    assert std < 1e-6


def test_prdc_identical_and_disjoint():
    a = _gaussian(300, 8, 14)
    same = prdc(a, a.copy(), k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    # Each point lies in its own ball and its k neighbours' balls (no ties in random data):
    # about (k + 1) / k on average, and exactly that when the k-NN relation is symmetric.
    assert 1.0 < same["density"] < 1.5
    far = prdc(a, a + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_chunking_does_not_change_results():
    a, b = _gaussian(257, 6, 15), _gaussian(199, 6, 16, shift=0.4)
    assert prdc(a, b, k=3, chunk_size=1000) == prdc(a, b, k=3, chunk_size=17)


def test_prdc_precision_drops_for_fake_outliers_while_recall_stays():
    real = _gaussian(400, 4, 17)
    fake = real.copy()
    fake[::2] += 50.0  # every other fake far from the data; the rest still span it
    scores = prdc(real, fake, k=5)
    assert scores["precision"] == pytest.approx(0.5, abs=0.01)
    assert scores["recall"] > 0.9 and scores["coverage"] > 0.9


def test_mode_metrics_true_grid_statistics():
    from gankit.data import make_toy

    grid = make_toy("grid")
    points, _ = grid.sample(20_000, torch.Generator().manual_seed(0))
    out = mode_metrics(points, grid.centers, grid.std)
    assert out["modes"] == 25 and out["num_modes"] == 25
    assert out["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert out["reverse_kl"] < 0.01
    assert sum(out["counts"]) == round(out["hq_fraction"] * 20_000)


def test_mode_metrics_single_mode_collapse():
    centers = torch.tensor([[-4.0, 0.0], [0.0, 0.0], [4.0, 0.0]])
    points = torch.tensor([4.0, 0.0]) + 0.05 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    out = mode_metrics(points, centers, std=0.05)
    assert out["modes"] == 1
    assert out["counts"][:2] == [0, 0]
    assert out["reverse_kl"] == pytest.approx(math.log(3))


def test_mode_metrics_hand_values_and_no_hq():
    centers = np.array([[0.0, 0.0], [10.0, 0.0]])
    # distances 0.2 (hq), 0.4 (not hq: > 3 * 0.1), 0.1 (hq, mode 1)
    samples = np.array([[0.2, 0.0], [0.0, 0.4], [10.1, 0.0]])
    out = mode_metrics(samples, centers, std=0.1)
    assert out["counts"] == [1, 1] and out["modes"] == 2
    assert out["hq_fraction"] == pytest.approx(2 / 3)
    assert out["reverse_kl"] == pytest.approx(0.0)
    none = mode_metrics(np.array([[5.0, 5.0]]), centers, std=0.1)
    assert none["modes"] == 0 and none["reverse_kl"] == pytest.approx(math.log(2))
    with pytest.raises(GankitError, match=r"\[N, 2\]"):
        mode_metrics(np.zeros((3, 3)), centers, std=0.1)


def test_class_histogram_metrics_hand_values():
    out = class_histogram_metrics(np.array([0, 0, 0, 1]), np.array([1.0, 1.0, 2.0]))
    q = np.array([0.75, 0.25])
    p = np.array([0.25, 0.25])
    assert out["classes_covered"] == 2 and out["num_classes"] == 3 and out["counts"] == [3, 1, 0]
    assert out["class_kl"] == pytest.approx(float((q * np.log(q / p)).sum()))
    assert class_histogram_metrics(torch.arange(4), torch.ones(4))["class_kl"] == pytest.approx(0.0)
    assert class_histogram_metrics([2], [1.0, 1.0, 0.0])["class_kl"] == math.inf
    with pytest.raises(GankitError, match="0..2"):
        class_histogram_metrics([3], [1.0, 1.0, 1.0])


def test_stacked_labels():
    assert stacked_labels(np.array([[1, 2, 3], [9, 0, 9]])).tolist() == [123, 909]


def test_registry_calls_every_metric_with_its_declared_inputs():
    real, fake = _gaussian(60, 4, 18), _gaussian(60, 4, 19, shift=0.5)
    inputs = {
        "real_features": real, "fake_features": fake, "fake_logits": fake,
        "samples": np.zeros((10, 2)), "centers": np.zeros((1, 2)), "std": 0.1,
    }
    assert set(METRICS) == {"fid", "kid", "is", "prdc", "modes"} == set(METRIC_INPUTS)
    out = {}
    for name, fn in METRICS.items():
        out.update(fn(**{key: inputs[key] for key in METRIC_INPUTS[name]}))
    assert out["fid"] == pytest.approx(fid_from_features(real, fake))
    assert {"kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage", "modes"} <= set(out)
    assert out["modes"] == 1
