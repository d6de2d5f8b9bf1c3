"""Audio from a WaveGAN or SpecGAN checkpoint: `gankit sample CKPT --format wav|wav-concat` (or `--out x.wav`).

WaveGAN's G makes the clips; SpecGAN's G makes spectrograms that are inverted by Griffin-Lim with
the per-bin statistics saved in the checkpoint (`state["family"]["codec"]`). Clips are written
at the run's `audio.rate` as 16-bit PCM WAV files.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.audio import write_wav
from gankit.errors import GankitError

AUDIO_FAMILIES = ("wavegan", "specgan")
AUDIO_FORMATS = ("wav", "wav-concat")


def is_audio_checkpoint(cfg) -> bool:
    """True for a run of an audio family (its samples can be written as WAV files)."""
    return cfg.model.family in AUDIO_FAMILIES


def generate_audio(checkpoint: str | Path, n: int, seed: int = 0, device: str = "auto",
                   no_ema: bool = False) -> tuple[torch.Tensor, int, dict]:
    """`(clips [n, 1, L] in [-1, 1], sample rate, info)` from a checkpoint's G_ema (else G); latents from `seed`."""
    from gankit.families import load_generator
    from gankit.families.wavegan import DECODE_SEED_OFFSET, audio_codec
    from gankit.sample import fixed_latents, generate

    if n < 1:
        raise GankitError(f"--n must be >= 1, got {n}")
    G, cfg, state, which = load_generator(checkpoint, device, no_ema)
    if not is_audio_checkpoint(cfg):
        raise GankitError(f"this checkpoint is a {cfg.model.family} run, which makes images; "
                          "WAV output needs a wavegan or specgan run (use --format png)")
    codec = audio_codec(cfg, state.get("family"))
    waves = codec.decode(generate(G, fixed_latents(n, G.z_dim, seed)), seed=seed + DECODE_SEED_OFFSET)
    return waves, cfg.audio.rate, {"which": which, "step": state["step"], "family": cfg.model.family}


def export_audio(checkpoint: str | Path, n: int, seed: int, out: str | Path, fmt: str = "wav",
                 device: str = "auto", no_ema: bool = False) -> list[Path]:
    """Write n generated clips: `wav` = a folder `out/` of `sample-0000.wav` ...; `wav-concat` = one file `out`
    with 0.25 s of silence between clips. Returns the paths written."""
    from gankit.families.wavegan import concatenate

    if fmt not in AUDIO_FORMATS:
        raise GankitError(f"audio format must be one of {', '.join(AUDIO_FORMATS)}, got {fmt!r}")
    out = Path(out)
    if fmt == "wav-concat" and out.is_dir():
        raise GankitError(f"--out {out} is a directory; give a .wav file name for --format wav-concat")
    if fmt == "wav" and out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; --format wav writes a folder of WAV files")
    waves, rate, _ = generate_audio(checkpoint, n, seed, device, no_ema)
    if fmt == "wav-concat":
        return [write_wav(out, concatenate(waves, rate), rate)]
    return [write_wav(out / f"sample-{i:04d}.wav", clip, rate) for i, clip in enumerate(waves)]
