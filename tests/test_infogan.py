"""The InfoGAN-style 28x28 networks (gankit.models.infogan), built directly (before registration)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.families.gan import GANTrainer
from gankit.models.infogan import InfoGANDiscriminator, InfoGANGenerator

SHAPE = (1, 28, 28)


def test_generator_shape_and_range() -> None:
    torch.manual_seed(0)
    G = InfoGANGenerator(64, SHAPE)
    x = G(torch.randn(5, 64) * 10)  # large z drives tanh towards its bounds
    assert x.shape == (5, *SHAPE)
    assert x.min() >= -1 and x.max() <= 1
    assert G.z_dim == 64 and G.out_shape == SHAPE


def test_paper_widths_at_width_64() -> None:
    G, D = InfoGANGenerator(64, SHAPE), InfoGANDiscriminator(SHAPE)
    g_linear = [m.out_features for m in G.modules() if isinstance(m, nn.Linear)]
    g_deconv = [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_conv = [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)]
    d_linear = [m.out_features for m in D.modules() if isinstance(m, nn.Linear)]
    assert g_linear == [1024, 128 * 7 * 7] and g_deconv == [64, 1]
    assert d_conv == [64, 128] and d_linear == [1024, 1]


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_discriminator_scores_and_features(norm: str) -> None:
    D = InfoGANDiscriminator(SHAPE, width=64, norm=norm)
    x = torch.rand(4, *SHAPE) * 2 - 1
    assert D(x).shape == (4,)
    assert D.features(x).shape == (4, 1024)
    assert D.in_shape == SHAPE


def test_norm_none_has_no_batch_norm() -> None:
    def batch_norms(D: nn.Module) -> int:
        return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())

    assert batch_norms(InfoGANDiscriminator(SHAPE, norm="batch")) == 2
    assert batch_norms(InfoGANDiscriminator(SHAPE, norm="none")) == 0


def test_norm_none_scores_each_sample_alone() -> None:
    # Without batch norm a sample's score must not depend on the rest of the batch (per-sample penalties).
    D = InfoGANDiscriminator(SHAPE, width=8, norm="none").train()
    x = torch.rand(6, *SHAPE) * 2 - 1
    assert torch.allclose(D(x)[:2], D(x[:2]), atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: InfoGANGenerator(8, (1, 32, 32)),
    lambda: InfoGANDiscriminator((3, 28, 32)),
    lambda: InfoGANDiscriminator((784,)),
])
def test_bad_shape_is_one_line_error(make) -> None:
    with pytest.raises(GankitError, match="infogan builds images of shape") as info:
        make()
    assert "\n" not in str(info.value)


def test_bad_norm_is_an_error() -> None:
    with pytest.raises(GankitError, match="norm"):
        InfoGANDiscriminator(SHAPE, norm="layer")


def test_labels_are_rejected() -> None:
    with pytest.raises(GankitError, match="unconditional"):
        InfoGANGenerator(8, SHAPE, width=8)(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))


def test_one_train_step_changes_d() -> None:
    torch.manual_seed(0)
    G, D = InfoGANGenerator(8, SHAPE, width=8), InfoGANDiscriminator(SHAPE, width=8)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    trainer = GANTrainer(G, D, opt_g, opt_d, "nonsaturating")
    before = [p.detach().clone() for p in D.parameters()]
    g_before = [p.detach().clone() for p in G.parameters()]
    real = torch.rand(16, *SHAPE) * 2 - 1
    stats = trainer.train_step(lambda: (real, None))
    assert all(torch.isfinite(v).all() for v in stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
