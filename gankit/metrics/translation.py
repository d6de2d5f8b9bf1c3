"""Per-image metrics for image-to-image translation (pix2pix, CycleGAN, SRGAN).

Every function takes two image batches `x`, `y` of the same shape `[N, C, H, W]` in [-1, 1]
(gankit's image convention) and returns one score per image, a float64 tensor `[N]` on x's
device. They are pure functions of their inputs: no gradients are recorded, nothing is
resized or clamped, and the arguments are never modified.

- `l1_per_image`: mean absolute difference on the [-1, 1] scale (the pix2pix L1 term), in [0, 2].
- `psnr`: peak signal-to-noise ratio in dB, computed on the [0, 1] scale with data range 1.
- `ssim`: structural similarity (Wang et al. 2004) on the [0, 1] scale, in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gankit.errors import GankitError

# SSIM constants of Wang, Bovik, Sheikh and Simoncelli (2004), "Image quality assessment:
# from error visibility to structural similarity", section III-C.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(x: torch.Tensor, y: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or x.shape != y.shape:
        raise GankitError(f"{name} needs two image batches [N, C, H, W] of the same shape, "
                          f"got {tuple(x.shape)} and {tuple(y.shape)}")


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] in float64 (float64 so PSNR of near-identical images stays exact)."""
    return (x.detach().to(torch.float64) + 1.0) / 2.0


@torch.no_grad()
def l1_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image, `[N]` in [0, 2], of `x`, `y` `[N, C, H, W]` in [-1, 1].

    Measured on the [-1, 1] scale (the scale of pix2pix's L1 loss), averaged over C, H and W.
    """
    _check_pair(x, y, "l1_per_image")
    return (x.detach().to(torch.float64) - y.detach().to(torch.float64)).abs().flatten(1).mean(1)


@torch.no_grad()
def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, `[N]`, of `x`, `y` `[N, C, H, W]` in [-1, 1].

    Both are mapped to [0, 1] and PSNR = 10 log10(1 / MSE) with data range 1, the MSE averaged
    over C, H and W of each image. Higher is better. Identical images have MSE 0 and give
    `+inf` (not capped: average PSNR over images that are not identical, or report the
    count of infinite values separately).
    """
    _check_pair(x, y, "psnr")
    mse = (_to_unit(x) - _to_unit(y)).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)  # 1 / 0 = inf -> +inf dB, as documented


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian `[size]` centred on the middle tap."""
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of `[N, C, H, W]` per channel -> `[N, C, H-k+1, W-k+1]`.

    'Valid' (no padding) as in the authors' reference implementation, so no border values are invented.
    """
    c, k = x.shape[1], window.numel()
    wh = window.view(1, 1, k, 1).expand(c, 1, k, 1)
    ww = window.view(1, 1, 1, k).expand(c, 1, 1, k)
    return F.conv2d(F.conv2d(x, wh, groups=c), ww, groups=c)


@torch.no_grad()
def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image, `[N]` in [-1, 1], of `x`, `y` `[N, C, H, W]` in [-1, 1].

    Wang et al. (2004): images mapped to [0, 1] (data range L = 1), local statistics under an
    11x11 Gaussian window with sigma 1.5 (valid positions only, so H and W must be >= 11),
    C1 = (0.01 L)^2, C2 = (0.03 L)^2; the SSIM map is averaged over positions, then over
    channels (RGB: the mean of the three channels' SSIM). Symmetric in x and y; 1 exactly
    when x == y. A 28x28 image gives an 18x18 map.
    """
    _check_pair(x, y, "ssim")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise GankitError(f"ssim needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got "
                          f"{x.shape[-2]}x{x.shape[-1]}; compare at a higher resolution")
    a, b = _to_unit(x), _to_unit(y)
    window = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA, a.dtype, a.device)
    c1, c2 = (SSIM_K1 * 1.0) ** 2, (SSIM_K2 * 1.0) ** 2
    mu_a, mu_b = _blur(a, window), _blur(b, window)
    # Local (co)variances as E[ab] - E[a]E[b] under the window.
    var_a = _blur(a * a, window) - mu_a.pow(2)
    var_b = _blur(b * b, window) - mu_b.pow(2)
    cov = _blur(a * b, window) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a.pow(2) + mu_b.pow(2) + c1) * (var_a + var_b + c2)
    return (num / den).mean(dim=(2, 3)).mean(1)


def mean_finite(values: torch.Tensor) -> float:
    """Mean of the finite entries of `values` (e.g. PSNR with +inf for identical images); nan if none."""
    finite = values[torch.isfinite(values)]
    return float(finite.mean()) if finite.numel() else math.nan


__all__ = ["l1_per_image", "psnr", "ssim", "mean_finite", "SSIM_WINDOW", "SSIM_SIGMA", "SSIM_K1", "SSIM_K2"]
