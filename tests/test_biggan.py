"""BigGAN / SNGAN ResNet family: conditional BN, hierarchical z, projection D, orthogonal regulariser,
truncation by resampling, shapes and their errors, CLI train / sample / bit-exact resume."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.cli import main
from gankit.config import resolve
from gankit.errors import GankitError
from gankit.families import biggan
from gankit.latent_tools import truncate, truncate_by_resampling, truncation_mode
from gankit.models.resnet import ConditionalBatchNorm2d, ResNetDiscriminator, ResNetGenerator, resnet_blocks
from gankit.penalties import orthogonal
from gankit.train.checkpoint import load_checkpoint

TINY = ["--preset", "biggan-fashion", "--no-progress", "--threads", "1",
        "--set", "data.name=digits", "--set", "data.resolution=16", "--set", "model.g_width=8",
        "--set", "model.d_width=8", "--set", "model.z_dim=12", "--set", "biggan.shared_dim=8",
        "--set", "train.batch_size=16", "--set", "log.every=1", "--set", "log.sample_every=2",
        "--set", "log.checkpoint_every=2", "--set", "train.ema_kimg=0.1"]


def test_conditional_batch_norm_two_classes_differ():
    torch.manual_seed(0)
    G = ResNetGenerator(12, (1, 16, 16), 8, num_classes=2, shared_dim=8, hierarchical_z=True).eval()
    z = torch.randn(4, 12)
    zero, one = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.ones(4, dtype=torch.long))
    assert (zero - one).abs().amax() > 1e-3  # the class reaches the image through the batch norms alone
    assert torch.equal(zero, G(z, torch.zeros(4, dtype=torch.long)))
    bn = ConditionalBatchNorm2d(3, 5).eval()
    x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    nn.init.normal_(bn.gain.weight)
    assert not torch.allclose(bn(x, y), bn(x, y.flip(0)))
    with pytest.raises(GankitError, match=r"shape \[2, 5\]"):
        bn(x, None)


def test_hierarchical_z_feeds_every_block_and_the_input():
    torch.manual_seed(0)
    G = ResNetGenerator(16, (1, 32, 32), 8, num_classes=0, hierarchical_z=True).eval()
    assert G.chunks == [4, 4, 4, 4] and len(G.blocks) == 3  # 3 blocks + the linear input
    z = torch.randn(2, 16)
    for chunk in range(4):
        moved = z.clone()
        moved[:, 4 * chunk:4 * chunk + 4] += 1.0
        assert not torch.allclose(G(z), G(moved)), f"chunk {chunk} does not reach the image"
    plain = ResNetGenerator(16, (1, 32, 32), 8)
    assert isinstance(plain.blocks[0].bn1.bn, nn.BatchNorm2d) and plain.blocks[0].bn1.bn.affine  # SNGAN: plain BN


def test_projection_discriminator_uses_the_class_and_unconditional_rejects_it():
    torch.manual_seed(0)
    D = ResNetDiscriminator((1, 16, 16), 8, num_classes=3)
    x = torch.randn(4, 1, 16, 16)
    nn.init.normal_(D.embed.weight)
    scores = D(x, torch.zeros(4, dtype=torch.long))
    assert scores.shape == (4,) and not torch.allclose(scores, D(x, torch.ones(4, dtype=torch.long)))
    with pytest.raises(GankitError, match="class labels"):
        D(x)
    with pytest.raises(GankitError, match="unconditional"):
        ResNetDiscriminator((1, 16, 16), 8)(x, torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 32, 32), (3, 48, 32), (4, 16, 24)])
def test_shapes_and_range(shape):
    torch.manual_seed(0)
    G = ResNetGenerator(10, shape, 8, num_classes=4, shared_dim=4, hierarchical_z=True)
    D = ResNetDiscriminator(shape, 8, num_classes=4)
    c = torch.tensor([0, 1, 2, 3])
    x = G(torch.randn(4, 10), c)
    assert x.shape == (4, *shape) and x.abs().max() <= 1
    assert D(x, c).shape == (4,) and D.features(x).shape == (4, 8)


@pytest.mark.parametrize("resolution", [27, 5, [20, 40]])
def test_shapes_the_resnet_cannot_build_are_one_line_errors(resolution):
    with pytest.raises(GankitError) as err:
        resnet_blocks((1, *(resolution if isinstance(resolution, list) else [resolution] * 2)))
    assert "\n" not in str(err.value) and "resize or crop" in str(err.value)


def test_orthogonal_regulariser_against_a_hand_computation():
    net = nn.Sequential(nn.Linear(3, 2), nn.Conv2d(1, 2, (1, 2)), nn.Embedding(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]))  # W W^T = [[5, 2], [2, 2]] -> 2 * 2^2
        net[1].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]).view(2, 1, 1, 2))  # [[1, 1], [1, 2]] -> 2 * 1^2
        net[2].weight.fill_(5.0)  # embeddings are left out
    value = orthogonal(net)
    assert value.item() == pytest.approx(8.0 + 2.0)
    value.backward()
    W = net[0].weight.detach()
    gram = W @ W.t()
    by_hand = 4 * (gram - torch.diag(torch.diagonal(gram))) @ W  # d/dW ||W W^T * (1 - I)||^2
    assert torch.allclose(net[0].weight.grad, by_hand)
    # Under spectral norm the raw (trainable) weight is regularised, not the normalised one.
    from torch.nn.utils.parametrizations import spectral_norm

    spectral_norm(net[0])
    assert orthogonal(net).item() == pytest.approx(10.0)


def test_truncation_by_resampling_keeps_every_coordinate_within_psi():
    z = torch.randn(4000, 16, generator=torch.Generator().manual_seed(0))
    state = torch.random.get_rng_state()
    for psi in (0.05, 0.5, 1.0, 2.0):
        t = truncate_by_resampling(z, psi)
        assert t.shape == z.shape and t.abs().max() <= psi
        inside = z.abs() <= psi
        assert torch.equal(t[inside], z[inside])  # coordinates inside are kept
        redrawn = t[~inside]
        # Redrawn, not clamped: spread over the range, with the truncated normal's mean ~0.
        assert (redrawn.abs() < psi * 0.99).float().mean() > 0.9 and abs(float(redrawn.mean())) < 0.05 * psi
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    row = truncate_by_resampling(z[7:8], 0.5)
    assert torch.equal(row, truncate_by_resampling(z, 0.5)[7:8])  # a row's result depends on that row alone
    G = ResNetGenerator(16, (1, 16, 16), 8)
    assert truncation_mode(G) == "resample" and torch.equal(truncate(G, z, 0.5), truncate_by_resampling(z, 0.5))
    with pytest.raises(GankitError, match="truncation must be >= 0"):
        truncate_by_resampling(z, -1.0)


def test_sample_truncate_latents_resamples_for_biggan():
    from gankit.sample import truncate_latents

    G = ResNetGenerator(16, (1, 16, 16), 8)
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(truncate_latents(G, z, 0.5), truncate_by_resampling(z, 0.5))


def test_spectral_norm_skips_the_shared_embedding_and_bad_configs_are_one_line_errors():
    from torch.nn.utils import parametrize

    cfg = resolve("biggan-fashion", None, ["data.resolution=16", "model.g_width=8", "model.d_width=8"])
    G, D = biggan.build_networks(cfg)
    assert parametrize.is_parametrized(G.linear) and parametrize.is_parametrized(G.blocks[0].bn1.gain)
    assert not parametrize.is_parametrized(G.shared) and parametrize.is_parametrized(D.embed)
    for sets, message in ((["model.conditioning=acgan"], "supports model.conditioning none"),
                          (["data.name=toy", "model.conditioning=none"], "trains on images"),
                          (["data.resolution=27"], "cannot build 27x27"),
                          (["model.z_dim=3"], "hierarchical z"),
                          (["tricks.minibatch=stddev"], "tricks.minibatch"),
                          (["biggan.orthogonal=-1.0"], "biggan.orthogonal")):
        with pytest.raises(GankitError, match=message) as err:
            biggan.validate(resolve("biggan-fashion", None, sets))
        assert "\n" not in str(err.value)


def test_train_sample_and_bit_exact_resume(tmp_path):
    assert main(["train", *TINY, "--out", str(tmp_path / "full"), "--steps", "4"]) == 0
    assert main(["train", *TINY, "--out", str(tmp_path / "half"), "--steps", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "4", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    assert full["step"] == resumed["step"] == 4
    for key in ("G", "D", "G_ema", "opt_g", "opt_d"):
        flat_full, flat_resumed = _tensors(full[key]), _tensors(resumed[key])
        assert flat_full.keys() == flat_resumed.keys()
        for name, tensor in flat_full.items():
            assert torch.equal(tensor, flat_resumed[name]), f"{key}.{name} differs after resume"
    line = (tmp_path / "full" / "log.jsonl").read_text().splitlines()[-1]
    assert '"orthogonal"' in line  # the G step ran the orthogonal regulariser
    assert main(["sample", str(tmp_path / "full"), "--out", str(tmp_path / "s.png"), "--n", "8",
                 "--class", "3", "--truncation", "0.5"]) == 0
    assert (tmp_path / "s.png").is_file()


def _tensors(state, prefix=""):
    """Every tensor of a nested state dict, by dotted name."""
    out = {}
    for key, value in state.items():
        if isinstance(value, dict):
            out.update(_tensors(value, f"{prefix}{key}."))
        elif torch.is_tensor(value):
            out[f"{prefix}{key}"] = value
    return out


def test_biggan_folder_trains_on_non_square_rgb_class_folders(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 255, (24, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / label / f"{i}.png")
    args = ["--preset", "biggan-folder", "--no-progress", "--threads", "1", "--data", str(tmp_path / "data"),
            "--set", "data.resolution=[24, 16]", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--set", "model.z_dim=12", "--set", "biggan.shared_dim=8", "--set", "train.batch_size=8",
            "--set", "log.sample_every=2", "--set", "log.checkpoint_every=2"]
    assert main(["train", *args, "--out", str(tmp_path / "run"), "--steps", "2"]) == 0
    state = load_checkpoint(tmp_path / "run")
    assert state["config"]["model"]["num_classes"] == 2  # taken from the class subfolders
    assert state["G"]["out_conv.parametrizations.weight.original"].shape[0] == 3
