"""WaveGAN and SpecGAN families through the CLI: bad audio inputs, train -> sample WAV -> eval, exact resume,
SpecGAN's spectrogram statistics in the checkpoint."""

import json
import math

import numpy as np
import pytest
import torch

from gankit.audio import SpectrogramCodec, read_wav, write_wav
from gankit.cli import main
from gankit.config import from_dict
from gankit.data.audio import load_wav_folder
from gankit.families import build_generator
from gankit.families.wavegan import GAP_S
from gankit.train.checkpoint import load_checkpoint

LENGTH = 1024
TINY = ["--no-progress", "--threads", "1", "--set", "train.batch_size=8", "--set", "train.n_critic=2",
        "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "model.z_dim=8", "--set", "log.every=1",
        "--set", "log.sample_every=2", "--set", "log.checkpoint_every=2", "--set", "log.n_samples=4",
        "--set", f"audio.length={LENGTH}", "--set", "audio.wav_samples=2"]
SPEC = ["--preset", "specgan-digits", "--set", "data.name=audio-folder", "--set", "audio.n_fft=64",
        "--set", "audio.hop=32", "--set", "data.resolution=[32, 32]"]


@pytest.fixture
def wav_folder(tmp_path):
    """Two classes of 8 tone clips each (440 / 880 Hz, random phase and gain), 0.1 s at 16 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(1600) / 16000
    for label, freq in (("low", 440), ("high", 880)):
        for i in range(8):
            clip = rng.uniform(0.3, 0.9) * np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
            write_wav(tmp_path / "clips" / label / f"{i}.wav", clip.astype(np.float32))
    return tmp_path / "clips"


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("gankit: error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_bad_audio_inputs_are_one_line_errors(tmp_path, wav_folder, capsys):
    (tmp_path / "empty").mkdir()
    line = _one_line_error(capsys, ["train", "--preset", "wavegan-folder", *TINY, "--data", str(tmp_path / "empty"),
                                    "--steps", "1", "--out", str(tmp_path / "r1")])
    assert "no .wav files" in line
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "x.wav").write_bytes(b"RIFF\x00\x00not a wav file at all")
    line = _one_line_error(capsys, ["train", "--preset", "wavegan-folder", *TINY, "--data", str(tmp_path / "corrupt"),
                                    "--steps", "1", "--out", str(tmp_path / "r2")])
    assert "none readable" in line
    line = _one_line_error(capsys, ["train", "--preset", "wavegan-folder", *TINY, "--data", str(wav_folder),
                                    "--set", "audio.length=5000", "--steps", "1", "--out", str(tmp_path / "r3")])
    assert "wavegan cannot build clips of 5000 samples" in line
    line = _one_line_error(capsys, ["train", *SPEC, *TINY, "--data", str(wav_folder), "--set", "data.resolution=64",
                                    "--steps", "1", "--out", str(tmp_path / "r4")])
    assert "data.resolution=[32, 32]" in line


def test_wavegan_trains_samples_wavs_and_evaluates(tmp_path, wav_folder, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "wavegan-folder", *TINY, "--data", str(wav_folder), "--steps", "2",
                 "--out", str(run)]) == 0
    grid, clip = run / "samples" / "step-0000002.png", run / "samples" / "step-0000002.wav"
    assert grid.is_file()
    samples, rate = read_wav(clip)  # 2 clips with a 0.25 s gap
    assert rate == 16000 and samples.shape == (1, 2 * LENGTH + int(GAP_S * 16000))
    assert main(["sample", str(run), "--format", "wav", "--n", "3", "--out", str(tmp_path / "wavs")]) == 0
    files = sorted((tmp_path / "wavs").glob("*.wav"))
    assert len(files) == 3 and read_wav(files[0])[0].shape == (1, LENGTH)
    assert np.abs(read_wav(files[0])[0]).max() > 0  # G's output, not silence
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 1.0 <= result["is"] <= 10.0 and result["fid"] >= 0 and sum(result["counts"]) == 20
    assert result["protocol"]["network"] == "spoken-digits" and result["protocol"]["checkpoint_step"] == 2


def _tensors(state, prefix=""):
    if isinstance(state, dict):
        for key, value in state.items():
            yield from _tensors(value, f"{prefix}{key}.")
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from _tensors(value, f"{prefix}{i}.")
    elif torch.is_tensor(state):
        yield prefix, state


@pytest.mark.parametrize("family", ["wavegan", "specgan"])
def test_resume_is_bit_exact(tmp_path, wav_folder, family):
    args = (["--preset", "wavegan-folder"] if family == "wavegan" else SPEC) + TINY + ["--data", str(wav_folder)]
    assert main(["train", *args, "--steps", "4", "--out", str(tmp_path / "full")]) == 0
    assert main(["train", *args, "--steps", "2", "--out", str(tmp_path / "half")]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "4", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    a, b = dict(_tensors(full)), dict(_tensors(resumed))
    assert a.keys() == b.keys() and len(a) > 10
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


def test_specgan_checkpoint_keeps_its_spectrogram_statistics(tmp_path, wav_folder):
    run = tmp_path / "spec"
    assert main(["train", *SPEC, *TINY, "--data", str(wav_folder), "--steps", "2", "--out", str(run)]) == 0
    state = load_checkpoint(run)
    saved = state["family"]["codec"]
    fitted = SpectrogramCodec(LENGTH, 64, 32).fit(load_wav_folder(wav_folder, 16000, LENGTH).waves)
    assert torch.allclose(saved["mean"], fitted.mean) and torch.allclose(saved["std"], fitted.std)
    assert saved["n_fft"] == 64 and saved["hop"] == 32
    # G from the config alone; the codec from the family state turns its spectrograms into audio.
    G = build_generator(from_dict(state["config"]))
    G.load_state_dict(state["G"])
    assert G.out_shape == (1, 32, 32)
    out = tmp_path / "three.wav"
    assert main(["sample", str(run), "--n", "3", "--out", str(out)]) == 0  # .wav suffix: one concatenated file
    samples, rate = read_wav(out)
    assert rate == 16000 and samples.shape == (1, 3 * LENGTH + 2 * int(GAP_S * 16000))
    del state["family"]["codec"]
    torch.save(state, tmp_path / "no-codec.pt")
    assert main(["sample", str(tmp_path / "no-codec.pt"), "--n", "1", "--out", str(tmp_path / "x.wav")]) == 2
