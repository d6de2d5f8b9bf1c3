"""WaveGAN networks and phase shuffle; SpecGAN's networks (DCGAN on 1 x 128 x 128 spectrograms)."""

import pytest
import torch

from gankit.errors import GankitError
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.wavegan import SUPPORTED_LENGTHS, PhaseShuffle, WaveGANDiscriminator, WaveGANGenerator, wavegan_stages
from gankit.penalties import wgan_gp


@pytest.mark.parametrize("length", [1024, 4096])
def test_wavegan_shapes_and_range(length):
    torch.manual_seed(0)
    G = WaveGANGenerator(16, (1, length), width=4)
    D = WaveGANDiscriminator((1, length), width=4, phase_shuffle=2)
    x = G(torch.randn(3, 16) * 10)  # large z pushes tanh towards its bounds
    assert x.shape == (3, 1, length) and G.out_shape == (1, length) and G.z_dim == 16
    assert x.abs().max() <= 1.0
    scores = D(x)
    assert scores.shape == (3,) and D.in_shape == (1, length)
    # The last map has width * 2**(k-1) channels of 16 samples; k = 4 for 4096.
    k = SUPPORTED_LENGTHS.index(length) + 1
    assert D.features(x).shape == (3, 4 * 2 ** (k - 1) * 16)


def test_wavegan_paper_size_has_paper_parameter_count():
    G = WaveGANGenerator(100, 16384, width=64)
    assert G.out_shape == (1, 16384)
    # The paper's WaveGAN G has ~19.1M parameters (dense 100 -> 16 x 1024, five 25-tap layers).
    assert 19.0e6 < sum(p.numel() for p in G.parameters()) < 19.2e6


def test_wavegan_length_rule_is_one_line_error():
    assert wavegan_stages(16384) == ((1, 16384), 5)
    assert wavegan_stages((2, 64)) == ((2, 64), 1)
    for bad in (16000, 4095, 16):
        with pytest.raises(GankitError, match="16 \\* 4\\*\\*k") as err:
            WaveGANGenerator(8, bad, 4)
        assert "\n" not in str(err.value)
    with pytest.raises(GankitError, match="channels, length"):
        WaveGANDiscriminator((1, 64, 64), 4)


def test_wavegan_rejects_labels_and_wrong_input_length():
    G, D = WaveGANGenerator(8, 256, 4), WaveGANDiscriminator(256, 4)
    with pytest.raises(GankitError, match="unconditional"):
        G(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(GankitError, match=r"\[N, 1, 256\]"):
        D(torch.randn(2, 1, 1024))


def test_phase_shuffle_keeps_length_and_shifts_at_most_n():
    torch.manual_seed(0)
    n, length = 2, 50
    x = torch.arange(length, dtype=torch.float32).repeat(64, 3, 1)  # [64, 3, 50], distinct values in time
    y = PhaseShuffle(n).train()(x)
    assert y.shape == x.shape
    seen = set()
    for i in range(len(x)):
        matches = [k for k in range(-n, n + 1) if torch.equal(y[i, :, n:length - n], x[i, :, n - k:length - n - k])]
        assert len(matches) == 1, "each example is the input shifted by one k in [-n, n]"
        k = matches[0]
        seen.add(k)
        # The samples shifted in come from reflection, never zeros.
        expected = torch.nn.functional.pad(x[i:i + 1], (n, n), mode="reflect")[0, :, n - k:n - k + length]
        assert torch.equal(y[i], expected)
        assert torch.equal(y[i, 0], y[i, 2]), "all channels of an example share its shift"
    assert seen == set(range(-n, n + 1)), "every shift in [-n, n] is drawn"


def test_phase_shuffle_identity_in_eval_and_for_zero():
    x = torch.randn(4, 2, 30)
    assert torch.equal(PhaseShuffle(3).eval()(x), x)
    assert torch.equal(PhaseShuffle(0).train()(x), x)
    with pytest.raises(GankitError):
        PhaseShuffle(-1)


def test_discriminator_is_random_only_in_training():
    torch.manual_seed(0)
    D = WaveGANDiscriminator(1024, 4, phase_shuffle=2)
    x = torch.randn(8, 1, 1024)
    D.eval()
    assert torch.equal(D(x), D(x))
    D.train()
    assert not torch.equal(D(x), D(x)), "phase shuffle changes the scores between calls"
    no_shuffle = WaveGANDiscriminator(1024, 4, phase_shuffle=0).train()
    assert not any(isinstance(m, PhaseShuffle) for m in no_shuffle.modules())


def test_wgan_gp_trains_through_wavegan():
    torch.manual_seed(0)
    G, D = WaveGANGenerator(8, 256, 4), WaveGANDiscriminator(256, 4)
    real, fake = torch.rand(4, 1, 256) * 2 - 1, G(torch.randn(4, 8))
    loss = D(fake.detach()).mean() - D(real).mean() + 10 * wgan_gp(D, real, fake)
    loss.backward()
    grads = [p.grad for p in D.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_specgan_networks_are_dcgan_on_128x128():
    G = DCGANGenerator(16, (1, 128, 128), width=4, kernel_size=5)
    D = DCGANDiscriminator((1, 128, 128), width=4, kernel_size=5, norm="none")
    x = G(torch.randn(2, 16))
    assert x.shape == (2, 1, 128, 128) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    assert G.base == (4, 4)  # five stride-2 stages: 4 -> 128, as SpecGAN's
