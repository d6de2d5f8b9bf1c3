"""`gankit eval` and `gankit features`: score checkpoints or image folders, train feature networks."""

import argparse
import json
import os
import sys
from pathlib import Path

from gankit.errors import GankitError

# `gankit eval` and `gankit sample` take the same flag.
TRUNCATION_HELP = ("truncation trick: latents within T stds (mixture latents: each component's offsets); 0 = off; "
                   "default: the run's tricks.sample_truncation")

DATASETS_FOR_REAL = ("fashion-mnist", "digits")
FEATURE_CHOICES = ("domain", "inception", "fashion-mnist", "digits")
CHECKPOINT_EVAL_N = 10000
FEATURES_DIR_ENV = "GANKIT_FEATURES_DIR"  # = gankit.metrics.features.FEATURES_DIR_ENV (not imported: keeps the CLI light)


def add_parsers(sub) -> None:
    p = sub.add_parser("eval", help="score a checkpoint (or two image folders) with FID, KID, IS, PRDC, modes")
    p.add_argument("checkpoint", nargs="?", help="checkpoint .pt or run directory")
    p.add_argument("--metrics", default=None, help="comma list of fid,kid,is,prdc,modes,accuracy (default: fid; modes for 2-D; accuracy: a semi-supervised D's test accuracy)")
    p.add_argument("--n", type=int, default=None, help="generated samples (default 10000; 2500 for 2-D data)")
    p.add_argument("--features", choices=FEATURE_CHOICES, default="domain",
                   help="domain = gankit's classifier for the dataset; inception = the standard FID network")
    p.add_argument("--split", default="test",
                   help="real split to compare with: test (default), val (held out of train), train, trainval; "
                        "digits also all. A split the run trained on is flagged: a warning and leak: true")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated samples' noise (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--bootstrap", type=int, default=0, metavar="ROUNDS",
                   help="add a 95%% bootstrap interval for FID (fid_ci_low, fid_ci_high) over ROUNDS resamples")
    p.add_argument("--no-ema", action="store_true", help="score G instead of G_ema")
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help=TRUNCATION_HELP)
    p.add_argument("--filter", choices=("none", "drs"), default="none",
                   help="drs: score samples kept by discriminator rejection sampling (`gankit refine-d` first)")
    p.add_argument("--real", help="real images: a dataset name (fashion-mnist, digits) or a folder/zip")
    p.add_argument("--fake", help="generated images: a folder/zip (compare two sets, no checkpoint)")
    p.add_argument("--inception", help="path of the TorchScript Inception file")
    p.add_argument("--no-cache", action="store_true", help="recompute the real statistics")
    p.add_argument("--features-dir", metavar="DIR",
                   help="domain networks retrained by `gankit features train` (default: the shipped ones, or "
                        "$GANKIT_FEATURES_DIR); their own sha256 goes in the protocol")
    p.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else CPU) | cpu | cuda | cuda:N | mps")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads (default 0 = torch's default); 1 when another job shares the cores")
    f = sub.add_parser("features", help="train gankit's domain feature networks (to your cache, never over the shipped ones)")
    f.add_argument("action", choices=("train",), help="train: fit the network on the dataset's train split")
    f.add_argument("name", choices=DATASETS_FOR_REAL + ("spoken-digits",),
                   help="which dataset's classifier: fashion-mnist, digits or spoken-digits (audio)")
    f.add_argument("--epochs", type=int, default=None, help="default: 10 for fashion-mnist, 40 for digits (as shipped)")
    f.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batch order (default 0)")
    f.add_argument("--out", help="directory for <name>.pt and <name>.json (default: $GANKIT_DATA/features, else "
                                 "~/.cache/gankit/features); evaluate with it via gankit eval --features-dir")


def _parse_metrics(text: str | None) -> list[str] | None:
    from gankit.config import METRIC_NAMES

    if text is None:
        return None
    names = [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        if name not in METRIC_NAMES:
            raise GankitError(f"--metrics: '{name}' is unknown; choose from {', '.join(METRIC_NAMES)}")
    if not names:
        raise GankitError("--metrics is empty; e.g. --metrics fid,kid")
    return names


def _print_result(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        if key != "protocol":
            print(f"{key:>14}  {value:.6g}" if isinstance(value, float) else f"{key:>14}  {value}")
    protocol = result["protocol"]
    features = protocol.get("features", {})
    print(f"protocol: {json.dumps({k: v for k, v in protocol.items() if k != 'features'})}")
    if features:
        print(f"features: {json.dumps(features)}")


def eval_checkpoint(args, metrics: list[str] | None) -> dict:
    from gankit.build import build_models, place_model
    from gankit.families import load_generator
    from gankit.metrics.evaluate import TOY_PROTOCOL_N, evaluate_run
    from gankit.sample import sampling_truncation
    from gankit.build import resolve_device
    from gankit.config import from_dict
    from gankit.families import get_family
    from gankit.train.checkpoint import load_checkpoint, load_model_state

    saved = load_checkpoint(args.checkpoint)
    family = get_family(from_dict(saved["config"]).model.family)
    if family.KIND == "translation":  # image-to-image runs score their outputs against targets
        return family.evaluate_checkpoint(from_dict(saved["config"]), saved, resolve_device(args.device), args)
    if hasattr(family, "evaluate_audio_checkpoint"):  # wavegan, specgan: the spoken-digit classifier's scores
        return family.evaluate_audio_checkpoint(from_dict(saved["config"]), saved, resolve_device(args.device), args)
    G, cfg, state, which = load_generator(args.checkpoint, args.device, args.no_ema)
    if args.features in DATASETS_FOR_REAL and args.features != cfg.data.name:
        raise GankitError(f"--features {args.features} does not match this run's data ({cfg.data.name}); use domain")
    device = next(G.parameters()).device
    if args.filter == "drs":
        from gankit.cli_drs import drs_generator

        if sampling_truncation(cfg, args.truncation):
            raise GankitError("--filter drs and the truncation trick both reshape G's samples; use one (--truncation 0)")
        G, _ = drs_generator(args.checkpoint, G, cfg, device, args.seed)
        which = f"{which} + DRS"
    D = None
    if "accuracy" in (metrics or []):
        D = build_models(cfg)[1]
        load_model_state(D, state["D"], "discriminator", args.checkpoint)
        place_model(D, device, G.out_shape)
    n = args.n or (TOY_PROTOCOL_N if cfg.data.name == "toy" else CHECKPOINT_EVAL_N)
    features = "inception" if args.features == "inception" else "domain"
    result = evaluate_run(G, D, cfg, metrics=metrics, n=n, features=features, split=args.split, seed=args.seed,
                          which=which, device=device, inception_path=args.inception,
                          use_cache=not args.no_cache, bootstrap=args.bootstrap,
                          truncation=sampling_truncation(cfg, args.truncation))
    result["protocol"]["checkpoint_step"] = state["step"]
    return result


def _load_set(spec: str, split: str, size: tuple[int, int] | None):
    """A dataset name or an image folder, as ImageData; folders must hold images of one size."""
    from gankit import data as datasets

    if spec in DATASETS_FOR_REAL:
        if spec == "fashion-mnist":
            return datasets.load_fashion_mnist(split=split)
        return datasets.load_digits(split=split)
    channels, height, width = datasets.folder_image_size(spec)
    return datasets.load_folder(spec, size or (height, width), channels=channels, crop="center" if size else "none")


def eval_folders(args, metrics: list[str] | None) -> dict:
    import time

    import torch

    from gankit import __version__
    from gankit.build import resolve_device
    from gankit.metrics import extract_features, feature_protocol
    from gankit.metrics.evaluate import score_features

    if not args.real or not args.fake:
        raise GankitError("comparing folders needs both --real DIR_OR_DATASET and --fake DIR")
    start = time.perf_counter()
    metrics = metrics or ["fid"]
    if args.features == "inception":
        network = "inception"
    elif args.features in DATASETS_FOR_REAL:
        network = args.features
    elif args.real in DATASETS_FOR_REAL:
        network = args.real
    else:
        raise GankitError("two folders: choose the feature network with --features inception, fashion-mnist or digits")
    fake = _load_set(args.fake, args.split, None)
    n = args.n or len(fake.images)
    if n > len(fake.images):
        raise GankitError(f"--n {n} is more than the {len(fake.images)} images in {args.fake}; lower --n")
    real = _load_set(args.real, args.split, None)
    device = resolve_device(args.device)
    pick = torch.randperm(len(real.images), generator=torch.Generator().manual_seed(0))[:n]
    real_images, labels = real.images[pick], (real.labels[pick] if real.labels is not None else None)
    real_features, _ = extract_features(real_images[:, :3], network, device=device, inception_path=args.inception)
    fake_features, fake_logits = extract_features(fake.images[:n, :3], network, device=device,
                                                  inception_path=args.inception)
    reference = {"features": real_features, "labels": labels}
    result = score_features(metrics, reference, fake_features, fake_logits, args.bootstrap)
    result["protocol"] = {
        "metrics": metrics, "real": args.real, "fake": args.fake, "split": args.split, "n_real": len(real_images),
        "n_fake": n, "features": feature_protocol(network, args.inception), "gankit_version": __version__,
        "time_s": round(time.perf_counter() - start, 3),
    }
    return result


def cmd_eval(args) -> int:
    metrics = _parse_metrics(args.metrics)
    if args.n is not None and args.n < 2:
        raise GankitError(f"--n must be >= 2, got {args.n}")
    if args.bootstrap < 0 or args.bootstrap == 1:
        raise GankitError(f"--bootstrap takes 0 (off) or at least 2 rounds, got {args.bootstrap}")
    if args.checkpoint and (args.real or args.fake):
        raise GankitError("give either a CHECKPOINT or --real/--fake folders, not both")
    if not args.checkpoint and not (args.real or args.fake):
        raise GankitError("nothing to evaluate: give a CHECKPOINT or --real DIR_OR_DATASET --fake DIR")
    if args.truncation and not args.checkpoint:
        raise GankitError("--truncation samples a generator; give a CHECKPOINT (folders are scored as they are)")
    if args.threads < 0:
        raise GankitError(f"--threads must be >= 1 (or 0 for torch's default), got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    previous = os.environ.get(FEATURES_DIR_ENV)
    if args.features_dir:
        if not Path(args.features_dir).expanduser().is_dir():
            raise GankitError(f"--features-dir {args.features_dir} is not a directory; give the --out of `gankit features train`")
        os.environ[FEATURES_DIR_ENV] = args.features_dir  # read by gankit.metrics.features wherever it loads
    try:
        result = eval_checkpoint(args, metrics) if args.checkpoint else eval_folders(args, metrics)
    finally:
        if args.features_dir:  # an in-process caller (the tests) keeps its own environment
            if previous is None:
                os.environ.pop(FEATURES_DIR_ENV, None)
            else:
                os.environ[FEATURES_DIR_ENV] = previous
    _print_result(result, args.json)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from gankit.metrics import train_domain_classifier

    epochs = args.epochs or {"fashion-mnist": 10, "digits": 40, "spoken-digits": 10}[args.name]
    from gankit.metrics.features import user_features_dir

    out = Path(args.out) if args.out else user_features_dir()
    if args.name == "spoken-digits":  # the audio classifier (gankit.metrics.audio_classifier)
        from gankit.metrics.audio_classifier import train_audio_classifier

        info = train_audio_classifier(out, epochs, args.seed)
        print(f"spoken-digits: test accuracy {info['test_accuracy']:.4f}, sha256 {info['sha256'][:16]}... written to {out}",
              file=sys.stderr)
        return 0
    info = train_domain_classifier(args.name, epochs, seed=args.seed, out=out)
    print(f"{args.name}: test accuracy {info['test_accuracy']:.4f}, sha256 {info['sha256'][:16]}... written to {out}; "
          f"evaluate with it: gankit eval RUN --features-dir {out}", file=sys.stderr)
    return 0
