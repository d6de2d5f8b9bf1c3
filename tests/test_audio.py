"""Audio: WAV I/O, resampling, WAV folders, spectrograms + Griffin-Lim, spoken-digits, the audio classifier."""

import json
import math
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import wavfile

from gankit.audio import (SpectrogramCodec, griffin_lim, load_clip, read_wav, spectrogram_image, spectrogram_images,
                          stft_magnitude, write_wav)
from gankit.data.audio import load_spoken_digits, load_wav_folder, make_spoken_digits
from gankit.errors import GankitError
from gankit.metrics.audio_classifier import (AudioClassifier, audio_classifier_accuracy, audio_scores,
                                             fit_audio_classifier, load_audio_classifier)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt package espeak-ng not installed")
TINY_GRID = {"accents": ("en-us", "en"), "variants": ("m1", "f2"), "pitches": (50,), "speeds": (160,),
             "words": ("zero", "one")}


def tone(freq: float, length: int = 4096, rate: int = 16000, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * math.pi * freq * np.arange(length) / rate)).astype(np.float32)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(x))) * rate / len(x))


# ---------------------------------------------------------------- WAV files


def test_wav_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 1000)).astype(np.float32)
    x[0, :3] = [-1.0, 1.0, 0.0]
    write_wav(tmp_path / "a.wav", torch.from_numpy(x), rate=22050)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 22050 and y.shape == (2, 1000) and y.dtype == np.float32
    assert np.abs(y - x).max() <= 1 / 32768  # one int16 step
    write_wav(tmp_path / "b.wav", np.array([2.0, -3.0, 0.25]))  # out of range: clipped
    y, _ = read_wav(tmp_path / "b.wav")
    assert y.shape == (1, 3) and y[0, 0] == 32767 / 32768 and y[0, 1] == -1.0 and y[0, 2] == 0.25


def test_read_other_pcm_formats(tmp_path):
    wavfile.write(tmp_path / "f.wav", 8000, np.array([0.5, -0.25], np.float32))
    wavfile.write(tmp_path / "u8.wav", 8000, np.array([128, 255, 0], np.uint8))
    assert np.allclose(read_wav(tmp_path / "f.wav")[0], [[0.5, -0.25]])
    assert np.allclose(read_wav(tmp_path / "u8.wav")[0], [[0.0, 127 / 128, -1.0]])


def test_load_clip_resamples_mixes_down_and_pads(tmp_path):
    left, right = tone(441, 22050, 22050), tone(441, 22050, 22050)
    wavfile.write(tmp_path / "s.wav", 22050, (np.stack([left, right], 1) * 32767).astype(np.int16))
    clip = load_clip(tmp_path / "s.wav", rate=16000, length=20000)
    assert clip.shape == (20000,)
    # 1 s at 22,050 Hz is 16,000 samples at 16 kHz; the rest is zero padding.
    assert np.abs(clip[16100:]).max() == 0 and np.abs(clip[:16000]).max() > 0.4
    assert dominant_freq(clip[:16000], 16000) == pytest.approx(441, abs=2)
    assert load_clip(tmp_path / "s.wav", 16000, 1000).shape == (1000,)


def test_corrupt_wav_is_one_line_error(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(GankitError, match="cannot read WAV") as err:
        read_wav(tmp_path / "bad.wav")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- WAV folders


def test_wav_folder_classes_and_skipped_files(tmp_path):
    for cls, freq in (("high", 2000), ("low", 300)):
        for i in range(2):
            write_wav(tmp_path / cls / f"{i}.wav", tone(freq, 3000 + 1000 * i))
    (tmp_path / "low" / "broken.wav").write_bytes(b"garbage")
    (tmp_path / "low" / "notes.txt").write_text("not audio")
    with pytest.warns(UserWarning, match="skipped 1 unreadable WAV file"):
        data = load_wav_folder(tmp_path, length=4096)
    assert data.waves.shape == (4, 1, 4096) and data.waves.dtype == torch.float32
    assert data.class_names == ["high", "low"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.waves[0, 0, 3000:].abs().max() == 0  # a 3,000-sample clip is zero-padded
    assert data.num_classes == 2 and len(data) == 4


def test_wav_folder_unlabelled_when_files_at_top(tmp_path):
    write_wav(tmp_path / "a.wav", tone(500))
    write_wav(tmp_path / "sub" / "b.wav", tone(500))
    data = load_wav_folder(tmp_path, length=1024)
    assert data.labels is None and len(data) == 2


def test_wav_folder_bad_inputs(tmp_path):
    with pytest.raises(GankitError, match="no .wav files"):
        load_wav_folder(tmp_path)
    (tmp_path / "x.wav").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GankitError, match="none readable"):
            load_wav_folder(tmp_path)
    with pytest.raises(GankitError, match="not a folder"):
        load_wav_folder(tmp_path / "missing")


# ---------------------------------------------------------------- spectrograms


def speechlike(n: int = 2, length: int = 16384) -> torch.Tensor:
    """Harmonic chirps with an envelope, a stand-in for voiced speech: [n, 1, length]."""
    t = torch.arange(length) / 16000
    out = []
    for i in range(n):
        f0 = 120 + 40 * i
        phase = 2 * math.pi * (f0 * t + 30 * t ** 2)
        x = sum(torch.sin(h * phase) / h for h in range(1, 6)) * torch.exp(-((t - 0.5) ** 2) / 0.05)
        out.append(0.3 * x)
    return torch.stack(out)[:, None]


def test_codec_shapes_range_and_state(tmp_path):
    waves = speechlike()
    codec = SpectrogramCodec().fit(waves)
    specs = codec.encode(waves)
    assert codec.shape == (1, 128, 128) and specs.shape == (2, 1, 128, 128)
    assert specs.min() >= -1 and specs.max() <= 1
    # Per-bin normalisation: before clipping, each bin has mean 0 over the data it was fitted on.
    assert (codec.log_magnitude(waves).mean(dim=(0, 2)) - codec.mean).abs().max() < 1e-4
    torch.save(codec.state_dict(), tmp_path / "c.pt")
    again = SpectrogramCodec.from_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    assert torch.equal(again.encode(waves), specs)


def test_codec_bad_inputs():
    with pytest.raises(GankitError, match="multiple of hop"):
        SpectrogramCodec(length=10000, hop=128)
    codec = SpectrogramCodec(length=4096, n_fft=128, hop=32)
    assert codec.shape == (1, 64, 128)
    with pytest.raises(GankitError, match="no statistics"):
        codec.encode(torch.zeros(1, 1, 4096))
    with pytest.raises(GankitError, match="takes 4096"):
        codec.fit(torch.zeros(1, 1, 16384))


def spectral_convergence(target: torch.Tensor, estimate: torch.Tensor) -> float:
    return float((target - estimate).norm() / target.norm())


def test_griffin_lim_round_trip_error_small():
    waves = speechlike(2, 8192)[:, 0]
    mag = stft_magnitude(waves)
    gen = torch.Generator().manual_seed(0)
    rebuilt = griffin_lim(mag, waves.shape[-1], iterations=32, generator=gen)
    assert rebuilt.shape == waves.shape
    error = spectral_convergence(mag, stft_magnitude(rebuilt))
    first = spectral_convergence(mag, stft_magnitude(griffin_lim(mag, waves.shape[-1], iterations=1, generator=gen)))
    assert error < 0.1 and error < first / 2


def test_codec_spectrogram_griffin_lim_spectrogram_round_trip():
    waves = speechlike()
    codec = SpectrogramCodec().fit(waves)
    specs = codec.encode(waves)
    audio = codec.decode(specs, iterations=32, generator=torch.Generator().manual_seed(0))
    assert audio.shape == waves.shape and audio.abs().max() <= 1
    again = codec.encode(audio)
    assert spectral_convergence(codec.magnitude(specs), codec.magnitude(again)) < 0.1


def test_spectrogram_picture_puts_low_frequencies_at_the_bottom():
    img = spectrogram_image(torch.from_numpy(tone(500, 16384)))
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (129, 129)
    rows = np.asarray(img).astype(float).mean(axis=1)
    # 500 Hz is bin 8 of 129 (62.5 Hz per bin): the brightest row is 8 rows above the bottom.
    assert int(np.argmax(rows)) == 128 - 8
    pics = spectrogram_images(speechlike(3))
    assert pics.shape == (3, 1, 129, 129) and pics.min() >= -1 and pics.max() == 1


# ---------------------------------------------------------------- spoken-digits


@needs_espeak
def test_spoken_digits_deterministic_for_a_seed(tmp_path):
    a = make_spoken_digits(tmp_path / "a", seed=3, **TINY_GRID)
    b = make_spoken_digits(tmp_path / "b", seed=3, **TINY_GRID)
    c = make_spoken_digits(tmp_path / "c", seed=4, **TINY_GRID)
    files = sorted(p.relative_to(a) for p in a.rglob("*.wav"))
    assert len(files) == 2 * 2 * 2  # voices x words x pitches x speeds
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    # Seed 4 holds out other voices, so compare clips by digit and name, whichever split holds them.
    by_name_c = {(p.parent.name, p.name): p.read_bytes() for p in c.rglob("*.wav")}
    assert all(by_name_c[(f.parent.name, f.name)] != (a / f).read_bytes() for f in files), "the seed sets gain and onset"
    recipe = json.loads((a / "recipe.json").read_text())
    assert recipe["seed"] == 3 and recipe["clips"] == 8 and recipe["espeak_ng"].startswith("eSpeak NG")
    # Split by voice: accent i holds out variant (i + seed) % 2.
    assert recipe["test_voices"] == ["en-us+f2", "en+m1"]
    test_names = {p.name.split("_")[0] for p in (a / "test").rglob("*.wav")}
    train_names = {p.name.split("_")[0] for p in (a / "train").rglob("*.wav")}
    assert test_names == set(recipe["test_voices"]) and not test_names & train_names


@needs_espeak
def test_spoken_digits_cached_and_loaded(tmp_path):
    folder = make_spoken_digits(tmp_path / "sd", **TINY_GRID)
    stamp = (folder / "recipe.json").stat().st_mtime_ns
    assert make_spoken_digits(tmp_path / "sd", **TINY_GRID) == folder
    assert (folder / "recipe.json").stat().st_mtime_ns == stamp, "a complete set is reused, not remade"
    test = load_spoken_digits("test", folder)
    assert test.waves.shape == (4, 1, 16384) and test.class_names == ["zero", "one"]
    assert sorted(test.labels.tolist()) == [0, 0, 1, 1]
    peaks = test.waves.abs().amax(dim=(1, 2))
    assert ((peaks > 0.45) & (peaks < 0.96)).all()  # peak-normalised to a gain in [0.5, 0.95]
    with pytest.raises(GankitError, match="split"):
        load_spoken_digits("val", folder)


def test_spoken_digits_bad_inputs(tmp_path):
    (tmp_path / "mine.txt").write_text("user file")
    with pytest.raises(GankitError, match="not a spoken-digits folder"):
        make_spoken_digits(tmp_path, **TINY_GRID)
    with pytest.raises(GankitError, match="gankit data make spoken-digits"):
        load_spoken_digits("train", tmp_path / "none", make=False)
    with pytest.raises(GankitError, match="unknown spoken-digits option"):
        make_spoken_digits(tmp_path / "x", voices=("en",))


def test_spoken_digits_without_espeak_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GankitError, match="apt-get install -y espeak-ng"):
        make_spoken_digits(tmp_path / "sd")


# ---------------------------------------------------------------- the audio classifier


def test_audio_classifier_learns_tones():
    torch.manual_seed(0)
    freqs = torch.tensor([300.0, 1500.0, 4000.0])
    labels = torch.arange(3).repeat(10)
    t = torch.arange(4096) / 16000  # the shortest clip the classifier takes (32 hops)
    onsets = torch.randint(0, 3000, (30,))
    waves = torch.stack([0.5 * torch.sin(2 * math.pi * freqs[y] * t) * ((t * 16000 >= s) & (t * 16000 < s + 1000))
                         for y, s in zip(labels, onsets)])[:, None]
    model = fit_audio_classifier(waves, labels, epochs=15, seed=0)
    assert audio_classifier_accuracy(model, waves, labels) >= 0.9  # chance is 1/3
    assert model.features(waves[:2]).shape == (2, 128) and model(waves[:2, :, :1000]).shape == (2, 3)


def test_shipped_audio_classifier_scores():
    model, info = load_audio_classifier()
    assert isinstance(model, AudioClassifier) and info["test_accuracy"] > 0.9
    assert len(info["sha256"]) == 64
    torch.manual_seed(0)
    real, fake = torch.randn(20, 1, 16384) * 0.1, torch.randn(10, 1, 16384) * 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FID's warning about fewer samples than features
        result = audio_scores(fake, real, splits=2)
    assert 1.0 <= result["is"] <= 10.0 and result["fid"] >= 0 and sum(result["counts"]) == 10
    assert result["protocol"]["weights_sha256"] == info["sha256"] and result["protocol"]["n_fake"] == 10


def test_audio_classifier_sha_mismatch(tmp_path):
    model, info = load_audio_classifier()
    torch.save(model.state_dict(), tmp_path / "spoken-digits.pt")
    (tmp_path / "spoken-digits.json").write_text(json.dumps(info))
    with pytest.raises(GankitError, match="sha256"):
        load_audio_classifier(weights_dir=tmp_path)


def test_data_make_parser():
    import argparse

    from gankit import cli_data

    parser = argparse.ArgumentParser()
    cli_data.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "make", "spoken-digits", "--out", "x", "--seed", "2", "--force"])
    assert (args.action, args.name, args.out, args.seed, args.force) == ("make", "spoken-digits", "x", 2, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "make", "cifar"])


@needs_espeak
def test_shipped_classifier_recognises_fresh_espeak_digits(tmp_path):
    from gankit.metrics.audio_classifier import extract_audio_features

    folder = make_spoken_digits(tmp_path / "sd", accents=("en-gb-x-rp",), variants=("m5",), pitches=(40, 60),
                                speeds=(150,))
    data = load_spoken_digits("train", folder)  # one variant: no voice is held out
    _, logits = extract_audio_features(data.waves)
    assert len(data) == 20 and (logits.argmax(1) == data.labels).float().mean() >= 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FID's warning about 20 samples for 128 features
        result = audio_scores(data.waves, data.waves, data.labels, splits=2)
    assert result["classes_covered"] == 10 and result["fid"] < 1.0
