"""A small spoken-digit classifier: the feature network for scoring generated audio.

Trained by gankit on its own `spoken-digits` set (`train_audio_classifier`, CLI
`gankit features train spoken-digits`) and shipped as `gankit/metrics/weights/spoken-digits.pt`
(fp16 state dict) plus `spoken-digits.json` (sha256, accuracy on the held-out test voices,
architecture, the dataset recipe's sha256). As with the image domain classifiers, its scores are
comparable only between runs scored with the same weights (same sha256).

Network: log-magnitude STFT (n_fft 256, hop 128, 128 x 128 for 16,384 samples), 2 x 2 average
pooling to 64 x 64, a fixed standardisation (scalars fitted on the training set, kept as buffers),
four conv-BN-ReLU-maxpool blocks, an average over time (the word's onset varies), then a fully
connected feature layer and the class logits.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from gankit.audio import CLIP_LENGTH, LOG_EPS, stft_magnitude
from gankit.errors import GankitError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
NAME = "spoken-digits"
ARCHITECTURE = {"num_classes": 10, "length": CLIP_LENGTH, "n_fft": 256, "hop": 128, "width": 16, "feature_dim": 128}
RECIPE = {"epochs": 10, "lr": 3e-3, "batch_size": 64, "max_shift": 4000, "noise_std": 0.01}


class AudioClassifier(nn.Module):
    """Clips `[N, C, L]` in [-1, 1] at 16 kHz -> logits `[N, num_classes]`; `features` -> `[N, feature_dim]` (>= 0).

    Clips of another length are cropped or zero-padded at the end to `length`; channels are averaged.
    """

    def __init__(self, num_classes: int = 10, length: int = CLIP_LENGTH, n_fft: int = 256, hop: int = 128,
                 width: int = 16, feature_dim: int = 128) -> None:
        super().__init__()
        if length % (hop * 32) or n_fft % 64:
            raise GankitError(f"AudioClassifier needs length divisible by 32 * hop and n_fft by 64, got {length}, {n_fft}")
        self.length, self.n_fft, self.hop = length, n_fft, hop
        # Standardisation of the log magnitude; set from the training data by `fit_audio_classifier`.
        self.register_buffer("log_mean", torch.zeros(()))
        self.register_buffer("log_std", torch.ones(()))

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

        widths = [width, 2 * width, 4 * width, 8 * width]
        self.body = nn.Sequential(*block(1, widths[0]), *block(widths[0], widths[1]),
                                  *block(widths[1], widths[2]), *block(widths[2], widths[3]))
        bins = n_fft // 2 // 2 // 16  # after the 2x2 input pooling and four 2x max-pools
        self.fc = nn.Sequential(nn.Linear(widths[3] * bins, feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def log_spectrogram(self, waves: torch.Tensor) -> torch.Tensor:
        """Standardised log-magnitudes `[N, 1, n_fft / 4, length / (2 * hop)]` of clips `[N, C, L]`."""
        if waves.ndim != 3:
            raise GankitError(f"audio must be [N, C, L], got shape {tuple(waves.shape)}")
        x = waves.float().mean(1)
        x = F.pad(x, (0, self.length - x.shape[-1])) if x.shape[-1] < self.length else x[:, :self.length]
        mag = stft_magnitude(x, self.n_fft, self.hop)[:, :-1, :-1]
        logm = F.avg_pool2d(torch.log(mag + LOG_EPS)[:, None], 2)
        return (logm - self.log_mean) / self.log_std

    def features(self, waves: torch.Tensor) -> torch.Tensor:
        """Penultimate features `[N, feature_dim]` of clips `[N, C, L]` in [-1, 1]."""
        h = self.body(self.log_spectrogram(waves)).mean(dim=3)  # average over time: [N, C, bins]
        return self.fc(h.flatten(1))

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """Class logits `[N, num_classes]` of clips `[N, C, L]` in [-1, 1]."""
        return self.head(self.dropout(self.features(waves)))


def _augment(waves: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random circular time shift (up to RECIPE max_shift samples), gain in [0.3, 1] and light noise."""
    n, _, length = waves.shape
    shift = torch.randint(-RECIPE["max_shift"], RECIPE["max_shift"] + 1, (n,), generator=gen)
    index = (torch.arange(length)[None, :] - shift[:, None]) % length
    x = waves.gather(2, index[:, None, :])
    gain = torch.empty(n, 1, 1).uniform_(0.3, 1.0, generator=gen)
    noise = torch.randn(x.shape, generator=gen) * (torch.rand(n, 1, 1, generator=gen) * RECIPE["noise_std"])
    return (x * gain + noise).clamp(-1, 1)


@torch.inference_mode()
def audio_classifier_accuracy(model: AudioClassifier, waves: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of `model` (put in eval mode) on clips `[N, 1, L]` with labels `[N]`."""
    model.eval()
    correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(waves.split(250), labels.split(250)))
    return correct / max(len(labels), 1)


def fit_audio_classifier(waves: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int = 0,
                         report=None) -> AudioClassifier:
    """Train a fresh classifier on clips `[N, 1, L]` with labels `[N]` (Adam, one-cycle LR, augmentation).

    `report(epoch, loss, model)` is called after each epoch. Returns the model in train mode.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = AudioClassifier(**{**ARCHITECTURE, "num_classes": int(labels.max()) + 1, "length": waves.shape[-1]})
    with torch.no_grad():
        logm = torch.cat([model.log_spectrogram(b) for b in waves.split(500)])
        model.log_mean.fill_(float(logm.mean()))
        model.log_std.fill_(float(logm.std()))
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    steps = epochs * -(-len(waves) // RECIPE["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, RECIPE["lr"], total_steps=steps)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(waves), generator=gen).split(RECIPE["batch_size"]):
            loss = F.cross_entropy(model(_augment(waves[idx], gen)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if report is not None:
            report(epoch, loss.item(), model)
    return model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_audio_classifier(out_dir: str | Path | None = None, epochs: int = RECIPE["epochs"], seed: int = 0,
                           data_root: str | Path | None = None, verbose: bool = True) -> dict:
    """Train the spoken-digit classifier on spoken-digits' train voices; score it on the test voices.

    Makes the dataset first if needed (`gankit.data.audio.make_spoken_digits`, into `data_root`
    or the cache). Writes `<out_dir>/spoken-digits.pt` (fp16 state dict) and `.json` (`out_dir`
    defaults to the shipped `gankit/metrics/weights/`). The accuracy is measured on the test
    voices with the fp16 weights. Returns the JSON record (keys include test_accuracy, sha256).
    """
    from gankit.data.audio import load_spoken_digits, spoken_digits_dir

    if epochs < 1:
        raise GankitError(f"epochs must be >= 1, got {epochs}")
    train, test = load_spoken_digits("train", data_root), load_spoken_digits("test", data_root)
    recipe_file = (Path(data_root).expanduser() if data_root else spoken_digits_dir()) / "recipe.json"
    start = time.perf_counter()

    def report(epoch: int, loss: float, model: AudioClassifier) -> None:
        if verbose:
            print(f"{NAME} epoch {epoch + 1}/{epochs}: loss {loss:.4f} test acc "
                  f"{audio_classifier_accuracy(model, test.waves, test.labels):.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    model = fit_audio_classifier(train.waves, train.labels, epochs, seed, report)
    seconds = time.perf_counter() - start
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    accuracy = audio_classifier_accuracy(model, test.waves, test.labels)
    out = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    pt_path = out / f"{NAME}.pt"
    torch.save(state, pt_path.with_suffix(".tmp"))
    os.replace(pt_path.with_suffix(".tmp"), pt_path)
    arch = {**ARCHITECTURE, "num_classes": model.head.out_features, "length": model.length}
    info = {
        "name": NAME, "sha256": _sha256(pt_path), "test_accuracy": round(accuracy, 4), "test_clips": len(test),
        "train_clips": len(train), "epochs": epochs, "seed": seed, "recipe": RECIPE,
        "dataset_recipe_sha256": _sha256(recipe_file), "date": datetime.date.today().isoformat(),
        "train_seconds": round(seconds, 1), "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "architecture": arch,
    }
    (out / f"{NAME}.json").write_text(json.dumps(info, indent=2) + "\n")
    _load_cached.cache_clear()
    return info


@functools.lru_cache(maxsize=None)
def _load_cached(device: str, weights_dir: Path) -> tuple[AudioClassifier, dict]:
    pt_path, json_path = weights_dir / f"{NAME}.pt", weights_dir / f"{NAME}.json"
    if not pt_path.is_file() or not json_path.is_file():
        raise GankitError(f"no weights for the {NAME} classifier in {weights_dir}; run `gankit features train {NAME}`")
    info = json.loads(json_path.read_text())
    if _sha256(pt_path) != info.get("sha256"):
        raise GankitError(f"{pt_path} does not match the sha256 in {json_path.name}; run `gankit features train {NAME}` again")
    model = AudioClassifier(**info["architecture"])
    state = torch.load(pt_path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device).eval(), info


def load_audio_classifier(device: str | torch.device = "cpu", weights_dir: str | Path | None = None
                          ) -> tuple[AudioClassifier, dict]:
    """The shipped spoken-digit classifier: `(model in eval mode, info from its JSON)`.

    Verifies the weights' sha256. Cached per (device, folder): do not train or modify the model.
    """
    directory = Path(weights_dir).resolve() if weights_dir is not None else WEIGHTS_DIR
    return _load_cached(str(torch.device(device)), directory)


def extract_audio_features(waves: torch.Tensor, batch_size: int = 250, device: str | torch.device = "cpu",
                           weights_dir: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`(features [N, 128], logits [N, 10])` (float32, CPU) of clips `[N, C, L]` in [-1, 1] at 16 kHz."""
    if not isinstance(waves, torch.Tensor) or waves.ndim != 3 or not waves.is_floating_point():
        shape = tuple(waves.shape) if isinstance(waves, torch.Tensor) else type(waves).__name__
        raise GankitError(f"audio must be a float tensor [N, C, L] in [-1, 1], got {shape}")
    model, _ = load_audio_classifier(device, weights_dir)
    feats, logits = [], []
    with torch.inference_mode():
        for batch in waves.split(batch_size):
            f = model.features(batch.to(device, torch.float32))
            feats.append(f.float().cpu())
            logits.append(model.head(f).float().cpu())
    return torch.cat(feats), torch.cat(logits)


def audio_protocol(weights_dir: str | Path | None = None) -> dict:
    """What audio scores depend on, to store with them: network, weights sha256, input rule."""
    model, info = load_audio_classifier("cpu", weights_dir)
    return {"network": NAME, "weights_sha256": info["sha256"], "length": model.length, "rate": 16000,
            "input": f"mono mean, crop/zero-pad to {model.length}, log|STFT| n_fft {model.n_fft} hop {model.hop}"}


def audio_scores(fake: torch.Tensor, real: torch.Tensor, real_labels: torch.Tensor | None = None,
                 device: str | torch.device = "cpu", splits: int = 10, weights_dir: str | Path | None = None) -> dict:
    """Score generated clips `fake [M, C, L]` against `real [N, C, L]` with the spoken-digit classifier.

    Returns `is`/`is_std` (Inception-Score-style, on this classifier's logits: 1..10; rows shuffled
    with a fixed seed before the splits, so the order of `fake` does not matter), `fid` (on its
    features), the class histogram of fake predictions (`classes_covered`, `class_kl` against the
    real labels' distribution, or uniform when None, `counts`), and `protocol`.
    """
    from gankit.metrics.fid import fid_from_features
    from gankit.metrics.inception_score import inception_score_from_logits
    from gankit.metrics.modes import class_histogram_metrics

    real_f, _ = extract_audio_features(real, device=device, weights_dir=weights_dir)
    fake_f, fake_logits = extract_audio_features(fake, device=device, weights_dir=weights_dir)
    num_classes = fake_logits.shape[1]
    reference = (torch.bincount(real_labels, minlength=num_classes) if real_labels is not None
                 else torch.ones(num_classes))
    # IS cuts its rows in order into splits; a fixed shuffle makes class-sorted sets (real data) score fairly.
    order = torch.randperm(len(fake_logits), generator=torch.Generator().manual_seed(0))
    is_mean, is_std = inception_score_from_logits(fake_logits[order], splits=min(splits, len(fake)))
    result = {"is": is_mean, "is_std": is_std, "fid": fid_from_features(real_f, fake_f),
              **class_histogram_metrics(fake_logits.argmax(1), reference)}
    result["protocol"] = {**audio_protocol(weights_dir), "n_real": len(real), "n_fake": len(fake), "is_splits":
                          min(splits, len(fake))}
    return result
