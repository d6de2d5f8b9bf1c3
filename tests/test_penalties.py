"""Gradient penalties against gradients worked out by hand on a linear D."""

import pytest
import torch
from torch import nn

from gankit.penalties import r1, wgan_gp


class LinearD(nn.Module):
    """D(x) = w . x: its input gradient is w for every sample, so penalties have closed forms."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x, c=None):
        return x.flatten(1) @ self.w


class QuadraticD(nn.Module):
    """D(x) = sum(x^2): input gradient 2x, which depends on where it is taken."""

    def forward(self, x, c=None):
        return (x**2).flatten(1).sum(1)


def test_wgan_gp_on_linear_d_is_closed_form():
    w = torch.tensor([3.0, 4.0])  # ||w|| = 5 everywhere
    D = LinearD(w)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert wgan_gp(D, real, fake).item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-6)


def test_wgan_gp_uses_one_alpha_per_sample_on_the_segment():
    """With D = sum(x^2), grad = 2 x_hat; reproduce x_hat from the same RNG draw."""
    D = QuadraticD()
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, -2.0]])
    torch.manual_seed(0)
    got = wgan_gp(D, real, fake).item()
    torch.manual_seed(0)
    alpha = torch.rand(2, 1)
    x_hat = alpha * real + (1 - alpha) * fake
    expected = ((2 * x_hat).norm(dim=1) - 1).pow(2).mean().item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_wgan_gp_is_differentiable_in_d_params():
    D = LinearD(torch.tensor([3.0, 4.0]))
    wgan_gp(D, torch.randn(4, 2), torch.randn(4, 2)).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * [0.6, 0.8]
    assert torch.allclose(D.w.grad, torch.tensor([4.8, 6.4]), atol=1e-5)


def test_r1_on_quadratic_d():
    D = QuadraticD()
    real = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    # 0.5 * ||2x||^2 averaged: 0.5 * (4*5 + 4*9) / 2 = 14
    assert r1(D, real, real).item() == pytest.approx(14.0)
