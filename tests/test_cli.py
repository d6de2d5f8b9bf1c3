"""CLI smoke runs in a temp dir, and every documented bad input: one line, exit code 2, nothing overwritten."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main

TOY = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=16",
       "--set", "model.g_width=8", "--set", "model.d_width=8"]


def user_error(capsys, argv: list[str], pattern: str) -> str:
    """Run the CLI, expect exit 2 and exactly one stderr line matching `pattern`."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("gankit: error: ")
    assert pattern in err, err
    return err


def test_train_writes_the_run_directory(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "6", "--set", "log.every=2",
                 "--set", "log.sample_every=3"]) == 0
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "latest.pt").is_file()
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4, 6]
    assert {"d_loss", "g_loss", "real_score", "fake_score", "images_per_s", "nimg"} <= set(lines[0])
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000003.png", "step-0000006.png"]


def test_default_run_dir_is_numbered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TOY, "--steps", "1"]) == 0
    assert main(["train", *TOY, "--steps", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["00000-toy-ring", "00001-toy-ring"]


def test_dry_run_prints_resolved_config_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "dcgan-fashion", "--steps", "123", "--seed", "7", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "steps: 123" in out and "seed: 7" in out and "name: dcgan" in out
    assert not (tmp_path / "runs").exists()


def test_sample_formats_from_checkpoint_alone(tmp_path, tiny_digits_args, capsys):
    run = tmp_path / "run"
    assert main(["train", *tiny_digits_args, "--out", str(run), "--steps", "2"]) == 0
    ckpt = str(run / "checkpoints" / "latest.pt")
    assert main(["sample", ckpt, "--n", "5", "--seed", "0", "--out", str(tmp_path / "a.npy")]) == 0
    values = np.load(tmp_path / "a.npy")
    assert values.shape == (5, 1, 16, 16) and values.dtype == np.float32
    assert values.min() >= -1 and values.max() <= 1
    assert main(["sample", str(run), "--n", "5", "--seed", "0", "--out", str(tmp_path / "b.npy")]) == 0
    assert np.array_equal(values, np.load(tmp_path / "b.npy"))  # same seed, same samples
    assert main(["sample", ckpt, "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size[0] >= 64
    assert main(["sample", ckpt, "--n", "3", "--format", "png-dir", "--out", str(tmp_path / "pngs")]) == 0
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert Image.open(tmp_path / "pngs" / "000000.png").size == (16, 16)


def test_sample_toy_npy_is_points(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "1"]) == 0
    assert main(["sample", str(run), "--n", "10", "--out", str(tmp_path / "p.npy")]) == 0
    assert np.load(tmp_path / "p.npy").shape == (10, 2)
    # The truncation trick gives other points from the same latents (closer to the centre of z's image).
    assert main(["sample", str(run), "--n", "10", "--out", str(tmp_path / "t.npy"), "--truncation", "0.5"]) == 0
    assert np.load(tmp_path / "t.npy").shape == (10, 2)
    assert not np.allclose(np.load(tmp_path / "t.npy"), np.load(tmp_path / "p.npy"))


def test_sample_uses_the_runs_sample_truncation_unless_told_otherwise(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--set", "tricks.sample_truncation=0.5", "--out", str(run), "--steps", "1"]) == 0
    for name, flags in (("default", []), ("half", ["--truncation", "0.5"]), ("plain", ["--truncation", "0"])):
        capsys.readouterr()
        assert main(["sample", str(run), "--n", "10", "--out", str(tmp_path / f"{name}.npy"), *flags]) == 0
        assert ("truncated at 0.5 stds" in capsys.readouterr().out) is (name != "plain")
    default, half, plain = (np.load(tmp_path / f"{n}.npy") for n in ("default", "half", "plain"))
    assert np.array_equal(default, half) and not np.allclose(default, plain)
    user_error(capsys, ["train", *TOY, "--set", "tricks.sample_truncation=-1", "--out", str(tmp_path / "bad")],
               "tricks.sample_truncation must be >= 0")


def test_python_m_gankit_and_exit_codes(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "gankit", "presets"], capture_output=True, text=True)
    assert ok.returncode == 0 and "dcgan-fashion" in ok.stdout
    families = {line.split()[0]: line.split()[1] for line in ok.stdout.splitlines()}
    assert families["dcgan-fashion"] == "gan" and families["cyclegan-fashion"] == "cyclegan"  # each preset's family
    bad = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "extra, pattern",
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--preset", "toy-ring", "--set", "train.lr=1"], "unknown config key 'train.lr'"),
        (["--preset", "toy-ring", "--set", "train.batch_size=big"], "must be of type int"),
        (["--preset", "toy-ring", "--set", "train.g_lr=-1"], "learning rates must be > 0"),
        (["--preset", "toy-ring", "--set", "train.batch_size=0"], "batch_size must be >= 1"),
        (["--preset", "dcgan-fashion", "--set", "data.resolution=30"], "dcgan cannot build 30x30"),
        (["--preset", "dcgan-folder"], "needs a path"),
        (["--preset", "toy-grid", "--set", "tricks.latent_mixture_layout=grid"], "choose random or kmeans"),
        (["--preset", "toy-grid", "--set", "tricks.latent_mixture_truncation=-1"], "truncation must be >= 0"),
        (["--preset", "toy-grid", "--set", "tricks.latent_mixture_truncation_start=1"], "start must be in [0, 1)"),
        (["--preset", "toy-ring", "--set", "tricks.latent_mixture_truncation_start=0.5"],
         "needs tricks.latent_mixture >= 2 and tricks.latent_mixture_truncation > 0"),
        ([], "choose what to train"),
    ],
)
def test_train_bad_input(tmp_path, capsys, extra, pattern):
    user_error(capsys, ["train", *extra, "--out", str(tmp_path / "r"), "--steps", "1"], pattern)


def test_missing_data_path(tmp_path, capsys):
    user_error(capsys, ["train", "--preset", "dcgan-folder", "--data", str(tmp_path / "nowhere"),
                        "--out", str(tmp_path / "r")], "does not exist")


def test_empty_and_all_corrupt_folders(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    user_error(capsys, ["train", "--preset", "dcgan-folder", "--data", str(empty), "--out", str(tmp_path / "r")],
               "no usable image")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "a.png").write_bytes(b"not a png")
    capsys.readouterr()
    assert main(["train", "--preset", "dcgan-folder", "--data", str(corrupt), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("gankit: warning: skipped 1 unreadable image")
    assert err[1].startswith("gankit: error: ") and "no usable image" in err[1] and len(err) == 2


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    user_error(capsys, ["train", *TOY, "--out", str(blocker / "run")], "cannot write to run directory")


def test_existing_run_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "2"]) == 0
    before = (run / "checkpoints" / "latest.pt").read_bytes()
    user_error(capsys, ["train", *TOY, "--out", str(run), "--steps", "2"], "already holds a run")
    assert (run / "checkpoints" / "latest.pt").read_bytes() == before


def test_resume_bad_inputs(tmp_path, capsys):
    user_error(capsys, ["train", "--resume", str(tmp_path / "missing.pt")], "does not exist")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    user_error(capsys, ["train", "--resume", str(corrupt)], "corrupt or not a gankit checkpoint")
    user_error(capsys, ["sample", str(corrupt)], "corrupt or not a gankit checkpoint")
    user_error(capsys, ["train", "--resume", str(tmp_path)], "holds no checkpoints/latest.pt")
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "2"]) == 0
    user_error(capsys, ["train", "--resume", str(run), "--preset", "dcgan-fashion", "--steps", "4"],
               "checkpoint is from preset 'toy-ring'")
    user_error(capsys, ["train", "--resume", str(run), "--set", "train.g_lr=1"], "cannot change when resuming")
    user_error(capsys, ["train", "--resume", str(run)], "already at step 2")


def test_checkpoint_from_another_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "1"]) == 0
    ckpt = run / "checkpoints" / "latest.pt"
    state = torch.load(ckpt, weights_only=True)
    state["config"]["model"]["g_width"] = 32  # config and weights now disagree
    torch.save(state, tmp_path / "mixed.pt")
    user_error(capsys, ["sample", str(tmp_path / "mixed.pt"), "--out", str(tmp_path / "x.png")],
               "different architecture")
    user_error(capsys, ["train", "--resume", str(tmp_path / "mixed.pt"), "--steps", "3",
                        "--out", str(tmp_path / "r2")], "different architecture")


def test_sample_bad_inputs(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "1"]) == 0
    user_error(capsys, ["sample", str(run), "--n", "0"], "--n must be >= 1")
    user_error(capsys, ["sample", str(run), "--truncation", "-1", "--out", str(tmp_path / "p.npy")],
               "--truncation must be >= 0")
    assert not (tmp_path / "p.npy").exists()
    user_error(capsys, ["sample", str(run), "--format", "png-dir", "--out", str(tmp_path / "d")], "2-D points")
