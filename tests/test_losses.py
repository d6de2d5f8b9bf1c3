"""Loss values against hand computations, and the sign conventions every pair must follow."""

import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.losses import LOSSES, get_loss

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def test_nonsaturating_values():
    d, g = get_loss("nonsaturating")
    expected_d = (sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2
    assert d(REAL, FAKE).item() == pytest.approx(expected_d, rel=1e-6)
    assert g(FAKE).item() == pytest.approx((sp(-0.5) + sp(3.0)) / 2, rel=1e-6)


def test_minimax_g_is_log_one_minus_d():
    _, g = get_loss("minimax")
    # log(1 - sigmoid(s)) = -softplus(s)
    expected = sum(math.log(1 - 1 / (1 + math.exp(-s))) for s in (0.5, -3.0)) / 2
    assert g(FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_softens_only_real_target():
    d, _ = get_loss("nonsaturating")
    y = 0.9
    real_part = sum(y * sp(-r) + (1 - y) * sp(r) for r in (2.0, -1.0)) / 2
    fake_part = (sp(0.5) + sp(-3.0)) / 2
    assert d(REAL, FAKE, real_label=y).item() == pytest.approx(real_part + fake_part, rel=1e-6)


def test_lsgan_values():
    d, g = get_loss("lsgan")
    assert d(REAL, FAKE).item() == pytest.approx(0.5 * ((1.0 + 4.0) / 2) + 0.5 * ((0.25 + 9.0) / 2))
    assert g(FAKE).item() == pytest.approx(0.5 * ((0.25 + 16.0) / 2))


def test_wgan_values():
    d, g = get_loss("wgan")
    assert d(REAL, FAKE).item() == pytest.approx((-2.5 / 2) - (1.0 / 2))
    assert g(FAKE).item() == pytest.approx(1.25)


def test_hinge_values():
    d, g = get_loss("hinge")
    # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0]
    assert d(REAL, FAKE).item() == pytest.approx(1.0 + 0.75)
    assert g(FAKE).item() == pytest.approx(1.25)


def test_relativistic_values():
    d, g = get_loss("relativistic")
    assert d(REAL, FAKE).item() == pytest.approx((sp(-1.5) + sp(-2.0)) / 2, rel=1e-6)
    assert g(FAKE, REAL).item() == pytest.approx((sp(1.5) + sp(2.0)) / 2, rel=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_sign_conventions(name):
    """Higher score = more real: D's loss falls as real scores rise and fake scores fall; G's falls as fake scores rise."""
    d, g = LOSSES[name]
    # Scores in (0, 1), where every loss is active (LSGAN's targets are 0 and 1, hinge's margin is 1).
    real = torch.tensor([0.3, 0.2], requires_grad=True)
    fake = torch.tensor([0.1, 0.4], requires_grad=True)
    d(real, fake).backward()
    assert (real.grad <= 0).all() and real.grad.sum() < 0
    assert (fake.grad >= 0).all() and fake.grad.sum() > 0
    fake_g = fake.detach().clone().requires_grad_(True)
    g(fake_g, real.detach()).backward()
    assert (fake_g.grad <= 0).all() and fake_g.grad.sum() < 0


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_are_scalar_and_finite_for_extreme_scores(name):
    d, g = LOSSES[name]
    big = torch.tensor([1e4, -1e4])
    assert d(big, -big).dim() == 0 and torch.isfinite(d(big, -big))
    assert torch.isfinite(g(big, big))


def test_unknown_loss_is_user_error():
    with pytest.raises(GankitError, match="unknown loss 'nope'"):
        get_loss("nope")
