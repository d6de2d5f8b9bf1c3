"""Audio datasets: a folder of WAV files, and `spoken-digits` made on this machine with espeak-ng.

Every loader returns an `AudioData`: float32 clips `[N, 1, L]` in `[-1, 1]` at 16 kHz plus optional
int64 labels `[N]`.

spoken-digits: the words "zero".."nine" spoken by espeak-ng (Debian package `espeak-ng`) in
7 English accents x 8 voice variants (56 voices), 3 pitches and 2 speeds: 3,360 clips of
16,384 samples (1.02 s) at 16 kHz. Each utterance is trimmed of silence, peak-normalised to a
seeded gain and placed at a seeded offset in its clip. Train/test is split by voice: for accent
i, the variant `VARIANTS[(i + seed) % 8]` is a test voice (7 test voices, 420 clips; 2,940 train),
so the test set holds voices never heard in training while every accent and every variant appears
in both splits. `make_spoken_digits` writes `recipe.json` (espeak-ng version, voices, pitches,
speeds, seed, split rule) beside the WAVs; the same recipe and espeak-ng version give the same
files, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.audio import CLIP_LENGTH, SAMPLE_RATE, fit_length, load_clip, read_wav, resample, write_wav
from gankit.errors import GankitError

AUDIO_SUFFIXES = {".wav", ".wave"}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# "en" is British English; "en-gb" itself ignores +variants and "en-us-nyc" speaks these words as
# "en-us" does in espeak-ng 1.51, so neither is used (every voice below gives a distinct waveform).
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = ("m1", "m2", "m3", "m5", "m7", "f1", "f2", "f4")
PITCHES = (35, 50, 65)  # espeak-ng -p, 0..99
SPEEDS = (140, 175)  # espeak-ng -s, words per minute
RECIPE_VERSION = 1
SPLITS = ("train", "test")


@dataclass
class AudioData:
    """An in-memory set of clips.

    waves: `[N, 1, L]` float32 in `[-1, 1]`, contiguous, at 16 kHz.
    labels: `[N]` int64 class indices in `0..K-1`, or None when unlabelled.
    class_names: names of classes `0..K-1`, or None.
    """

    waves: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str] | None

    @property
    def num_classes(self) -> int:
        """Number of classes K; 0 when the data has no labels."""
        return 0 if self.labels is None else len(self.class_names or []) or int(self.labels.max()) + 1

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one clip, `(1, L)`."""
        return int(self.waves.shape[1]), int(self.waves.shape[2])

    def __len__(self) -> int:
        return int(self.waves.shape[0])


# ---------------------------------------------------------------- a folder of WAV files


def _list_wavs(root: Path) -> list[str]:
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [r for r in rels if not any(part.startswith(".") for part in r.split("/"))
            and os.path.splitext(r)[1].lower() in AUDIO_SUFFIXES]


def load_wav_folder(path: str | Path, rate: int = SAMPLE_RATE, length: int = CLIP_LENGTH) -> AudioData:
    """Every WAV file under `path` (recursively) as mono clips `[N, 1, length]` at `rate`.

    Any sample rate is resampled, stereo averaged to mono, longer clips cropped to their first
    `length` samples and shorter ones zero-padded at the end. Labels: when every file sits in a
    subfolder, each top-level subfolder is a class (sorted names -> 0..K-1); otherwise unlabelled.
    Unreadable files are skipped and counted in one warning. Raises GankitError when the path is
    not a folder or holds no readable WAV file.
    """
    root = Path(path).expanduser()
    if length < 1 or rate < 1:
        raise GankitError(f"clip length and rate must be >= 1, got length={length}, rate={rate}")
    if not root.is_dir():
        raise GankitError(f"audio data path {root} is not a folder; give a folder of .wav files")
    rels = _list_wavs(root)
    clips, kept, bad = [], [], []
    for rel in rels:
        try:
            clips.append(load_clip(root / rel, rate, length))
            kept.append(rel)
        except GankitError:
            bad.append(rel)
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable WAV file(s) of {len(rels)} in {root} (first: {bad[0]})",
                      stacklevel=2)
    if not clips:
        found = f"{len(rels)} WAV file(s), none readable" if rels else "no .wav files"
        raise GankitError(f"audio folder {root} has {found}; put 16-bit PCM or float .wav files in it")
    labels, class_names = None, None
    if all("/" in r for r in kept):
        class_names = sorted({r.split("/", 1)[0] for r in kept})
        index = {name: i for i, name in enumerate(class_names)}
        labels = torch.tensor([index[r.split("/", 1)[0]] for r in kept], dtype=torch.int64)
    waves = torch.from_numpy(np.stack(clips)[:, None].copy())
    return AudioData(waves, labels, class_names)


# ---------------------------------------------------------------- spoken-digits (espeak-ng)


def spoken_digits_dir() -> Path:
    """Where spoken-digits is cached: `$GANKIT_DATA/spoken-digits`, else `~/.cache/gankit/spoken-digits`."""
    root = os.environ.get("GANKIT_DATA")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "gankit"
    return base / "spoken-digits"


def espeak_version() -> str:
    """The installed espeak-ng's version line; GankitError saying how to install it when absent."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise GankitError("espeak-ng is not installed; install it with `apt-get install -y espeak-ng`")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return out.split("  Data at:")[0].strip() or "unknown"


def spoken_digits_recipe(seed: int = 0, accents: tuple[str, ...] = ACCENTS, variants: tuple[str, ...] = VARIANTS,
                         pitches: tuple[int, ...] = PITCHES, speeds: tuple[int, ...] = SPEEDS,
                         words: tuple[str, ...] = DIGIT_WORDS) -> dict:
    """The full description of one spoken-digits set (what `recipe.json` records)."""
    if not accents or not variants or not pitches or not speeds or not words:
        raise GankitError("spoken-digits needs at least one accent, variant, pitch, speed and word")
    test = [f"{a}+{variants[(i + seed) % len(variants)]}" for i, a in enumerate(accents)] if len(variants) > 1 else []
    return {
        "name": "spoken-digits", "recipe_version": RECIPE_VERSION, "espeak_ng": espeak_version(),
        "seed": int(seed), "rate": SAMPLE_RATE, "length": CLIP_LENGTH, "words": list(words),
        "accents": list(accents), "variants": list(variants), "pitches": list(pitches), "speeds": list(speeds),
        "voices": [f"{a}+{v}" for a in accents for v in variants],
        "split_rule": "test voices: for accent i, variant variants[(i + seed) % len(variants)]; the rest train",
        "test_voices": test,
        "processing": "espeak-ng -w at its native rate; resample to 16 kHz; trim silence (1% of peak); "
                      "peak gain U(0.5, 0.95) and onset U(0, slack) from a per-clip seed; int16 PCM",
    }


def _clip_rng(seed: int, voice: str, word: str, pitch: int, speed: int) -> np.random.Generator:
    # A per-clip stream keyed by its content, so a subset of the grid makes the same clips.
    key = hashlib.sha256(f"{seed}|{voice}|{word}|{pitch}|{speed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


def _speak(exe: str, voice: str, word: str, pitch: int, speed: int, tmp: Path) -> np.ndarray:
    """espeak-ng's utterance of `word` as mono float32 at 16 kHz."""
    target = tmp / "say.wav"
    result = subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(target), word],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0 or not target.is_file():
        raise GankitError(f"espeak-ng failed for voice {voice!r}: {result.stderr.strip()[:120] or 'no output'}; "
                          "check `espeak-ng --voices=en`")
    samples, rate = read_wav(target)
    return resample(samples.mean(0), rate, SAMPLE_RATE)


def _place(utterance: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
    """Trim silence, scale to a random peak and put the word at a random onset in a clip of `length`."""
    peak = float(np.abs(utterance).max())
    if peak <= 0:
        raise GankitError("espeak-ng produced a silent utterance; check the espeak-ng installation")
    loud = np.flatnonzero(np.abs(utterance) > 0.01 * peak)
    word = utterance[loud[0]:loud[-1] + 1][:length]
    word = word * (rng.uniform(0.5, 0.95) / peak)
    clip = np.zeros(length, np.float32)
    onset = int(rng.integers(0, length - len(word) + 1))
    clip[onset:onset + len(word)] = word
    return clip


def _generate(recipe: dict, out: Path) -> int:
    exe = shutil.which("espeak-ng")
    test_voices = set(recipe["test_voices"])
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for voice in recipe["voices"]:
            split = "test" if voice in test_voices else "train"
            for label, word in enumerate(recipe["words"]):
                for pitch in recipe["pitches"]:
                    for speed in recipe["speeds"]:
                        rng = _clip_rng(recipe["seed"], voice, word, pitch, speed)
                        clip = _place(_speak(exe, voice, word, pitch, speed, Path(tmp)), rng, recipe["length"])
                        write_wav(out / split / str(label) / f"{voice}_p{pitch}_s{speed}.wav", clip, recipe["rate"])
                        count += 1
    return count


def make_spoken_digits(out_dir: str | Path | None = None, seed: int = 0, force: bool = False,
                       **grid: tuple) -> Path:
    """Make (once) the spoken-digits set in `out_dir` (default `spoken_digits_dir()`); returns the folder.

    Layout: `<out>/{train,test}/<digit>/<voice>_p<pitch>_s<speed>.wav` and `<out>/recipe.json`.
    If the folder already holds a complete set with the same recipe it is reused as is, unless
    `force`. `grid` may override `accents`, `variants`, `pitches`, `speeds` or `words` (tuples;
    for small test sets). Takes ~40 s on one core for the default 3,360 clips.
    """
    out = Path(out_dir).expanduser() if out_dir is not None else spoken_digits_dir()
    unknown = set(grid) - {"accents", "variants", "pitches", "speeds", "words"}
    if unknown:
        raise GankitError(f"unknown spoken-digits option(s) {sorted(unknown)}; use accents, variants, pitches, speeds, words")
    recipe_path = out / "recipe.json"
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not recipe_path.is_file():
        raise GankitError(f"{out} exists and is not a spoken-digits folder; choose an empty or new --out folder")
    recipe = spoken_digits_recipe(seed, **{k: tuple(v) for k, v in grid.items()})
    if recipe_path.is_file() and not force:
        old = json.loads(recipe_path.read_text())
        if {k: v for k, v in old.items() if k != "clips"} == recipe:
            return out
    # Build next to the target, then swap it in, so an interrupted run never leaves a half set.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".spoken-digits-", dir=out.parent))
    try:
        recipe["clips"] = _generate(recipe, staging)
        (staging / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def load_spoken_digits(split: str = "train", root: str | Path | None = None, make: bool = True,
                       seed: int = 0) -> AudioData:
    """The spoken-digits `split` ("train" or "test") as AudioData, class names "zero".."nine".

    Made on first use (about a minute) when `make`; otherwise GankitError says how to make it.
    """
    if split not in SPLITS:
        raise GankitError(f"spoken-digits split must be one of {', '.join(SPLITS)}, got {split!r}")
    folder = Path(root).expanduser() if root is not None else spoken_digits_dir()
    if not (folder / "recipe.json").is_file():
        if not make:
            raise GankitError(f"spoken-digits not found in {folder}; run `gankit data make spoken-digits`")
        make_spoken_digits(folder, seed=seed)
    recipe = json.loads((folder / "recipe.json").read_text())
    data = load_wav_folder(folder / split, recipe["rate"], recipe["length"])
    if data.labels is None:
        raise GankitError(f"{folder / split} is not laid out in digit subfolders; remake it with --force")
    # Folders are named by label index; map sorted folder names back to their digit.
    digits = torch.tensor([int(name) for name in data.class_names], dtype=torch.int64)
    words = recipe["words"]
    return AudioData(data.waves, digits[data.labels], list(words))


__all__ = ["AudioData", "load_wav_folder", "make_spoken_digits", "load_spoken_digits", "spoken_digits_dir",
           "spoken_digits_recipe", "espeak_version", "fit_length"]
