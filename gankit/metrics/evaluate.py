"""Evaluating a generator: draw samples, extract features, score them, record the protocol.

Every result is a flat dict of numbers plus a `protocol` dict that says how it was
made — feature network and its weights' sha256, resize rule, n_real, n_fake, real
split, the split the run trained on and whether the two share images (`leak`, with a
warning), G or G_ema, truncation, seed, gankit version and time taken — because a
score is only comparable with another made the same way. Runs choose best.pt on the
"val" split; `final_test_evaluation` scores it once on "test" after training.

Real (reference) features are cached on disk, keyed by dataset, split, resolution,
feature network hash and n_real, so a second evaluation does not recompute them.
Nothing here draws from the global RNG: evaluating during training leaves the
training stream (and so exact resume) untouched.
"""

import hashlib
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from gankit import __version__
from gankit.config import METRIC_NAMES, Config, DataConfig, resolution_hw  # noqa: F401 (METRIC_NAMES: API)
from gankit.errors import GankitError
from gankit.metrics import (METRICS, class_histogram_metrics, extract_features, feature_protocol, fid_bootstrap,
                            mode_metrics)
from gankit.metrics.stacked import PROTOCOL as STACKED_PROTOCOL
from gankit.metrics.stacked import PROTOCOL_N as STACKED_PROTOCOL_N
from gankit.metrics.stacked import stacked_mode_metrics
from gankit.sample import fixed_latents, generate, truncate_latents

TOY_PROTOCOL_N = 2500  # PacGAN's sample count for the 2-D mixtures
IMAGE_TRAINING_N = 2000  # images per evaluation during training: a trend, cheap enough to run often
MODES_RULE = "nearest mode; high quality if within 3 std of it; a mode is covered by >= 1 high-quality sample"

# The value that picks best.pt for each metric, and whether lower is better.
PRIMARY: dict[str, tuple[str, bool]] = {
    "fid": ("fid", True),
    "kid": ("kid", True),
    "is": ("is", False),
    "prdc": ("coverage", False),
    "modes": ("reverse_kl", True),
    "accuracy": ("accuracy", False),
    "stacked-modes": ("stacked_kl", True),
}
IMAGE_MODES_PRIMARY = ("class_kl", True)

# Datasets with named splits, and the disjoint parts each split name holds: an evaluation leaks when the
# split it compares with shares a part with the split the run trained on (gankit.data.digits/fashion_mnist).
SPLIT_DATASETS = ("fashion-mnist", "digits", "stacked-fashion")
SPLIT_PARTS: dict[str, set[str]] = {"train": {"train"}, "val": {"val"}, "test": {"test"},
                                    "trainval": {"train", "val"}, "all": {"train", "val", "test"}}
FINAL_SPLIT = "test"  # scored once at the end of a run that chose best.pt on eval.split


def default_metrics(data: DataConfig) -> list[str]:
    if data.name == "stacked-fashion":  # 1,000 modes, counted by the Fashion classifier on each channel
        return ["stacked-modes"]
    return ["modes"] if data.name == "toy" else ["fid"]


def primary_key(metrics: list[str], data: DataConfig) -> tuple[str, bool]:
    """(result key, lower_is_better) of the first metric: what best.pt and early stopping follow."""
    first = metrics[0]
    if first == "modes" and data.name != "toy":
        return IMAGE_MODES_PRIMARY
    return PRIMARY[first]


def domain_network(dataset: str) -> str:
    """gankit's own classifier for a dataset, or a one-line error saying to use Inception."""
    if dataset in ("fashion-mnist", "digits"):
        return dataset
    raise GankitError(
        f"gankit has no domain feature network for '{dataset}' data; use --features inception "
        "(or eval.features=inception)"
    )


def split_protocol(data: DataConfig, split: str) -> dict:
    """`{"train_split", "leak"}`: the split the run trained on, and whether the real `split` it is
    scored against shares images with it. Toy data is compared with fresh draws of its mixture
    (never a leak); folder data has no held-out split, so it is scored on its own training images."""
    if data.name == "toy":
        return {"leak": False}
    if data.name not in SPLIT_DATASETS:
        return {"train_split": "all", "leak": True}
    shared = SPLIT_PARTS.get(data.split, {data.split}) & SPLIT_PARTS.get(split, {split})
    return {"train_split": data.split, "leak": bool(shared)}


def warn_if_leak(data: DataConfig, split: str, protocol: dict) -> None:
    """Print one warning line to stderr when `protocol` says the score was made on training images."""
    if not protocol.get("leak"):
        return
    if data.name not in SPLIT_DATASETS:
        print(f"warning: {data.name} data has no held-out split; this score compares with the training images "
              "(recorded as leak: true)", file=sys.stderr)
        return
    print(f"warning: scoring on {data.name} split '{split}', which shares images with the training split "
          f"'{data.split}'; the score is optimistic (leak: true); train on data.split=train", file=sys.stderr)


def cache_dir() -> Path:
    root = os.environ.get("GANKIT_DATA") or Path.home() / ".cache" / "gankit"
    return Path(root) / "refstats"


def _data_identity(data: DataConfig, split: str) -> str:
    h, w = resolution_hw(data.resolution)
    if data.name != "folder":
        # "train" lost its val share when val was cut out of it: a new name, so old cached stats are not reused.
        return f"{data.name}-{'train.v2' if split == 'train' else split}-{h}x{w}"
    # A folder has no split; its path and modification time stand for its contents.
    path = Path(data.path).expanduser().resolve()
    stamp = f"{path}:{path.stat().st_mtime_ns if path.exists() else 0}:{data.channels}:{data.crop}"
    return f"folder-{hashlib.sha1(stamp.encode()).hexdigest()[:12]}-{h}x{w}"


def real_reference(data: DataConfig, split: str, network: str, n_real: int, device, inception_path=None,
                   use_cache: bool = True) -> dict:
    """Features, logits and labels of up to `n_real` real images (a fixed subset), cached on disk."""
    from gankit.data import loading

    protocol = feature_protocol(network, inception_path)
    key = f"{_data_identity(data, split)}-{network}-{protocol['weights_sha256'][:12]}-n{n_real}"
    path = cache_dir() / f"{key}.pt"
    if use_cache and path.is_file():
        return torch.load(path, weights_only=True)
    images = loading.load_images(replace(data, split=split))
    order = torch.randperm(len(images.images), generator=torch.Generator().manual_seed(0))[:n_real]
    real = images.images[order]
    if real.shape[1] == 4:
        real = real[:, :3]
    features, logits = extract_features(real, network, device=device, inception_path=inception_path)
    labels = images.labels[order] if images.labels is not None else None
    reference = {"features": features, "logits": logits, "labels": labels, "n": len(real), "key": key}
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        torch.save(reference, tmp)
        os.replace(tmp, path)
    return reference


def score_features(metrics: list[str], real: dict, fake_features, fake_logits, bootstrap: int = 0) -> dict:
    """Run each metric on real/fake features; `modes` on images is class-histogram coverage and KL.

    `bootstrap` > 0 adds `fid_ci_low`/`fid_ci_high`, a 95% percentile-bootstrap interval over that many rounds.
    """
    inputs = {"real_features": real["features"], "fake_features": fake_features, "fake_logits": fake_logits}
    results: dict = {}
    for name in metrics:
        if name == "modes":
            if fake_logits is None or real.get("labels") is None:
                raise GankitError("'modes' on images needs labelled real data and a domain classifier (--features domain)")
            counts = torch.bincount(real["labels"], minlength=fake_logits.shape[1]).double()
            results.update(class_histogram_metrics(fake_logits.argmax(1), counts / counts.sum()))
        elif name == "is":
            if fake_logits is None:
                raise GankitError("'is' needs class logits; this Inception file has no classifier head")
            results.update(METRICS["is"](fake_logits=fake_logits))
        else:
            results.update(METRICS[name](real_features=inputs["real_features"], fake_features=fake_features))
    if bootstrap and "fid" in metrics:
        results["fid_ci_low"], results["fid_ci_high"] = fid_bootstrap(real["features"], fake_features, n_boot=bootstrap)
    return results


def evaluate_toy(G: nn.Module, data: DataConfig, n: int, seed: int, truncation: float = 0.0) -> dict:
    """PacGAN mode metrics on `n` samples of a 2-D generator (latents truncated at `truncation` stds when > 0)."""
    from gankit.data import make_toy

    mixture = make_toy(data.toy)
    samples = generate(G, truncate_latents(G, fixed_latents(n, G.z_dim, seed), truncation), batch_size=1000)
    result = mode_metrics(samples, mixture.centers, mixture.std)
    result.pop("counts", None)
    return result


def evaluate_generator(G: nn.Module, cfg: Config, *, metrics: list[str] | None = None, n: int | None = None,
                       features: str | None = None, split: str | None = None, seed: int = 0,
                       which: str = "G", device: torch.device | str = "cpu", inception_path=None,
                       use_cache: bool = True, bootstrap: int = 0, truncation: float = 0.0) -> dict:
    """Score G against the real data of `cfg.data`. Returns metric values plus `protocol`.

    Defaults come from `cfg.eval`. G stays in its mode; samples come from a private RNG, truncated
    at `truncation` stds when > 0 (`gankit.sample.truncate_latents`; recorded in the protocol).
    """
    start = time.perf_counter()
    e = cfg.eval
    metrics = metrics or e.metrics or default_metrics(cfg.data)
    features = features or e.features
    split = split or e.split
    protocol: dict = {"metrics": metrics, "generator": which, "truncation": truncation or None,
                      "truncation_space": getattr(G, "truncation_space", "z") if truncation else None,
                      "truncation_mode": getattr(G, "truncation_mode", "squeeze") if truncation else None, "seed": seed,
                      "gankit_version": __version__, **({"fid_bootstrap_rounds": bootstrap} if bootstrap else {})}
    if cfg.data.name == "toy":
        n = n or e.n or TOY_PROTOCOL_N
        results = evaluate_toy(G, cfg.data, n, seed, truncation)
        protocol.update({"data": f"toy:{cfg.data.toy}", "n_fake": n, "rule": MODES_RULE})
    else:
        n = n or e.n or (STACKED_PROTOCOL_N if metrics == ["stacked-modes"] else IMAGE_TRAINING_N)
        fake = generate(G, truncate_latents(G, fixed_latents(n, G.z_dim, seed), truncation), batch_size=1000)
        if fake.shape[1] == 4:
            fake = fake[:, :3]
        results = {}
        protocol.update({"data": cfg.data.name, "split": split if cfg.data.name != "folder" else "all", "n_fake": n})
        if "stacked-modes" in metrics:  # judged on the images themselves: no real set, no feature network
            stacked = stacked_mode_metrics(fake)
            results.update(stacked_modes=stacked["modes"], stacked_num_modes=stacked["num_modes"],
                           stacked_kl=stacked["kl"])
            protocol["stacked_modes"] = STACKED_PROTOCOL
        feature_metrics = [m for m in metrics if m != "stacked-modes"]
        if feature_metrics:
            network = "inception" if features == "inception" else domain_network(cfg.data.name)
            real = real_reference(cfg.data, split, network, n, device, inception_path, use_cache)
            fake_features, fake_logits = extract_features(fake, network, device=device, inception_path=inception_path)
            results.update(score_features(feature_metrics, real, fake_features, fake_logits, bootstrap))
            protocol.update({"features": feature_protocol(network, inception_path), "n_real": real["n"]})
    protocol.update(split_protocol(cfg.data, split))
    warn_if_leak(cfg.data, split, protocol)
    protocol["time_s"] = round(time.perf_counter() - start, 3)
    return {**results, "protocol": protocol}


def evaluate_run(G: nn.Module, D: nn.Module | None, cfg: Config, metrics: list[str] | None = None,
                 **kwargs) -> dict:
    """`evaluate_generator` for G's metrics, plus (for 'accuracy') the accuracy of a semi-supervised D's
    class head, both on the real split `kwargs['split']` or `cfg.eval.split` ("val" by default: what
    evaluation during training and best.pt use; `gankit eval` passes "test").

    The protocol records `split`, `train_split` and `leak` (the split shares images with training)."""
    metrics = metrics or cfg.eval.metrics or default_metrics(cfg.data)
    split = kwargs.get("split") or cfg.eval.split
    g_metrics = [m for m in metrics if m != "accuracy"]
    result = evaluate_generator(G, cfg, metrics=g_metrics, **kwargs) if g_metrics else {}
    if "accuracy" in metrics:
        from gankit.metrics.accuracy import evaluate_classifier

        if D is None:
            raise GankitError("'accuracy' needs the discriminator's weights; this checkpoint has none")
        classifier = evaluate_classifier(D, cfg, split)
        result["accuracy"] = classifier["accuracy"]
        result.setdefault("protocol", {"metrics": metrics})["classifier"] = classifier["protocol"]
    protocol = result.setdefault("protocol", {"metrics": metrics})
    if "leak" not in protocol:  # accuracy alone: evaluate_generator did not run, so record and warn here
        protocol.update({"split": split, **split_protocol(cfg.data, split)})
        warn_if_leak(cfg.data, split, protocol)
    return result
