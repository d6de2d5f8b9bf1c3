"""Latent-space tools: lerp / slerp, paths, arithmetic, seed parsing, figures, and the
`gankit interpolate` / `gankit arithmetic` commands with their one-line errors."""

import argparse
import math

import pytest
import torch
from PIL import Image

from gankit import cli_latent
from gankit.cli import main
from gankit.errors import GankitError
from gankit.latent_tools import (interpolation_path, latent_arithmetic, lerp, parse_seeds, rows_figure, slerp,
                                 write_gif)


def test_slerp_endpoints_norm_and_midpoint():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(32, generator=g), torch.randn(32, generator=g)
    b = b * a.norm() / b.norm()  # equal norms
    t = torch.linspace(0, 1, 9)
    path = slerp(a, b, t)
    assert path.shape == (9, 32)
    assert torch.allclose(path[0], a, atol=1e-6) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), a.norm().expand(9), rtol=1e-5)  # stays on the sphere
    assert lerp(a, b, t)[4].norm() < 0.99 * a.norm()  # where lerp cuts inside it
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(e0, e1, torch.tensor([0.5]))[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    same = slerp(e0, e0 * 2, torch.tensor([0.5]))  # parallel: the angle is 0, falls back to lerp
    assert torch.allclose(same[0], torch.tensor([1.5, 0.0]))


def test_slerp_and_lerp_work_per_layer_on_the_last_dimension():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert path.shape == (3, 3, 8)
    assert torch.allclose(path[1, 2], slerp(a[2], b[2], torch.tensor([0.5]))[0], atol=1e-6)
    assert torch.allclose(lerp(a, b, torch.tensor([0.25]))[0], a + 0.25 * (b - a))


def test_interpolation_path_segments_share_their_keyframes():
    keys = torch.randn(3, 5)
    path = interpolation_path(keys, 4, "lerp")
    assert path.shape == (2, 4, 5)
    assert torch.allclose(path[0, -1], keys[1]) and torch.allclose(path[1, 0], keys[1])
    for bad, message in (((keys[:1], 4, "lerp"), "at least 2 seeds"), ((keys, 1, "lerp"), "--steps"),
                         ((keys, 4, "cubic"), "--mode")):
        with pytest.raises(GankitError, match=message):
            interpolation_path(*bad)


def test_latent_arithmetic_and_group_means():
    a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # mean (2, 0)
    b = torch.tensor([[0.0, 4.0]])
    c = torch.tensor([[1.0, 1.0], [1.0, 3.0]])  # mean (1, 2)
    assert torch.equal(latent_arithmetic(a, b, c), torch.tensor([3.0, -2.0]))


@pytest.mark.parametrize("text", ["", "1,,2", "a,b", "-1,2", "1.5"])
def test_parse_seeds_rejects_bad_lists_in_one_line(text):
    with pytest.raises(GankitError) as err:
        parse_seeds(text)
    assert "\n" not in str(err.value)


def test_parse_seeds_counts():
    assert parse_seeds(" 3, 1,2 ") == [3, 1, 2]
    with pytest.raises(GankitError, match="at least 2 seeds"):
        parse_seeds("4", minimum=2)


def test_figures_strip_rows_and_gif(tmp_path):
    rows = [torch.zeros(3, 1, 8, 8), torch.ones(1, 1, 8, 8)]
    figure = rows_figure(rows, min_size=1)
    assert figure.size == (3 * 10 + 2, 2 * 10 + 2)
    assert figure.getpixel((2, 12)) == 255  # the second row's image is white ([-1, 1] -> 255)
    assert rows_figure(rows, labels=["a", "a-b+c"], min_size=1).size[0] > figure.size[0]
    write_gif(torch.linspace(-1, 1, 5).view(5, 1, 1, 1).expand(5, 3, 4, 4), tmp_path / "x.gif")
    with Image.open(tmp_path / "x.gif") as gif:
        assert gif.n_frames == 5 and gif.size[0] >= 128


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny unconditional DCGAN and a tiny class-conditional BigGAN run, two steps each."""
    root = tmp_path_factory.mktemp("latent")
    dcgan = ["--preset", "dcgan-digits", "--set", "data.resolution=16", "--set", "model.g_width=8",
             "--set", "model.d_width=8", "--set", "model.z_dim=8", "--set", "train.batch_size=16"]
    big = ["--preset", "biggan-fashion", "--set", "data.name=digits", "--set", "data.resolution=16",
           "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "model.z_dim=12",
           "--set", "biggan.shared_dim=8", "--set", "train.batch_size=16"]
    for name, args in (("dcgan", dcgan), ("biggan", big)):
        assert main(["train", *args, "--no-progress", "--threads", "1", "--steps", "2",
                     "--out", str(root / name)]) == 0
    return root


def run(argv: list[str]) -> int:
    """`gankit interpolate|arithmetic ...` through the commands' own parsers (cli.py wires them as main())."""
    parser = argparse.ArgumentParser(prog="gankit")
    cli_latent.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return {"interpolate": cli_latent.cmd_interpolate, "arithmetic": cli_latent.cmd_arithmetic}[args.command](args)


def test_interpolate_writes_a_strip_and_a_gif(checkpoints, tmp_path):
    for name in ("dcgan", "biggan"):
        strip = tmp_path / f"{name}.png"
        assert run(["interpolate", str(checkpoints / name), "--seeds", "1,2,3", "--steps", "5", "--mode", "slerp",
                    "--out", str(strip), "--device", "cpu"]) == 0
        with Image.open(strip) as image:
            assert image.size[0] > image.size[1]  # 2 rows of 5
        gif = tmp_path / f"{name}.gif"
        assert run(["interpolate", str(checkpoints / name), "--seeds", "1,2,3", "--steps", "5", "--mode", "lerp",
                    "--out", str(gif), "--truncation", "0.7"]) == 0
        with Image.open(gif) as image:
            assert image.n_frames == 9  # 5 + 4: the shared keyframe is not repeated


def test_arithmetic_writes_groups_means_and_result(checkpoints, tmp_path, capsys):
    out = tmp_path / "arith.png"
    assert run(["arithmetic", str(checkpoints / "biggan"), "--a", "1,2,3", "--b", "4", "--c", "5,6",
                "--out", str(out), "--class", "2", "--truncation", "1.0"]) == 0
    assert out.is_file() and "truncated at 1 by resampling z" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "1"], "at least 2 seeds"),
    (["--seeds", "1,x"], "comma-separated"),
    (["--seeds", "1,2", "--steps", "1"], "--steps must be >= 2"),
    (["--seeds", "1,2", "--space", "w"], "no W space"),
    (["--seeds", "1,2", "--class", "1"], "unconditional"),
    (["--seeds", "1,2", "--truncation", "-1"], "truncation must be >= 0"),
])
def test_interpolate_bad_inputs_are_one_line_errors(checkpoints, tmp_path, extra, message):
    with pytest.raises(GankitError, match=message) as err:
        run(["interpolate", str(checkpoints / "dcgan"), "--out", str(tmp_path / "x.png"), *extra])
    assert "\n" not in str(err.value) and not (tmp_path / "x.png").exists()


def test_bad_outputs_and_checkpoints_are_one_line_errors(checkpoints, tmp_path):
    with pytest.raises(GankitError, match="must end in .png or .gif"):
        run(["interpolate", str(checkpoints / "dcgan"), "--seeds", "1,2", "--out", str(tmp_path / "x.jpg")])
    with pytest.raises(GankitError, match="must end in .png"):
        run(["arithmetic", str(checkpoints / "dcgan"), "--a", "1", "--b", "2", "--c", "3", "--out", str(tmp_path / "x.gif")])
    with pytest.raises(GankitError, match="class index 12 is out of range"):
        run(["arithmetic", str(checkpoints / "biggan"), "--a", "1", "--b", "2", "--c", "3", "--class", "12",
             "--out", str(tmp_path / "y.png")])
    with pytest.raises(GankitError):
        run(["interpolate", str(tmp_path / "missing"), "--seeds", "1,2", "--out", str(tmp_path / "z.png")])
