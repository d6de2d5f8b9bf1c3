"""Translation metrics (gankit.metrics.translation) against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.translation import l1_per_image, mean_finite, psnr, ssim


def _images(n=3, c=1, h=28, w=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g) * 2 - 1


def _ssim_bruteforce(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two 2-D arrays in [0, 1], written from the paper's formulas with an explicit 2-D
    window at every valid position (independent of the separable conv in gankit)."""
    k, sigma = 11, 1.5
    r = np.arange(k) - (k - 1) / 2
    g = np.exp(-(r ** 2) / (2 * sigma ** 2))
    win = np.outer(g, g)
    win /= win.sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for i in range(a.shape[0] - k + 1):
        for j in range(a.shape[1] - k + 1):
            pa, pb = a[i:i + k, j:j + k], b[i:i + k, j:j + k]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va, vb = (win * (pa - ma) ** 2).sum(), (win * (pb - mb) ** 2).sum()
            cov = (win * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_l1_and_psnr_of_a_constant_offset():
    x = _images()
    y = x + 0.2  # 0.1 on the [0, 1] scale -> MSE 0.01 -> 20 dB
    assert torch.allclose(l1_per_image(x, y), torch.full((3,), 0.2, dtype=torch.float64))
    assert torch.allclose(psnr(x, y), torch.full((3,), 20.0, dtype=torch.float64))
    assert psnr(x, y).shape == (3,)


def test_psnr_per_image_and_identical_is_inf():
    x = torch.zeros(2, 3, 8, 8)
    y = x.clone()
    y[1] += 0.02  # 0.01 on [0, 1] -> MSE 1e-4 -> 40 dB
    p = psnr(x, y)
    assert math.isinf(p[0]) and p[0] > 0
    assert p[1].item() == pytest.approx(40.0)
    assert mean_finite(p) == pytest.approx(40.0)


def test_ssim_identical_is_one_and_noise_is_lower():
    x = _images(c=3)
    assert torch.allclose(ssim(x, x), torch.ones(3, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    light = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    heavy = (x + 0.5 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    s_light, s_heavy = ssim(x, light), ssim(x, heavy)
    assert (s_light < 1).all() and (s_heavy < s_light).all()


def test_ssim_is_symmetric():
    x, y = _images(seed=0), _images(seed=1)
    assert torch.allclose(ssim(x, y), ssim(y, x))


def test_ssim_of_constant_images_is_the_luminance_term():
    # sigma = cov = 0, so SSIM = (2 ab + C1) / (a^2 + b^2 + C1) exactly.
    x = torch.full((1, 1, 16, 16), 0.0)   # 0.5 on [0, 1]
    y = torch.full((1, 1, 16, 16), 0.2)   # 0.6 on [0, 1]
    c1 = 1e-4
    expected = (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1)
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-9)


def test_ssim_matches_bruteforce_formula_on_28x28():
    x, y = _images(n=1, seed=2), _images(n=1, seed=3)
    y = 0.7 * x + 0.3 * y  # correlated, so every term matters
    a = ((x[0, 0].double() + 1) / 2).numpy()
    b = ((y[0, 0].double() + 1) / 2).numpy()
    assert ssim(x, y).item() == pytest.approx(_ssim_bruteforce(a, b), abs=1e-10)


def test_ssim_rgb_is_mean_over_channels():
    x, y = _images(n=2, c=3, h=20, w=24, seed=4), _images(n=2, c=3, h=20, w=24, seed=5)
    per_channel = torch.stack([ssim(x[:, i:i + 1], y[:, i:i + 1]) for i in range(3)], 1)
    assert torch.allclose(ssim(x, y), per_channel.mean(1))


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(GankitError, match="same shape"):
        psnr(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(GankitError, match="at least 11"):
        ssim(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 7, 7))


def test_no_gradients_and_inputs_untouched():
    x = _images().requires_grad_(True)
    y = _images(seed=9)
    before = x.detach().clone()
    for fn in (l1_per_image, psnr, ssim):
        out = fn(x, y)
        assert not out.requires_grad
    assert torch.equal(x.detach(), before)
