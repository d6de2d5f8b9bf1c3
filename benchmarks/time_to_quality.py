"""Time to quality: train a preset for a wall-clock budget and log domain FID against training time.

    PYTHONPATH=$PWD python benchmarks/time_to_quality.py                       # FID at 5, 10, 20 min
    PYTHONPATH=$PWD python benchmarks/time_to_quality.py --marks 30 60 120     # a short check

The clock counts training only (evaluation time is excluded and printed separately). At each
mark (seconds of training), G (G_ema when the preset averages weights) generates `--n` images
from fixed latents; their features from gankit's Fashion-MNIST classifier
(`gankit.metrics.features.extract_features(..., "fashion-mnist")`) are compared with the features
of the real test split (all 10,000 images) by `gankit.metrics.fid.fid_from_features`. Each line
is printed as JSON (and appended to `--log` when given), with the feature network's protocol.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gankit.config import resolve
from gankit.data import load_fashion_mnist
from gankit.metrics.features import extract_features, feature_protocol
from gankit.metrics.fid import fid_from_features
from gankit.sample import fixed_latents, generate, save_samples
from gankit.train.loop import prepare_training

NETWORK = "fashion-mnist"
LATENT_SEED = 2024  # the fake set's latents: the same at every mark


def domain_fid(G: torch.nn.Module, real_features: torch.Tensor, n: int) -> float:
    """FID between `n` images of G (fixed latents) and the real features, on the domain classifier."""
    fake = generate(G, fixed_latents(n, G.z_dim, LATENT_SEED))  # [n, 1, 28, 28] in [-1, 1]
    fake_features, _ = extract_features(fake, NETWORK, with_logits=False)
    return fid_from_features(real_features, fake_features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dcgan-fashion")
    parser.add_argument("--marks", type=float, nargs="+", default=[300, 600, 1200],
                        help="seconds of training at which to measure FID; the last one is the budget")
    parser.add_argument("--n", type=int, default=2000, help="generated images per FID")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--log", help="also append each JSON line to this file")
    parser.add_argument("--samples", help="directory for a 64-image grid at each mark (to look at)")
    args = parser.parse_args()

    cfg = resolve(args.preset, None, ["log.progress=false", f"seed={args.seed}", "train.steps=100000000", *args.set])
    training = prepare_training(cfg)
    trainer, data = training.family.trainer, training.family.data
    real = load_fashion_mnist(split="test", resolution=28).images
    real_features, _ = extract_features(real, NETWORK, with_logits=False)
    header = {"preset": args.preset, "threads": torch.get_num_threads(), "n_fake": args.n, "n_real": len(real),
              "real_split": "test", "features": feature_protocol(NETWORK)}
    lines = [header]
    print(json.dumps(header), flush=True)

    marks = sorted(args.marks)
    train_s, step, eval_s = 0.0, 0, 0.0
    for mark in marks:
        start = time.perf_counter()
        while train_s + (time.perf_counter() - start) < mark:
            trainer.train_step(data.next_batch)
            step += 1
        train_s += time.perf_counter() - start
        G = trainer.ema.G_ema if trainer.ema is not None else trainer.G
        eval_start = time.perf_counter()
        fid = domain_fid(G, real_features, args.n)
        if args.samples:
            save_samples(generate(G, training.family.fixed_z[:64]), Path(args.samples) / f"train-{int(mark)}s.png")
        eval_s += time.perf_counter() - eval_start
        line = {"train_s": round(train_s, 1), "step": step, "nimg": step * cfg.train.batch_size * cfg.train.n_critic,
                "fid": round(fid, 3), "eval_s_total": round(eval_s, 1)}
        lines.append(line)
        print(json.dumps(line), flush=True)
    if args.log:
        with open(args.log, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)


if __name__ == "__main__":
    main()
