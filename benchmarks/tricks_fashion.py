"""Do the stabilisers matter on images? Plain DCGAN vs DCGAN + recommended tricks, same wall time.

    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py                  # 180 s of training each
    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py --budget 300 --threads 1 --seeds 0,1,2   # the figures below
    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py --budget 300 --threads 1 --limit 2000   # small data

Each variant of the `dcgan-fashion` preset trains for `--budget` seconds (training time only),
then `gankit.metrics.evaluate.evaluate_generator` scores G_ema (or G) on 10,000 samples against
the Fashion-MNIST test split with gankit's domain classifier: FID, and class-histogram coverage
and KL (the image analogue of mode counting). Every variant trains once per seed in `--seeds`;
prints one JSON line per run and generator, a per-seed table, and the median over seeds (one seed's
FID moves by several points with the step count a shared CPU allows, so one seed proves little).

G_ema is scored after `refresh_batchnorm`: its batch norms otherwise normalise with running
statistics copied from G, a different network. The run with EMA is also scored without the
refresh and through its raw G, so the table shows what each part contributes.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from gankit.config import resolve
from gankit.metrics.evaluate import evaluate_generator
from gankit.train.ema import refresh_batchnorm
from gankit.train.loop import prepare_training, train_for_seconds

VARIANTS: dict[str, list[str]] = {
    "plain": [],
    # At a few minutes of CPU training DCGAN is far from converged, so what counts is how far G gets
    # per step: the recommended set raises both learning rates 8x (2e-4 -> 1.6e-3) and samples from
    # an EMA of G (half-life 3 kimg = 47 steps of 64) whose average removes most of the extra noise
    # the large steps add. Neither costs time per step.
    # Measured with `--budget 300 --threads 1 --seeds 0,1,2` (2-core CPU, the other core busy with
    # another job), domain FID / class KL / classes covered, per seed 0, 1, 2 -> median:
    #   plain, G                    188.6 / 187.3 / 183.7 -> 187.3;  KL 0.047 / 0.041 / 0.031 -> 0.041;  10/10
    #   tricks, G_ema (own BN)      104.3 / 104.3 / 103.2 -> 104.3;  KL 0.009 / 0.006 / 0.008 -> 0.008;  10/10
    #   tricks, raw G               110.2 / 107.0 / 113.9 -> 110.2;  KL 0.014 / 0.007 / 0.016 -> 0.014
    # Steps (median) 2,916 plain vs 2,883 tricks. Most of the FID gain is the LR; the EMA adds ~6 FID
    # and nearly halves the class KL again; refreshing its BN statistics adds ~1 FID.
    "tricks": ["train.g_lr=1.6e-3", "train.d_lr=1.6e-3", "train.ema_kimg=3"],
}
# How the set was found: a screening pass on seed 0 only (300 s, 1 thread, 2-core CPU shared with
# other jobs, 2,830-3,040 steps per run). Each run was scored through G and through extra EMA copies
# of G (half-life 1 / 3 / 10 kimg, BN refreshed) kept alongside it. Domain FID, class KL:
#   plain (LR 2e-4)                    G 180.9, 0.028   EMA 1: 178.5, 0.026   EMA 3: 179.2, 0.028   EMA 10: 183.8, 0.029
#   linear LR decay to 0 from 50%      G 211.8, 0.050   (the decay takes steps from a G far from done)
#   one-sided label smoothing 0.1      G 183.6, 0.033   EMA 1: 183.9, 0.027
#   LR 4e-4 (both nets)                G 135.0, 0.012   EMA 1: 133.0, 0.014   EMA 3: 133.6, 0.016
#   TTUR, G 4e-4, D 8e-4               G 146.0, 0.010   EMA 1: 141.4, 0.014   EMA 3: 142.6, 0.013
#   LR 8e-4                            G 127.6, 0.017   EMA 1: 119.8, 0.010   EMA 3: 117.8, 0.009
#   LR 8e-4, decay to 0.25 from 70%    G 118.8, 0.011   EMA 3: 118.8, 0.011   (decay does what EMA does)
#   LR 1.6e-3                          G 111.7, 0.012   EMA 1: 104.8, 0.011   EMA 3: 103.7, 0.011   EMA 10: 104.0, 0.013
# Earlier measurements: EMA 10 kimg alone gave FID 190.3 vs 189.8 (class KL 0.036 vs 0.052), and the
# SNGAN-style set (hinge + spectral norm + TTUR with G at 1e-4) scored far worse than plain: each
# step costs more and G learns slower, so it is not recommended at this budget.
# With few training images D memorises them and G's images degrade; DiffAugment (translation and
# cutout on every D input, real and fake) is the trick made for that case.
SMALL_DATA_TRICKS = ["train.ema_kimg=10", "tricks.augment=translation,cutout"]


def train_for(sets: list[str], budget: float, seed: int) -> tuple[list[tuple[str, dict]], int]:
    """Train for `budget` seconds; returns [(which generator, metrics)] and the step count."""
    cfg = resolve("dcgan-fashion", None, ["log.progress=false", f"seed={seed}", "train.steps=100000000", *sets])
    training = prepare_training(cfg)
    trainer = training.family.trainer
    steps = train_for_seconds(training, budget)

    def score(G, which: str) -> dict:
        return evaluate_generator(G, cfg, metrics=["fid", "modes"], n=10_000, seed=seed, which=which, split="test")

    if trainer.ema is None:
        return [("G", score(trainer.G, "G"))], steps
    results = [("G", score(trainer.G, "G")), ("G_ema, G's BN statistics", score(trainer.ema.G_ema, "G_ema"))]
    refresh_batchnorm(trainer.ema.G_ema, seed=seed)
    results.append(("G_ema, own BN statistics", score(trainer.ema.G_ema, "G_ema")))
    return results, steps


def print_tables(rows: list[dict]) -> None:
    """Per-seed rows, then the median over seeds of each (variant, generator)."""
    print("\n| variant | sampled from | seed | steps | domain FID | classes covered | class KL |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['variant']} | {r['generator']} | {r['seed']} | {r['steps']} | {r['fid']:.2f} | "
              f"{r['classes_covered']}/10 | {r['class_kl']:.4f} |")
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["generator"]), []).append(r)
    print(f"\nMedian over seeds {sorted({r['seed'] for r in rows})}:\n")
    print("| variant | sampled from | steps | domain FID | classes covered | class KL |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (variant, which), group in groups.items():
        keys = ("steps", "fid", "classes_covered", "class_kl")
        mid = {key: statistics.median([r[key] for r in group]) for key in keys}
        print(f"| {variant} | {which} | {mid['steps']:.0f} | {mid['fid']:.2f} | {mid['classes_covered']:g}/10 | "
              f"{mid['class_kl']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180, help="seconds of training per variant")
    parser.add_argument("--seeds", default="0", help="comma list; every variant trains once per seed")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--limit", type=int, default=0,
                        help="train on the first N images only (small data); the trick set then adds DiffAugment")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = dict(VARIANTS)
    if args.limit:
        variants = {name: [f"data.limit={args.limit}", *sets] for name, sets in
                    (("plain", VARIANTS["plain"]), ("tricks", SMALL_DATA_TRICKS))}
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for seed in seeds:
        for name, sets in variants.items():
            results, steps = train_for(sets, args.budget, seed)
            for which, result in results:
                row = {"variant": name, "generator": which, "seed": seed, "budget_s": args.budget, "steps": steps,
                       "fid": round(result["fid"], 3), "classes_covered": result["classes_covered"],
                       "class_kl": round(result["class_kl"], 4), "threads": torch.get_num_threads(),
                       "settings": sets}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print_tables(rows)


if __name__ == "__main__":
    main()
