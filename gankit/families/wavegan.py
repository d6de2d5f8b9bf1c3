"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis"): a GAN on raw audio clips.

G: z -> clip `[N, 1, L]` in [-1, 1] by 1-D transposed convolutions (kernel 25, stride 4); D: strided
1-D convolutions with phase shuffle, raw scores (`gankit.models.wavegan`). Trained as the paper
trains it, with WGAN-GP (`loss.name=wgan-gp`, n_critic 5). One `train_step` is the GAN family's
step (`gankit.families.gan.GANTrainer`: n_critic D steps with the gradient penalty, then one G
step), fed with real clips instead of images:

    D step (x n_critic):  real = clips ; fake = G(z) ; loss_D = D(fake) - D(real) + 10 GP ; update D
    G step:               loss_G = -D(G(z)) ; update G ; update G_ema

This module also holds what WaveGAN and SpecGAN (`gankit.families.specgan`) share: the audio data
(`spoken-digits`, `audio-folder`) at `audio.rate`, the family object (`AudioGANFamily`: spectrogram
picture grids plus a WAV next to each, scores from the spoken-digit classifier) and
`evaluate_audio_checkpoint` for `gankit eval`. The two differ only in what G makes and how that
becomes audio (`AudioCodec`): WaveGAN's output is the clip; SpecGAN's is a spectrogram, inverted by
Griffin-Lim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from gankit.audio import SAMPLE_RATE, SpectrogramCodec, fit_length, resample, spectrogram_images, write_wav
from gankit.errors import GankitError
from gankit.families.gan import GANFamily

KIND = "generation"
AUDIO_DATA = ("spoken-digits", "audio-folder")
FIXED_NOISE_SEED_OFFSET = 1_000_003  # as the GAN family: fixed sample noise never shares a stream with training
DECODE_SEED_OFFSET = 4_000_037  # Griffin-Lim's starting phase: a private stream, so sampling never moves training's
EVAL_N = 500  # generated clips per evaluation (eval.n = 0); the test split has 420 clips
GAP_S = 0.25  # silence between clips in a concatenated WAV


# ---------------------------------------------------------------- data


def load_audio(cfg, split: str = "train") -> tuple[Tensor, Tensor | None]:
    """The run's clips `[N, 1, audio.length]` in [-1, 1] at `audio.rate`, and their labels `[N]` (or None).

    spoken-digits: `split` "train" or "test" (made on first use); audio-folder: every WAV under
    `data.path` (one set: `split` is ignored). Clips are resampled from the file rate, then cropped
    or zero-padded to the length.
    """
    from gankit.data.audio import load_spoken_digits, load_wav_folder

    a = cfg.audio
    if cfg.data.name == "spoken-digits":
        data = load_spoken_digits(split)
        waves = data.waves if a.rate == SAMPLE_RATE else torch.from_numpy(resample(data.waves.numpy(), SAMPLE_RATE, a.rate))
        waves = torch.from_numpy(fit_length(waves.numpy(), a.length).copy()).clamp(-1, 1).contiguous()
        return waves, data.labels
    if cfg.data.name == "audio-folder":
        if not cfg.data.path:
            raise GankitError("data.name=audio-folder needs a folder of .wav files; pass --data DIR")
        data = load_wav_folder(cfg.data.path, a.rate, a.length)
        return data.waves, data.labels
    raise GankitError(f"the {cfg.model.family} family trains on audio; set data.name to one of: {', '.join(AUDIO_DATA)}")


def to_scoring_rate(waves: Tensor, rate: int) -> Tensor:
    """Clips `[N, 1, L]` at `rate` -> the same clips at 16 kHz (what the spoken-digit classifier hears)."""
    if rate == SAMPLE_RATE:
        return waves
    return torch.from_numpy(resample(waves.numpy(), rate, SAMPLE_RATE)).clamp(-1, 1)


def concatenate(waves: Tensor, rate: int, gap_s: float = GAP_S) -> Tensor:
    """Clips `[N, 1, L]` -> one mono signal `[N * L + (N - 1) * gap]` with `gap_s` seconds of silence between."""
    gap = torch.zeros(int(round(gap_s * rate)))
    parts: list[Tensor] = []
    for i, clip in enumerate(waves[:, 0]):
        parts += ([gap] if i else []) + [clip]
    return torch.cat(parts)


# ---------------------------------------------------------------- what G makes -> audio


class WaveCodec:
    """WaveGAN's outputs are the clips themselves: `decode` is the identity, pictures are spectrograms."""

    def __init__(self, cfg) -> None:
        self.rate = cfg.audio.rate

    def encode(self, waves: Tensor) -> Tensor:
        return waves

    def decode(self, x: Tensor, seed: int = 0) -> Tensor:
        """G's outputs `[N, 1, L]` -> clips `[N, 1, L]` in [-1, 1] at `rate`."""
        return x.clamp(-1, 1)

    def pictures(self, x: Tensor) -> Tensor:
        """`[N, 1, F, T]` spectrogram pictures in [-1, 1] of G's outputs (for sample grids)."""
        n_fft = 256 if x.shape[-1] >= 256 else 64
        return spectrogram_images(x, n_fft=n_fft, hop=n_fft // 2)

    def state_dict(self) -> dict:
        return {}


class SpecCodec:  # SpecGAN's (here, so both families share it without an import cycle)
    """Clips <-> SpecGAN spectrograms for one run: the fitted `SpectrogramCodec` plus how to invert it."""

    def __init__(self, codec: SpectrogramCodec, rate: int, iterations: int) -> None:
        self.codec, self.rate, self.iterations = codec, rate, iterations

    @classmethod
    def fit(cls, cfg, waves: Tensor) -> "SpecCodec":
        """Per-bin statistics fitted on `waves [N, 1, audio.length]` (the training clips)."""
        a = cfg.audio
        return cls(SpectrogramCodec(a.length, a.n_fft, a.hop, a.clip_std).fit(waves), a.rate, a.griffin_lim_iterations)

    @classmethod
    def from_state_dict(cls, cfg, state: dict) -> "SpecCodec":
        return cls(SpectrogramCodec.from_state_dict(state), cfg.audio.rate, cfg.audio.griffin_lim_iterations)

    def state_dict(self) -> dict:
        """Settings and per-bin mean/std as plain values and tensors (kept in the checkpoint's family state)."""
        return self.codec.state_dict()

    def encode(self, waves: Tensor) -> Tensor:
        """Clips `[N, 1, L]` -> spectrograms `[N, 1, F, T]` in [-1, 1]."""
        return self.codec.encode(waves)

    def decode(self, x: Tensor, seed: int = 0) -> Tensor:
        """Spectrograms `[N, 1, F, T]` -> clips `[N, 1, L]` in [-1, 1] (Griffin-Lim, phase from `seed`)."""
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([self.codec.decode(b.float().cpu(), self.iterations, generator) for b in x.split(100)])

    def pictures(self, x: Tensor) -> Tensor:
        """The spectrograms themselves, low frequencies at the bottom, for sample grids."""
        return x.float().cpu().flip(2)


def audio_codec(cfg, family_state: dict | None = None):
    """What turns this run's G outputs into audio: WaveCodec, or SpecGAN's fitted spectrogram codec."""
    if cfg.model.family == "specgan":
        if family_state is None or family_state.get("codec") is None:
            raise GankitError("this SpecGAN checkpoint holds no spectrogram statistics (family.codec); "
                              "it cannot be turned into audio")
        return SpecCodec.from_state_dict(cfg, family_state["codec"])
    return WaveCodec(cfg)


# ---------------------------------------------------------------- checks


def validate_audio(cfg) -> None:
    """Checks both audio families share (one-line GankitError)."""
    a = cfg.audio
    if cfg.data.name not in AUDIO_DATA:
        raise GankitError(f"model.family={cfg.model.family} trains on audio; set data.name to one of: {', '.join(AUDIO_DATA)}")
    if not 1000 <= a.rate <= 48000:
        raise GankitError(f"audio.rate must be in 1000..48000 Hz, got {a.rate}")
    if a.griffin_lim_iterations < 1 or a.wav_samples < 1:
        raise GankitError("audio.griffin_lim_iterations and audio.wav_samples must be >= 1")
    if cfg.model.conditioning != "none":
        raise GankitError(f"the {cfg.model.family} family is unconditional; set model.conditioning=none")
    if cfg.tricks.augment or cfg.tricks.pack > 1 or cfg.tricks.minibatch != "none" or cfg.tricks.g_norm != "batch":
        raise GankitError("tricks.augment, pack, minibatch and g_norm are image tricks; audio runs leave them at their defaults")
    if cfg.eval.split not in ("val", "train", "test"):
        raise GankitError(f"eval.split for audio must be val (= train: spoken-digits has no val split), train or test, "
                          f"got {cfg.eval.split}")
    if cfg.eval.every and cfg.eval.split == "test":
        raise GankitError("eval.split=test with eval.every > 0 would choose best.pt on test clips; use eval.split=val")


def validate(cfg) -> None:
    """WaveGAN's own checks: the audio ones, and a clip length WaveGAN can build."""
    from gankit.models.wavegan import wavegan_stages

    validate_audio(cfg)
    if cfg.model.name != "wavegan":
        raise GankitError(f"model.family=wavegan uses model.name=wavegan, got {cfg.model.name}")
    wavegan_stages((1, cfg.audio.length))
    if cfg.audio.phase_shuffle < 0:
        raise GankitError(f"audio.phase_shuffle must be >= 0, got {cfg.audio.phase_shuffle}")


# ---------------------------------------------------------------- the family


class AudioGANFamily(GANFamily):
    """A GAN on audio as the run loop sees it, for WaveGAN and SpecGAN: the GAN family with its own data and outputs.

    `codec` maps real clips to what D sees (`encode`) and G's outputs back to clips (`decode`).
    """

    def __init__(self, cfg, trainer, sampler, codec, fixed_z: Tensor, labels: Tensor | None) -> None:
        self.cfg, self.trainer, self.sampler, self.codec, self.fixed_z = cfg, trainer, sampler, codec, fixed_z
        self.train_labels = labels
        self.scalers = trainer.scalers
        self.images_per_step = cfg.train.batch_size * cfg.train.n_critic

    def _next_batch(self) -> tuple[Tensor, None]:
        return self.sampler.next()[0], None

    def train_step(self) -> dict[str, Tensor]:
        return self.trainer.train_step(self._next_batch)

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "fixed_z": self.fixed_z, "codec": self.codec.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        self.fixed_z = state["fixed_z"]
        if state.get("codec"):
            self.codec = audio_codec(self.cfg, state)

    def fixed_audio(self, n: int | None = None) -> tuple[Tensor, Tensor]:
        """(G's outputs, clips `[n, 1, L]` at audio.rate) on the first n fixed latents."""
        from gankit.sample import generate

        x = generate(self.sampling_G(), self.fixed_z[:n] if n else self.fixed_z)
        return x, self.codec.decode(x, seed=self.cfg.seed + DECODE_SEED_OFFSET)

    def write_samples(self, path: Path) -> None:
        """The fixed noise's spectrograms as one PNG grid at `path`, and its first `audio.wav_samples`
        clips as one WAV (0.25 s apart) next to it (`samples/step-XXXXXXX.wav`, played by report.html)."""
        from gankit.sample import generate, save_samples

        x = generate(self.sampling_G(), self.fixed_z)
        save_samples(self.codec.pictures(x), path)
        waves = self.codec.decode(x[: self.cfg.audio.wav_samples], seed=self.cfg.seed + DECODE_SEED_OFFSET)
        write_wav(Path(path).with_suffix(".wav"), concatenate(waves, self.cfg.audio.rate), self.cfg.audio.rate)

    def class_collapse(self) -> tuple[Tensor, int] | None:
        """(spoken-digit classifier's labels of the fixed-noise clips, 10) for the watchdog; None off spoken-digits."""
        from gankit.metrics.audio_classifier import extract_audio_features

        if self.cfg.data.name != "spoken-digits":
            return None
        _, waves = self.fixed_audio()
        _, logits = extract_audio_features(to_scoring_rate(waves, self.cfg.audio.rate))
        return logits.argmax(dim=1), logits.shape[1]

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """Classifier score, FID, class histogram of eval.n clips vs the eval.split clips; primary key fid."""
        split = "train" if self.cfg.eval.split in ("val", "train") else "test"
        result = score_audio(self.sampling_G(), self.codec, self.cfg, self.cfg.eval.n or EVAL_N, seed, split)
        result["protocol"]["which"] = "G_ema" if self.trainer.ema is not None else "G"
        return result, "fid", True

    def wrap(self, wrap_module: Callable[[nn.Module], nn.Module]) -> None:
        self.trainer.wrap(wrap_module(self.trainer.G), wrap_module(self.trainer.D))


def score_audio(G: nn.Module, codec, cfg, n: int, seed: int, split: str) -> dict:
    """`audio_scores` of n clips from G (latents from `seed`) against the real `split` clips, at 16 kHz.

    Flat numbers (is, is_std, fid, classes_covered, num_classes, class_kl, counts) plus `protocol`.
    """
    from gankit import __version__
    from gankit.metrics.audio_classifier import audio_scores
    from gankit.sample import fixed_latents, generate

    if cfg.data.name == "audio-folder":
        split = "train"  # a folder is one set; the scores say how close G is to its own training clips
    real, labels = load_audio(cfg, split)
    x = generate(G, fixed_latents(n, G.z_dim, seed))
    fake = codec.decode(x, seed=seed + DECODE_SEED_OFFSET)
    result = audio_scores(to_scoring_rate(fake, cfg.audio.rate), to_scoring_rate(real, cfg.audio.rate), labels)
    # The classifier's own "rate"/"length" (what it hears, after resampling) stay; the model's are named apart.
    result["protocol"].update({"data": cfg.data.name, "split": split, "seed": seed, "model_rate": cfg.audio.rate,
                               "model_length": cfg.audio.length, "family": cfg.model.family, "gankit_version": __version__})
    if cfg.model.family == "specgan":
        result["protocol"]["griffin_lim_iterations"] = cfg.audio.griffin_lim_iterations
    return result


def evaluate_audio_checkpoint(cfg, state: dict, device: torch.device, args) -> dict:
    """`gankit eval` on a WaveGAN/SpecGAN checkpoint: G_ema (else G; G with args.no_ema) scored by
    `score_audio` on `args.n` clips (default 500) against `args.split` ("test" default; "val" = train)."""
    from gankit.build import place_model
    from gankit.families import build_generator, check_finite_state
    from gankit.train.checkpoint import load_model_state
    from gankit.train.ema import standing_statistics

    use_ema = state.get("G_ema") is not None and not getattr(args, "no_ema", False)
    which = "G_ema" if use_ema else "G"
    G = build_generator(cfg)
    check_finite_state(state[which], "generator", "checkpoint")
    load_model_state(G, state[which], "generator", "checkpoint")
    place_model(G, device, G.out_shape)
    if use_ema:
        standing_statistics(G)
    split = getattr(args, "split", "test") or "test"
    if split not in ("test", "train", "val"):
        raise GankitError(f"--split for audio runs is test, train or val (= train), got {split!r}")
    n = getattr(args, "n", None) or EVAL_N
    result = score_audio(G, audio_codec(cfg, state.get("family")), cfg, n, getattr(args, "seed", 0),
                         "test" if split == "test" else "train")
    result["protocol"].update({"which": which, "checkpoint_step": state["step"]})
    return result


def build_generator(cfg) -> nn.Module:
    """WaveGAN's G from the config alone: `G(z [N, z_dim]) -> clips [N, 1, audio.length]` in [-1, 1]."""
    from gankit.build import _construct
    from gankit.models.wavegan import WaveGANGenerator

    from gankit.build import apply_model_tricks

    m = cfg.model
    G = _construct(WaveGANGenerator, "g", (m.z_dim, (1, cfg.audio.length), m.g_width), m.g_options)
    # Model tricks that touch G (spectral norm, a latent mixture) change its state dict: apply them as training did.
    return apply_model_tricks(cfg, G, nn.Identity(), (1, cfg.audio.length))[0]


def build_discriminator(cfg) -> nn.Module:
    from gankit.build import _construct
    from gankit.models.wavegan import WaveGANDiscriminator

    options = {"phase_shuffle": cfg.audio.phase_shuffle, **cfg.model.d_options}
    return _construct(WaveGANDiscriminator, "d", ((1, cfg.audio.length), cfg.model.d_width), options)


def build_audio_family(cfg, device: torch.device, env, G: nn.Module, D: nn.Module, codec,
                       waves: Tensor, labels: Tensor | None) -> AudioGANFamily:
    """The family around G and D: the data stream over `codec.encode(waves)`, the GAN trainer, fixed noise."""
    from gankit.build import place_model
    from gankit.data import ImageData, TensorSampler
    from gankit.families.gan import build_trainer
    from gankit.sample import fixed_latents

    if len(waves) < cfg.train.batch_size:
        raise GankitError(f"the audio data has {len(waves)} clips, fewer than train.batch_size={cfg.train.batch_size}; "
                          "lower the batch size")
    encoded = torch.cat([codec.encode(b) for b in waves.split(256)]).contiguous()
    sampler = TensorSampler(ImageData(encoded, None, None), cfg.train.batch_size, cfg.seed, device=device,
                            rank=env.rank, world_size=env.world_size)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    trainer = build_trainer(cfg, G, D, world_size=env.world_size)
    fixed_z = fixed_latents(cfg.log.n_samples, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
    return AudioGANFamily(cfg, trainer, sampler, codec, fixed_z, labels)


def build(cfg, device: torch.device, env) -> AudioGANFamily:
    """Clips, WaveGAN's G and D (with any model tricks), WGAN-GP trainer and fixed noise for `cfg`, on `device`."""
    from gankit.build import apply_model_tricks

    waves, labels = load_audio(cfg, "train")
    D = apply_model_tricks(cfg, nn.Identity(), build_discriminator(cfg), (1, cfg.audio.length))[1]
    G = build_generator(cfg)
    return build_audio_family(cfg, device, env, G, D, WaveCodec(cfg), waves, labels)
