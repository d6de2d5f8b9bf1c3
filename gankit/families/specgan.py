"""SpecGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis"): a DCGAN on spectrograms.

Each real clip becomes an image: its log-magnitude STFT (n_fft `audio.n_fft`, hop `audio.hop`,
Nyquist bin and last frame dropped: `[1, n_fft / 2, length / hop]`, 128 x 128 for the paper's
16,384 samples), each frequency bin standardised with its mean and std over the training clips,
clipped at `audio.clip_std` stds and scaled to [-1, 1] (`gankit.audio.SpectrogramCodec`). G and D
are the DCGAN networks of `model.name=dcgan` on that image (`data.resolution` must equal its
[F, T]; the paper's 5 x 5 kernels are `g_options/d_options: {kernel_size: 5}`, D without batch
norm for WGAN-GP: `d_options: {norm: none}`), trained by the GAN family's WGAN-GP step
(`gankit.families.gan.GANTrainer`). G's spectrograms become audio by Griffin-Lim
(`audio.griffin_lim_iterations`), with the phase drawn from a private seeded stream.

The per-bin statistics are part of the model: they are saved in the checkpoint's family state
(`state["family"]["codec"]`), so `gankit sample --format wav` and `gankit eval` decode exactly as
training did. G itself is rebuilt from the config alone.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.audio import SpectrogramCodec
from gankit.errors import GankitError
from gankit.families.wavegan import (  # noqa: F401  (evaluate_audio_checkpoint: gankit eval's entry point)
    AudioGANFamily,
    SpecCodec,
    build_audio_family,
    evaluate_audio_checkpoint,
    load_audio,
    validate_audio,
)

KIND = "generation"


def validate(cfg) -> None:
    """SpecGAN's own checks: the audio ones, a valid STFT, and data.resolution equal to the spectrogram's size."""
    from gankit.config import resolution_hw

    validate_audio(cfg)
    a = cfg.audio
    if a.clip_std <= 0:
        raise GankitError(f"audio.clip_std must be > 0, got {a.clip_std}")
    shape = SpectrogramCodec(a.length, a.n_fft, a.hop, a.clip_std).shape
    if resolution_hw(cfg.data.resolution) != shape[1:]:
        raise GankitError(f"SpecGAN's spectrograms are {shape[1]} x {shape[2]} (audio.n_fft / 2 x audio.length / audio.hop) "
                          f"but data.resolution is {cfg.data.resolution}; set --set data.resolution=[{shape[1]}, {shape[2]}]")
    if cfg.model.name == "wavegan":
        raise GankitError("model.family=specgan trains an image model on spectrograms; use model.name=dcgan")


def build_generator(cfg) -> nn.Module:
    """G from the config alone: `G(z [N, z_dim]) -> spectrograms [N, 1, F, T]` in [-1, 1]."""
    from gankit.build import build_models

    return build_models(cfg)[0]


def build(cfg, device: torch.device, env) -> AudioGANFamily:
    """Clips, their fitted spectrogram codec, DCGAN G and D, the WGAN-GP trainer and fixed noise."""
    from gankit.build import build_models

    waves, labels = load_audio(cfg, "train")
    codec = SpecCodec.fit(cfg, waves)
    G, D = build_models(cfg)
    return build_audio_family(cfg, device, env, G, D, codec, waves, labels)
