"""Stabilising layers and wrappers: shape contracts and defining properties (issue 4)."""

import pytest
import torch
from torch import nn

from gankit.augment import DInput, colour, cutout, diff_augment, instance_noise_std, translation
from gankit.build import lr_factor
from gankit.errors import GankitError
from gankit.models import MODELS
from gankit.models.refbn import RefBatchG, RefBatchNorm
from gankit.models.tricks import (
    MinibatchDiscrimination,
    MinibatchHeadD,
    MinibatchStdDev,
    PackedD,
    make_activation,
    spectral_norm_all,
)


@pytest.mark.parametrize("kind", ["linear", "conv", "convtranspose"])
def test_spectral_norm_makes_largest_singular_value_one(kind):
    torch.manual_seed(0)
    layer = {"linear": nn.Linear(12, 7), "conv": nn.Conv2d(3, 5, 3), "convtranspose": nn.ConvTranspose2d(5, 3, 4)}[kind]
    with torch.no_grad():
        layer.weight.mul_(10.0)
    net = spectral_norm_all(nn.Sequential(layer))
    x = torch.randn(2, 12) if isinstance(layer, nn.Linear) else torch.randn(2, layer.in_channels, 6, 6)
    for _ in range(200):  # each train-mode forward runs one power iteration
        net(x)
    w = layer.weight  # the normalised weight
    matrix = (w.transpose(0, 1) if isinstance(layer, nn.ConvTranspose2d) else w).flatten(1)
    assert torch.linalg.matrix_norm(matrix, ord=2).item() == pytest.approx(1.0, abs=1e-2)


def test_minibatch_stddev_adds_one_feature_map_and_is_zero_for_identical_samples():
    layer = MinibatchStdDev(group_size=4)
    x = torch.randn(8, 3, 5, 5)
    out = layer(x)
    assert out.shape == (8, 4, 5, 5)
    assert torch.equal(out[:, :3], x)
    assert layer(torch.randn(8, 6)).shape == (8, 7)
    same = layer(torch.ones(8, 6))
    assert same[:, 6].abs().max() < 1e-3
    # The stat is the mean over features of the per-feature std within each group.
    flat = torch.randn(4, 6)
    expected = flat.std(dim=0, unbiased=False).mean()
    assert torch.allclose(layer(flat)[:, 6], expected.expand(4), atol=1e-4)


def test_minibatch_discrimination_counts_close_samples():
    layer = MinibatchDiscrimination(5, kernels=3, kernel_dim=2)
    out = layer(torch.ones(6, 5))
    assert out.shape == (6, 8)
    assert torch.allclose(out[:, 5:], torch.full((6, 3), 5.0))  # 5 identical others, exp(0) each
    with torch.no_grad():
        layer.T.fill_(1.0)
    far = layer(torch.arange(6.0)[:, None].expand(6, 5) * 100)
    assert far[:, 5:].abs().max() < 1e-6


def test_minibatch_head_d_keeps_score_contract():
    D = MinibatchHeadD(MODELS["mlp"][1]((2,), 8), "mbd", kernels=4)
    x = torch.randn(10, 2)
    assert D(x).shape == (10,)
    assert D.features(x).shape == (10, 12)


class Recorder(nn.Module):
    """Inner D that records what it is given and scores the sum of its input."""

    def __init__(self):
        super().__init__()
        self.seen = None

    def forward(self, x, c=None):
        self.seen = x
        return x.flatten(1).sum(1)

    def features(self, x, c=None):
        return self.forward(x)[:, None]


def test_packing_stacks_m_consecutive_samples():
    inner = Recorder()
    D = PackedD(inner, (2,), pack=3)
    x = torch.arange(12.0).view(6, 2)
    scores = D(x)
    assert scores.shape == (2,)
    assert torch.equal(inner.seen, torch.tensor([[0.0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]))
    images = torch.randn(4, 1, 3, 3)
    PackedD(inner, (1, 3, 3), pack=2)(images)
    assert inner.seen.shape == (2, 2, 3, 3) and torch.equal(inner.seen[1, 1], images[3, 0])
    with pytest.raises(GankitError, match="divisible"):
        D(torch.randn(4, 2))


@pytest.mark.parametrize("norm", ["reference", "virtual"])
@pytest.mark.parametrize("family,shape", [("mlp", (2,)), ("dcgan", (1, 16, 16))])
def test_reference_and_virtual_bn_make_samples_independent_of_their_batch(norm, family, shape):
    torch.manual_seed(0)
    G = RefBatchG(MODELS[family][0](4, shape, 8), norm, n_ref=16)
    z = torch.randn(5, 4)
    alone = G(z[:1])
    assert G(z).shape == (5, *shape)
    assert torch.allclose(G(z)[:1], alone, atol=1e-5)
    G.eval()
    assert torch.allclose(G(z)[:1], alone, atol=1e-5)  # no running statistics: eval = train


@pytest.mark.parametrize("shape", [(20, 3), (20, 3, 4, 5)])
def test_reference_bn_normalises_every_row_with_the_reference_rows_statistics(shape):
    # The defining formula, written out: statistics over the first n_ref rows (and spatial axes), biased
    # variance; gradients reach the reference rows through those statistics.
    torch.manual_seed(0)
    norm = RefBatchNorm(3, n_ref=6, virtual=False)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = (3 * torch.randn(shape) + 1).requires_grad_(True)
    axes = [0] + list(range(2, len(shape)))
    view = [1, 3] + [1] * (len(shape) - 2)
    ref = x[:6].detach()
    mean, var = ref.mean(axes).view(view), ref.var(axes, unbiased=False).view(view)
    expected = (x.detach() - mean) / torch.sqrt(var + norm.eps) * norm.weight.detach().view(view) + norm.bias.detach().view(view)
    out = norm(x)
    assert torch.allclose(out, expected, atol=1e-5)
    out[6:].pow(2).sum().backward()
    assert x.grad[:6].abs().sum() > 0  # the reference rows only enter through the statistics


@pytest.mark.parametrize("shape", [(12, 3), (10, 3, 2, 4)])
def test_reference_bn_hand_written_backward_matches_autograd(shape):
    from gankit.models.refbn import _ReferenceNorm

    torch.manual_seed(0)
    x = (2 * torch.randn(shape, dtype=torch.float64) + 1).requires_grad_(True)
    weight = torch.randn(3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _ReferenceNorm.apply(x, w, b, 5, 1e-5), (x, weight, bias))


def test_virtual_bn_differs_from_reference_bn_and_fails_without_batch_norm():
    torch.manual_seed(0)
    inner = MODELS["mlp"][0](4, (2,), 8)
    z = torch.randn(3, 4)
    ref = RefBatchG(inner, "reference", 4)
    torch.manual_seed(0)
    virt = RefBatchG(MODELS["mlp"][0](4, (2,), 8), "virtual", 4)
    assert not torch.allclose(ref(z), virt(z))
    with pytest.raises(GankitError, match="batch norm"):
        RefBatchG(MODELS["mlp"][0](4, (2,), 8, batchnorm=False), "virtual")


def test_diffaugment_is_differentiable_and_reproducible():
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    torch.manual_seed(0)
    out = diff_augment(x, "color,translation,cutout")
    out.sum().backward()
    assert out.shape == x.shape and x.grad is not None and x.grad.abs().sum() > 0
    torch.manual_seed(0)
    assert torch.equal(diff_augment(x, "color,translation,cutout"), out)


def test_translation_moves_pixels_and_cutout_zeroes_a_rectangle():
    x = torch.arange(64.0).view(1, 1, 8, 8) + 1
    torch.manual_seed(3)
    moved = translation(x)
    kept = moved[moved != 0]
    assert set(kept.tolist()) <= set(x.flatten().tolist())  # values move, none are invented
    cut = cutout(torch.ones(2, 1, 8, 8))
    assert (cut == 0).sum(dim=(1, 2, 3)).tolist() == [16, 16]
    assert colour(torch.zeros(2, 3, 4, 4)).shape == (2, 3, 4, 4)
    with pytest.raises(GankitError, match="unknown"):
        diff_augment(x, "rotate")


def test_d_sees_real_and_fake_through_the_same_augmentation():
    from gankit.families.gan import GANTrainer

    seen = []

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x, c=None):
            seen.append(x.detach())
            return x.flatten(1).sum(1) * self.w

    class G(nn.Module):
        z_dim = 2

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, z, c=None):
            return torch.ones(z.shape[0], 1, 8, 8) * self.w

    g, d = G(), D()
    trainer = GANTrainer(g, d, torch.optim.SGD(g.parameters(), 0.1), torch.optim.SGD(d.parameters(), 0.1),
                         d_input=DInput("cutout"))
    trainer.train_step(lambda: (torch.ones(3, 1, 8, 8), None))
    assert len(seen) == 3  # real and fake in D's step, fake in G's step
    for batch in seen:
        assert (batch == 0).sum(dim=(1, 2, 3)).tolist() == [16, 16, 16]


def test_instance_noise_anneals_linearly_to_zero():
    assert instance_noise_std(0.2, 100, 0) == 0.2
    assert instance_noise_std(0.2, 100, 50) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 100, 150) == 0.0
    d_input = DInput("", 0.5, 10)
    d_input.set_step(10)
    assert torch.equal(d_input(torch.ones(3)), torch.ones(3))


def test_linear_lr_schedule_shape():
    assert lr_factor("constant", 90, 100, 0.5, 0.0) == 1.0
    assert lr_factor("linear", 50, 100, 0.5, 0.0) == 1.0
    assert lr_factor("linear", 75, 100, 0.5, 0.0) == pytest.approx(0.5)
    assert lr_factor("linear", 100, 100, 0.5, 0.1) == pytest.approx(0.1)
    assert lr_factor("linear", 500, 100, 0.5, 0.1) == pytest.approx(0.1)


def test_activation_and_dropout_options():
    G = MODELS["mlp"][0](4, (2,), 8, activation="elu", dropout=0.5)
    assert any(isinstance(m, nn.ELU) for m in G.modules()) and any(isinstance(m, nn.Dropout) for m in G.modules())
    D = MODELS["dcgan"][1]((1, 16, 16), 8, activation="relu")
    assert not any(isinstance(m, nn.LeakyReLU) for m in D.modules())
    G = MODELS["dcgan"][0](4, (1, 16, 16), 8, dropout=0.5)
    G.train()
    z = torch.randn(2, 4)
    assert not torch.equal(G(z), G(z))  # dropout is noise in G while training
    with pytest.raises(GankitError, match="activation 'swish'"):
        make_activation("swish")


def test_latent_mixture_draws_equal_components_of_the_given_std():
    from gankit.models.latent import LatentMixtureG

    G = LatentMixtureG(MODELS["mlp"][0](3, (2,), 8), components=5, std=0.1, seed=7)
    z = torch.randn(50_000, 3, generator=torch.Generator().manual_seed(0))
    latents = G.mixture_latents(z)
    assert latents.shape == (50_000, 3) and torch.equal(latents, G.mixture_latents(z))
    nearest = torch.cdist(latents, G.means).argmin(1)
    counts = torch.bincount(nearest, minlength=5).float() / len(z)
    assert torch.allclose(counts, torch.full((5,), 0.2), atol=0.01)  # K equally likely components
    offsets = (latents - G.means[nearest]) / 0.1  # within a component: standard normal again
    assert offsets.mean(0).abs().max() < 0.03 and (offsets.std(0) - 1).abs().max() < 0.03
    assert G(z[:4]).shape == (4, 2) and "means" in G.state_dict()
    with pytest.raises(GankitError, match="latent_mixture"):
        LatentMixtureG(MODELS["mlp"][0](3, (2,), 8), components=1, std=0.1)


def test_truncated_mixture_keeps_every_latent_within_t_stds_of_its_component():
    from gankit.models.latent import LatentMixtureG

    G = LatentMixtureG(MODELS["mlp"][0](3, (2,), 8), components=4, std=0.1, seed=7, truncation=1.5)
    z = torch.randn(40_000, 3, generator=torch.Generator().manual_seed(0))
    latents = G.mixture_latents(z)
    component = (torch.special.ndtr(z[:, 0]) * 4).floor().long()  # the component z's first coordinate picks
    offsets = (latents - G.means[component]) / 0.1
    assert offsets.abs().max() <= 1.5 + 1e-4
    # A standard normal truncated to [-1.5, 1.5] has std 0.7426; each coordinate should match it.
    assert (offsets.std(0) - 0.7426).abs().max() < 0.01 and offsets.mean(0).abs().max() < 0.02
    assert torch.equal(latents, G.mixture_latents(z))
    with pytest.raises(GankitError, match="latent_mixture_truncation must be >= 0"):
        LatentMixtureG(MODELS["mlp"][0](3, (2,), 8), components=4, std=0.1, truncation=-1)


def test_kmeans_layout_spreads_the_mixture_means_evenly_over_the_standard_normal():
    from gankit.models.latent import mixture_means

    def spacing(means):  # distance from each mean to its nearest other mean
        distances = torch.cdist(means, means).fill_diagonal_(float("inf"))
        return distances.min(1).values

    random = mixture_means(50, 2, "random", torch.Generator().manual_seed(3))
    kmeans = mixture_means(50, 2, "kmeans", torch.Generator().manual_seed(3))
    assert kmeans.shape == (50, 2) and kmeans.dtype == torch.float32
    assert torch.equal(kmeans, mixture_means(50, 2, "kmeans", torch.Generator().manual_seed(3)))  # deterministic
    # Random draws put some means almost on top of each other; centroids keep their distance.
    assert spacing(kmeans).min() > 3 * spacing(random).min() and spacing(kmeans).min() > 0.3
    assert kmeans.mean(0).abs().max() < 0.15 and 0.8 < kmeans.norm(dim=1).mean() < 1.6  # still centred like N(0, I)
    with pytest.raises(GankitError, match="latent_mixture_layout 'grid'"):
        mixture_means(50, 2, "grid", torch.Generator())


def test_latent_mixture_sits_inside_reference_batch_norm():
    # The reference batch must pass through the same mixture as every sample, so the mixture is innermost.
    from gankit.build import build_models
    from gankit.config import resolve

    G, _ = build_models(resolve("toy-grid", None, ["tricks.latent_mixture=30", "tricks.g_norm=reference"]))
    assert isinstance(G, RefBatchG) and type(G.G).__name__ == "LatentMixtureG" and G.G.means.shape == (30, 2)
    with pytest.raises(GankitError, match="latent_mixture must be 0"):
        resolve("toy-grid", None, ["tricks.latent_mixture=1"])
    with pytest.raises(GankitError, match="latent_mixture_std must be > 0"):
        resolve("toy-grid", None, ["tricks.latent_mixture_std=0"])
    with pytest.raises(GankitError, match="latent_mixture_layout 'grid' is unknown; choose random or kmeans"):
        resolve("toy-grid", None, ["tricks.latent_mixture_layout=grid"])


def test_sampling_truncation_keeps_each_mixture_component_and_shrinks_its_offsets():
    from gankit.models.latent import LatentMixtureG
    from gankit.sample import truncate_latents

    z = torch.randn(40_000, 3, generator=torch.Generator().manual_seed(0))
    for trained in (0.0, 2.0):  # an untruncated mixture, and one trained with offsets truncated at 2 stds
        G = LatentMixtureG(MODELS["mlp"][0](3, (2,), 8), components=4, std=0.1, seed=7, truncation=trained)
        truncated = truncate_latents(G, z, 1.5)
        component = (torch.special.ndtr(z[:, 0]) * 4).floor().long()
        assert torch.equal((torch.special.ndtr(truncated[:, 0]) * 4).floor().long(), component)  # same components
        offsets = (G.mixture_latents(truncated) - G.means[component]) / 0.1
        assert offsets.abs().max() <= 1.5 + 1e-3
        assert (offsets.std(0) - 0.7426).abs().max() < 0.01 and offsets.mean(0).abs().max() < 0.02
        assert torch.equal(truncate_latents(G, z, 0), z)
    assert torch.equal(truncate_latents(G, z, 2.5), z)  # wider than the training truncation: nothing to cut
    with pytest.raises(GankitError, match="--truncation must be >= 0"):
        truncate_latents(G, z, -1)


def test_sampling_truncation_of_a_plain_latent_is_a_truncated_normal_per_coordinate():
    from gankit.sample import truncate_latents

    z = torch.randn(40_000, 4, generator=torch.Generator().manual_seed(1))
    truncated = truncate_latents(MODELS["mlp"][0](4, (2,), 8), z, 1.5)
    assert truncated.abs().max() <= 1.5 + 1e-4 and (truncated.std(0) - 0.7426).abs().max() < 0.01
    in_order = truncated[torch.argsort(z[:, 0]), 0]
    assert bool((in_order[1:] >= in_order[:-1]).all())  # monotone in z: the same order
