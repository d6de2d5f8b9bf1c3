"""Audio signal processing for gankit: WAV files, resampling, spectrograms and Griffin-Lim.

Conventions (the audio counterpart of gankit's image conventions):
- A batch of clips is a float32 tensor `[N, C, L]` in `[-1, 1]` (C = 1 for mono), at
  `SAMPLE_RATE` (16 kHz) unless stated; one clip on its own is `[C, L]` or `[L]`.
- WAV files are read as PCM (8/16/24/32-bit int) or float; they are written as 16-bit PCM.
- A SpecGAN spectrogram is `[N, 1, F, T]` in `[-1, 1]`: the log-magnitude STFT, normalised per
  frequency bin with statistics fitted on a dataset (`SpectrogramCodec`), as in Donahue et al.
  2019 ("Adversarial Audio Synthesis"). 16,384 samples give 128 x 128 with the defaults.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.io import wavfile
from scipy.signal import resample_poly

from gankit.errors import GankitError

SAMPLE_RATE = 16000
CLIP_LENGTH = 16384  # ~1.02 s at 16 kHz: WaveGAN's and SpecGAN's clip length
LOG_EPS = 1e-6  # floor under the magnitude before the log: silence maps to log(1e-6) ~ -13.8


# ---------------------------------------------------------------- WAV files


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file: `(samples [C, L] float32 in [-1, 1], sample rate)`.

    Integer PCM is scaled by its full range (int16 by 32768); float WAVs are clipped to [-1, 1].
    Raises GankitError (one line) for a missing, empty or unreadable file.
    """
    path = Path(path)
    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError, IndexError) as exc:
        raise GankitError(f"cannot read WAV file {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                          "re-export it as PCM WAV") from None
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.size == 0 or rate <= 0:
        raise GankitError(f"WAV file {path} holds no samples; remove it or re-export it")
    if data.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        samples = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        # scipy returns 24-bit data left-aligned in int32, so the dtype's range is the full scale.
        samples = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    else:
        samples = np.clip(np.nan_to_num(data.astype(np.float32)), -1.0, 1.0)
    return np.ascontiguousarray(samples.T), int(rate)


def write_wav(path: str | Path, samples: torch.Tensor | np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write `samples` (`[L]` or `[C, L]`, float in [-1, 1]) as a 16-bit PCM WAV file.

    Values are rounded to the nearest int16 level of x * 32768 (the scale `read_wav` divides by)
    and clipped to the int16 range, so +1.0 is written as 32767.
    Returns the path. Parent folders are created.
    """
    x = samples.detach().cpu().float().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples, np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise GankitError(f"write_wav needs samples [L] or [C, L] with L >= 1, got shape {tuple(x.shape)}")
    pcm = np.clip(np.round(np.nan_to_num(x) * 32768.0), -32768, 32767).astype("<i2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(pcm.shape[0])
        f.setsampwidth(2)
        f.setframerate(int(rate))
        f.writeframes(np.ascontiguousarray(pcm.T).tobytes())
    return path


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling of `samples [..., L]` (last axis is time) from one rate to another.

    Uses scipy's `resample_poly` with the reduced ratio (22,050 -> 16,000 Hz is up 320 / down 441),
    whose Kaiser-windowed anti-aliasing filter removes content above the lower Nyquist rate.
    """
    if from_rate == to_rate:
        return samples
    g = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(samples, to_rate // g, from_rate // g, axis=-1).astype(np.float32)


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Crop `samples [..., L]` to its first `length` samples, or pad it with zeros at the end."""
    have = samples.shape[-1]
    if have >= length:
        return samples[..., :length]
    pad = [(0, 0)] * (samples.ndim - 1) + [(0, length - have)]
    return np.pad(samples, pad)


def load_clip(path: str | Path, rate: int = SAMPLE_RATE, length: int = CLIP_LENGTH) -> np.ndarray:
    """One WAV file as a mono clip `[length]` float32 in [-1, 1] at `rate`.

    Channels are averaged (stereo -> mono), the rate converted with `resample`, then the clip
    is cropped to its first `length` samples or zero-padded at the end.
    """
    samples, file_rate = read_wav(path)
    mono = samples.mean(axis=0)
    return np.clip(fit_length(resample(mono, file_rate, rate), length), -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- spectrograms


def _as_batch(waves: torch.Tensor) -> torch.Tensor:
    """`[L]`, `[C, L]` or `[N, C, L]` -> mono `[N, L]` float32 (channels averaged)."""
    if not isinstance(waves, torch.Tensor) or not waves.is_floating_point() or waves.ndim not in (1, 2, 3):
        shape = tuple(waves.shape) if isinstance(waves, torch.Tensor) else type(waves).__name__
        raise GankitError(f"audio must be a float tensor [L], [C, L] or [N, C, L], got {shape}")
    if waves.ndim == 1:
        return waves[None].float()
    if waves.ndim == 2:
        return waves.float().mean(0, keepdim=True)
    return waves.float().mean(1)


def stft_magnitude(waves: torch.Tensor, n_fft: int = 256, hop: int = 128) -> torch.Tensor:
    """Magnitude STFT of mono clips `[N, L]`: `[N, n_fft // 2 + 1, L // hop + 1]` (>= 0).

    Hann window of n_fft samples, centred frames (reflect padding), so frame t is centred on
    sample t * hop.
    """
    window = torch.hann_window(n_fft, device=waves.device)
    spec = torch.stft(waves, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True)
    return spec.abs()


def griffin_lim(magnitude: torch.Tensor, length: int, n_fft: int = 256, hop: int = 128, iterations: int = 32,
                momentum: float = 0.99, generator: torch.Generator | None = None) -> torch.Tensor:
    """Estimate a signal from a magnitude STFT `[N, n_fft // 2 + 1, frames]` -> `[N, length]`.

    Griffin & Lim (1984), with the momentum ("fast Griffin-Lim") of Perraudin et al. (2013):
    alternate between the signal whose STFT is closest to (magnitude, current phase) and that
    signal's phase. The starting phase is random (drawn from `generator`, or torch's global RNG).
    The result is not clipped.
    """
    if iterations < 1:
        raise GankitError(f"griffin-lim iterations must be >= 1, got {iterations}")
    window = torch.hann_window(n_fft, device=magnitude.device)
    phase = torch.rand(magnitude.shape, generator=generator, device="cpu").to(magnitude.device) * (2 * math.pi)
    angles = torch.polar(torch.ones_like(magnitude), phase)
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        signal = torch.istft(magnitude * angles, n_fft, hop, window=window, center=True, length=length)
        rebuilt = torch.stft(signal, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True)
        # Momentum: step past the projection, then keep only the phase.
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / angles.abs().clamp_min(1e-16)
        previous = rebuilt
    return torch.istft(magnitude * angles, n_fft, hop, window=window, center=True, length=length)


class SpectrogramCodec:
    """Clips `[N, 1, L]` <-> SpecGAN spectrograms `[N, 1, F, T]` in [-1, 1].

    encode: log(|STFT| + 1e-6), drop the Nyquist bin and the last frame (F = n_fft // 2,
    T = L // hop: 128 x 128 for 16,384 samples, n_fft 256, hop 128), subtract each frequency
    bin's mean and divide by its std (both fitted on a dataset by `fit`), clip at `clip_std`
    standard deviations and divide by `clip_std`, as SpecGAN does.
    decode: undo the normalisation, put back the dropped bin (silence) and frame (a copy of the
    last), and invert with Griffin-Lim. `state_dict()`/`from_state_dict()` save the statistics
    as plain tensors, so a checkpoint that stores them loads with `weights_only=True`.
    """

    def __init__(self, length: int = CLIP_LENGTH, n_fft: int = 256, hop: int = 128, clip_std: float = 3.0) -> None:
        if n_fft < 4 or n_fft % 2 or hop < 1 or hop > n_fft:
            raise GankitError(f"spectrogram needs an even n_fft >= 4 and 1 <= hop <= n_fft, got n_fft={n_fft}, hop={hop}")
        if length < n_fft or length % hop:
            raise GankitError(f"spectrogram clip length {length} must be a multiple of hop ({hop}) and >= n_fft ({n_fft})")
        if clip_std <= 0:
            raise GankitError(f"spectrogram clip_std must be > 0, got {clip_std}")
        self.length, self.n_fft, self.hop, self.clip_std = length, n_fft, hop, float(clip_std)
        self.mean: torch.Tensor | None = None  # [F] per-bin mean of the log magnitude
        self.std: torch.Tensor | None = None  # [F] per-bin std

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape `(1, F, T)` of one encoded spectrogram."""
        return 1, self.n_fft // 2, self.length // self.hop

    def log_magnitude(self, waves: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-magnitudes `[N, F, T]` of clips `[N, C, L]` (any C; averaged to mono)."""
        x = _as_batch(waves)
        if x.shape[-1] != self.length:
            raise GankitError(f"clips have {x.shape[-1]} samples but this spectrogram codec takes {self.length}; "
                              "pad or crop them (gankit.audio.fit_length)")
        mag = stft_magnitude(x, self.n_fft, self.hop)[:, :-1, :-1]
        return torch.log(mag + LOG_EPS)

    def fit(self, waves: torch.Tensor, batch_size: int = 256) -> "SpectrogramCodec":
        """Fit the per-bin mean and std on clips `[N, C, L]` (over all clips and frames). Returns self."""
        total, total_sq, count = 0.0, 0.0, 0
        for batch in waves.split(batch_size):
            logm = self.log_magnitude(batch).double()
            total = total + logm.sum(dim=(0, 2))
            total_sq = total_sq + (logm ** 2).sum(dim=(0, 2))
            count += logm.shape[0] * logm.shape[2]
        if count == 0:
            raise GankitError("cannot fit spectrogram statistics on an empty set of clips")
        mean = total / count
        self.mean = mean.float().cpu()
        # A floor keeps constant bins (e.g. digital silence) from dividing by zero.
        self.std = (total_sq / count - mean ** 2).clamp_min(0).sqrt().clamp_min(1e-3).float().cpu()
        return self

    def _stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean is None or self.std is None:
            raise GankitError("spectrogram codec has no statistics; call fit(waves) or load them first")
        return self.mean.to(device)[:, None], self.std.to(device)[:, None]

    def encode(self, waves: torch.Tensor) -> torch.Tensor:
        """Clips `[N, C, L]` in [-1, 1] -> spectrograms `[N, 1, F, T]` in [-1, 1]."""
        logm = self.log_magnitude(waves)
        mean, std = self._stats(logm.device)
        z = ((logm - mean) / std).clamp(-self.clip_std, self.clip_std) / self.clip_std
        return z[:, None]

    def magnitude(self, specs: torch.Tensor) -> torch.Tensor:
        """Spectrograms `[N, 1, F, T]` in [-1, 1] -> full magnitude STFTs `[N, F + 1, T + 1]`."""
        if specs.ndim != 4 or tuple(specs.shape[1:]) != self.shape:
            raise GankitError(f"spectrograms must be [N, {', '.join(map(str, self.shape))}], got {tuple(specs.shape)}")
        mean, std = self._stats(specs.device)
        mag = torch.exp(specs[:, 0].float().clamp(-1, 1) * self.clip_std * std + mean) - LOG_EPS
        mag = mag.clamp_min(0)
        mag = torch.cat([mag, torch.zeros_like(mag[:, :1])], dim=1)  # the dropped Nyquist bin: silence
        return torch.cat([mag, mag[:, :, -1:]], dim=2)  # the dropped last frame: a copy of its neighbour

    def decode(self, specs: torch.Tensor, iterations: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
        """Spectrograms `[N, 1, F, T]` in [-1, 1] -> clips `[N, 1, L]` in [-1, 1] by Griffin-Lim."""
        waves = griffin_lim(self.magnitude(specs), self.length, self.n_fft, self.hop, iterations, generator=generator)
        return waves.clamp(-1, 1)[:, None]

    def state_dict(self) -> dict:
        """Settings and statistics as plain values and tensors (safe for `torch.load(weights_only=True)`)."""
        mean, std = self._stats(torch.device("cpu"))
        return {"length": self.length, "n_fft": self.n_fft, "hop": self.hop, "clip_std": self.clip_std,
                "mean": mean[:, 0].clone(), "std": std[:, 0].clone()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "SpectrogramCodec":
        """Rebuild a fitted codec from `state_dict()`'s output."""
        codec = cls(int(state["length"]), int(state["n_fft"]), int(state["hop"]), float(state["clip_std"]))
        mean, std = torch.as_tensor(state["mean"]).float(), torch.as_tensor(state["std"]).float()
        if mean.shape != (codec.shape[1],) or std.shape != mean.shape:
            raise GankitError(f"spectrogram statistics must have {codec.shape[1]} bins, got {tuple(mean.shape)}")
        codec.mean, codec.std = mean, std
        return codec


# ---------------------------------------------------------------- pictures


def spectrogram_images(waves: torch.Tensor, n_fft: int = 256, hop: int = 128, floor_db: float = -80.0) -> torch.Tensor:
    """Clips `[N, C, L]` -> pictures of their spectrograms `[N, 1, n_fft // 2 + 1, L // hop + 1]` in [-1, 1].

    Magnitude in dB relative to each clip's loudest bin, floored at `floor_db` (so -1 is
    `floor_db` or quieter, +1 the peak); low frequencies at the bottom, time left to right.
    Feed the result to `gankit.sample.image_grid` for a sample grid.
    """
    x = _as_batch(waves)
    if x.shape[-1] < n_fft:
        raise GankitError(f"clips of {x.shape[-1]} samples are shorter than n_fft ({n_fft})")
    db = 20 * torch.log10(stft_magnitude(x, n_fft, hop) + 1e-8)
    db = db - db.amax(dim=(1, 2), keepdim=True)
    img = (db.clamp_min(floor_db) / -floor_db) * 2 + 1
    return img.flip(1)[:, None]


def spectrogram_image(wave_: torch.Tensor, n_fft: int = 256, hop: int = 128) -> Image.Image:
    """One clip (`[L]` or `[C, L]`) as a greyscale PIL picture of its spectrogram (see `spectrogram_images`)."""
    img = spectrogram_images(wave_, n_fft, hop)[0, 0]
    return Image.fromarray(((img + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy(), mode="L")
