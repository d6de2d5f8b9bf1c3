"""Contract tests for every MODELS entry, plus family-specific layout checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models import MODELS, check_model_shape
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_stages
from gankit.models.gan2014 import GAN2014Discriminator, GAN2014Generator
from gankit.models.layers import Maxout, init_dcgan_weights
from gankit.models.mlp import MLPDiscriminator, MLPGenerator

Z_DIM = 6
WIDTH = 8
N = 4

# (family, data shape) pairs each family must build; every MODELS entry needs at least one.
CASES = [
    ("gan2014", (2,)),
    ("gan2014", (1, 28, 28)),
    ("mlp", (2,)),
    ("mlp", (1, 28, 28)),
    ("mlp", (3, 8, 12)),
    ("dcgan", (1, 28, 28)),
    ("dcgan", (1, 32, 32)),
    ("dcgan", (3, 32, 32)),
    ("dcgan", (3, 64, 64)),
    ("dcgan", (1, 24, 32)),
    ("infogan", (1, 28, 28)),
    ("wavegan", (1, 1024)),  # 1-D audio clips [N, 1, L]
]
CASE_IDS = [f"{name}-{'x'.join(map(str, shape))}" for name, shape in CASES]


def build(name: str, shape: tuple[int, ...], seed: int = 0) -> tuple[nn.Module, nn.Module]:
    gen_cls, disc_cls = MODELS[name]
    torch.manual_seed(seed)
    return gen_cls(Z_DIM, shape, WIDTH), disc_cls(shape, WIDTH)


def test_every_family_is_tested() -> None:
    assert {name for name, _ in CASES} == set(MODELS)


@pytest.mark.parametrize("name,shape", CASES, ids=CASE_IDS)
def test_generator_shape_and_range(name: str, shape: tuple[int, ...]) -> None:
    G, _ = build(name, shape)
    assert G.z_dim == Z_DIM and G.out_shape == shape
    # Large z pushes the output towards saturation; images must still stay in range.
    x = G(3 * torch.randn(N, Z_DIM))
    assert x.shape == (N, *shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    if len(shape) == 3:
        assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("name,shape", CASES, ids=CASE_IDS)
def test_discriminator_scores_and_features(name: str, shape: tuple[int, ...]) -> None:
    _, D = build(name, shape)
    assert D.in_shape == shape
    x = torch.rand(N, *shape) * 2 - 1
    scores = D(x)
    assert scores.shape == (N,) and torch.isfinite(scores).all()
    feats = D.features(x)
    assert feats.dim() == 2 and feats.shape[0] == N and torch.isfinite(feats).all()


@pytest.mark.parametrize("name,shape", CASES, ids=CASE_IDS)
def test_same_seed_same_weights_and_outputs(name: str, shape: tuple[int, ...]) -> None:
    runs = []
    for _ in range(2):
        G, D = build(name, shape, seed=3)
        torch.manual_seed(7)  # also fixes dropout masks
        fake = G(torch.randn(N, Z_DIM))
        runs.append((G.state_dict(), D.state_dict(), fake, D(fake)))
    (g1, d1, x1, s1), (g2, d2, x2, s2) = runs
    for a, b in ((g1, g2), (d1, d2)):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(x1, x2) and torch.equal(s1, s2)
    # A different seed must give different weights (the seed is really used).
    G_other, _ = build(name, shape, seed=4)
    assert any(not torch.equal(v, g1[k]) for k, v in G_other.state_dict().items())


@pytest.mark.parametrize("name,shape", CASES, ids=CASE_IDS)
def test_backward_reaches_every_parameter(name: str, shape: tuple[int, ...]) -> None:
    G, D = build(name, shape)
    real = torch.rand(N, *shape) * 2 - 1
    # Non-saturating-style loss; a plain difference of means would cancel D's last bias.
    fake_scores = D(G(torch.randn(N, Z_DIM)))
    loss = nn.functional.softplus(-D(real)).mean() + nn.functional.softplus(fake_scores).mean()
    loss.backward()
    for model in (G, D):
        for pname, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{type(model).__name__}.{pname}"


@pytest.mark.parametrize("name,shape", CASES, ids=CASE_IDS)
def test_labels_rejected_by_unconditional_models(name: str, shape: tuple[int, ...]) -> None:
    G, D = build(name, shape)
    c = torch.zeros(N, dtype=torch.int64)
    with pytest.raises(GankitError, match="unconditional"):
        G(torch.randn(N, Z_DIM), c)
    with pytest.raises(GankitError, match="unconditional"):
        D(torch.zeros(N, *shape), c)
    with pytest.raises(GankitError, match="unconditional"):
        D.features(torch.zeros(N, *shape), c)


@pytest.mark.parametrize("name,shape", [c for c in CASES if len(c[1]) == 3],
                         ids=[i for i, c in zip(CASE_IDS, CASES) if len(c[1]) == 3])
def test_channels_last_matches_contiguous(name: str, shape: tuple[int, ...]) -> None:
    G, D = build(name, shape)
    x = torch.rand(N, *shape) * 2 - 1
    torch.manual_seed(0)
    expected = D(x)
    torch.manual_seed(0)
    got = D(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    z = torch.randn(N, Z_DIM)
    expected_fake = G(z)
    G_cl = G.to(memory_format=torch.channels_last)
    torch.testing.assert_close(G_cl(z), expected_fake, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name,shape", CASES, ids=CASE_IDS)
def test_check_model_shape_accepts_supported(name: str, shape: tuple[int, ...]) -> None:
    check_model_shape(name, shape)


@pytest.mark.parametrize("name,shape", [
    ("dcgan", (1, 30, 30)),   # 30 = 15 * 2: base side too large
    ("dcgan", (1, 36, 36)),   # 36 = 9 * 4
    ("dcgan", (1, 8, 8)),     # only one stride-2 stage
    ("dcgan", (1, 1024, 1024)),  # beyond 6 stages the base exceeds 8
    ("dcgan", (2,)),
    ("mlp", (28, 28)),
    ("gan2014", (2, 0)),
    ("gan2014", ()),
    ("nosuchmodel", (2,)),
])
def test_check_model_shape_rejects(name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(GankitError) as info:
        check_model_shape(name, shape)
    assert "\n" not in str(info.value)


def test_dcgan_error_says_what_works() -> None:
    with pytest.raises(GankitError, match=r"dcgan cannot build 30x30 images.*e\.g\. 16"):
        check_model_shape("dcgan", (1, 30, 30))
    with pytest.raises(GankitError, match="use the mlp or gan2014"):
        DCGANGenerator(Z_DIM, (2,), WIDTH)


@pytest.mark.parametrize("shape,expected", [
    ((1, 28, 28), (2, 7, 7)),
    ((1, 32, 32), (3, 4, 4)),
    ((3, 64, 64), (4, 4, 4)),
    ((1, 32, 48), (3, 4, 6)),
    ((1, 24, 24), (3, 3, 3)),
    ((1, 16, 16), (2, 4, 4)),
    ((1, 512, 512), (6, 8, 8)),
])
def test_dcgan_stages(shape: tuple[int, ...], expected: tuple[int, int, int]) -> None:
    assert dcgan_stages(shape) == expected


@pytest.mark.parametrize("make", [
    lambda: MLPGenerator(Z_DIM, (2,), 0),
    lambda: MLPGenerator(0, (2,), WIDTH),
    lambda: MLPGenerator(Z_DIM, (2,), WIDTH, hidden_layers=0),
    lambda: MLPDiscriminator((2,), WIDTH, dropout=1.0),
    lambda: MLPDiscriminator((2,), 2.5),
    lambda: GAN2014Discriminator((2,), WIDTH, pieces=1),
    lambda: GAN2014Generator(Z_DIM, (5, 5), WIDTH),
    lambda: DCGANGenerator(Z_DIM, (1, 32, 32), WIDTH, kernel_size=3),
    lambda: DCGANDiscriminator((1, 32, 32), 0),
    lambda: DCGANDiscriminator((1, 32, 32), WIDTH, max_width=0),
    lambda: DCGANDiscriminator((1, 30, 30), WIDTH),
])
def test_invalid_constructor_values_raise(make) -> None:
    with pytest.raises(GankitError):
        make()


def test_shapes_from_yaml_lists_are_accepted() -> None:
    assert MLPGenerator(Z_DIM, [1, 28, 28], WIDTH).out_shape == (1, 28, 28)
    assert DCGANDiscriminator([1, 28, 28], WIDTH).in_shape == (1, 28, 28)


def test_classic_dcgan_64_layout() -> None:
    torch.manual_seed(0)
    G = DCGANGenerator(100, (3, 64, 64), width=128, kernel_size=5)
    D = DCGANDiscriminator((3, 64, 64), width=128, kernel_size=5)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [128, 256, 512, 1024]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in convs)
    norms = [m.num_features for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms == [256, 512, 1024]  # every conv but the first
    assert D.head.in_features == 4 * 4 * 1024
    assert G.project.out_features == 4 * 4 * 1024 and G.base == (4, 4)
    tconvs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in tconvs] == [512, 256, 128, 3]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in tconvs)
    assert not any(isinstance(m, nn.Linear) for m in G.body.modules())  # no hidden FC layers
    assert isinstance(list(G.body)[-1], nn.Tanh)
    G.eval(), D.eval()
    with torch.no_grad():
        x = G(torch.randn(2, 100))
        assert x.shape == (2, 3, 64, 64)
        assert D(x).shape == (2,)


def test_dcgan_max_width_caps_channels() -> None:
    D = DCGANDiscriminator((1, 64, 64), 8, max_width=16)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [8, 16, 16, 16]
    assert D.features(torch.zeros(2, 1, 64, 64)).shape == (2, 4 * 4 * 16)


def test_dcgan_kernel_5_doubles_exactly() -> None:
    G = DCGANGenerator(Z_DIM, (1, 24, 32), WIDTH, kernel_size=5)
    D = DCGANDiscriminator((1, 24, 32), WIDTH, kernel_size=5)
    x = G(torch.randn(N, Z_DIM))
    assert x.shape == (N, 1, 24, 32) and D(x).shape == (N,)


def test_init_dcgan_weights() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 64, 5), nn.BatchNorm2d(64), nn.Linear(64, 64))
    net.apply(init_dcgan_weights)
    conv, bn, lin = net
    assert abs(conv.weight.std().item() - 0.02) < 0.002 and abs(conv.weight.mean().item()) < 0.002
    assert abs(lin.weight.std().item() - 0.02) < 0.002
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and 0.01 < bn.weight.std().item() < 0.03
    assert not conv.bias.any() and not bn.bias.any() and not lin.bias.any()


def test_maxout_is_max_over_pieces() -> None:
    layer = Maxout(2, 2, pieces=3)
    with torch.no_grad():
        # Rows j*3 + k: piece k of unit j.
        layer.linear.weight.copy_(torch.tensor([
            [1.0, 0.0], [0.0, 1.0], [-1.0, -1.0],   # unit 0
            [2.0, 0.0], [0.0, 0.0], [0.0, -3.0],    # unit 1
        ]))
        layer.linear.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.5, 0.0]))
    x = torch.tensor([[1.0, 2.0], [-1.0, -2.0], [0.1, -0.1]])
    expected = torch.tensor([
        [max(1.0, 2.0, -3.0), max(2.0, 0.5, -6.0)],
        [max(-1.0, -2.0, 3.0), max(-2.0, 0.5, 6.0)],
        [max(0.1, -0.1, 0.0), max(0.2, 0.5, 0.3)],
    ])
    torch.testing.assert_close(layer(x), expected)


def test_gan2014_discriminator_uses_maxout_and_dropout() -> None:
    D = GAN2014Discriminator((1, 28, 28), WIDTH)
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert len(maxouts) == 2 and all(m.pieces == 5 for m in maxouts)
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    x = torch.rand(N, 1, 28, 28)
    D.eval()
    torch.testing.assert_close(D(x), D(x))  # no randomness in eval mode
    D.train()
    torch.manual_seed(0)
    a = D(x)
    assert not torch.equal(a, D(x))  # dropout active in train mode


@pytest.mark.parametrize("gen_cls", [MLPGenerator, GAN2014Generator])
def test_vector_output_is_linear(gen_cls) -> None:
    G = gen_cls(Z_DIM, (2,), WIDTH)
    last = [m for m in G.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(10.0)
    assert G(torch.randn(N, Z_DIM)).min() > 5  # not squashed into [-1, 1]
