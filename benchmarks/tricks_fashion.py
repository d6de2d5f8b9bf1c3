"""Do the stabilisers matter on images? Plain DCGAN vs DCGAN + recommended tricks, same wall time.

    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py                  # 180 s of training each
    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py --budget 600 --threads 1
    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py --budget 300 --threads 1 --limit 2000   # small data

Each variant of the `dcgan-fashion` preset trains for `--budget` seconds (training time only),
then `gankit.metrics.evaluate.evaluate_generator` scores G_ema (or G) on 10,000 samples against
the Fashion-MNIST test split with gankit's domain classifier: FID, and class-histogram coverage
and KL (the image analogue of mode counting). Prints one JSON line per variant and a table.

G_ema is scored after `refresh_batchnorm`: its batch norms otherwise normalise with running
statistics copied from G, a different network. The run with EMA is also scored without the
refresh and through its raw G, so the table shows what each part contributes.
"""

from __future__ import annotations

import argparse
import json

import torch

from gankit.config import resolve
from gankit.metrics.evaluate import evaluate_generator
from gankit.train.ema import refresh_batchnorm
from gankit.train.loop import prepare_training, train_for_seconds

VARIANTS: dict[str, list[str]] = {
    "plain": [],
    # EMA of G (half-life 10 kimg = 156 steps of 64). Measured at a fixed wall-clock budget on one
    # CPU thread, the SNGAN-style set (hinge + spectral norm + TTUR with G at 1e-4) scored far worse
    # than plain: each step costs more and G learns slower, so it is not recommended at this budget.
    # Measured (--budget 300 --threads 1, seed 0, 2-core CPU shared with another 1-thread job): plain
    # FID 189.8, class KL 0.052; EMA with refreshed BN FID 190.3, class KL 0.036 (without the refresh
    # FID 194.3): at this budget EMA evens out the classes but does not lower FID.
    "tricks": ["train.ema_kimg=10"],
}
# With few training images D memorises them and G's images degrade; DiffAugment (translation and
# cutout on every D input, real and fake) is the trick made for that case.
SMALL_DATA_TRICKS = ["train.ema_kimg=10", "tricks.augment=translation,cutout"]


def train_for(sets: list[str], budget: float, seed: int) -> tuple[list[tuple[str, dict]], int]:
    """Train for `budget` seconds; returns [(which generator, metrics)] and the step count."""
    cfg = resolve("dcgan-fashion", None, ["log.progress=false", f"seed={seed}", "train.steps=100000000", *sets])
    training = prepare_training(cfg)
    trainer = training.trainer
    steps = train_for_seconds(training, budget)

    def score(G, which: str) -> dict:
        return evaluate_generator(G, cfg, metrics=["fid", "modes"], n=10_000, seed=seed, which=which)

    if trainer.ema is None:
        return [("G", score(trainer.G, "G"))], steps
    results = [("G", score(trainer.G, "G")), ("G_ema, G's BN statistics", score(trainer.ema.G_ema, "G_ema"))]
    refresh_batchnorm(trainer.ema.G_ema, seed=seed)
    results.append(("G_ema, own BN statistics", score(trainer.ema.G_ema, "G_ema")))
    return results, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180, help="seconds of training per variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--limit", type=int, default=0,
                        help="train on the first N images only (small data); the trick set then adds DiffAugment")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    if args.limit:
        variants = {name: [f"data.limit={args.limit}", *sets] for name, sets in
                    (("plain", VARIANTS["plain"]), ("tricks", SMALL_DATA_TRICKS))}
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, sets in variants.items():
        results, steps = train_for(sets, args.budget, args.seed)
        for which, result in results:
            row = {"variant": name, "generator": which, "budget_s": args.budget, "steps": steps,
                   "fid": round(result["fid"], 3), "classes_covered": result["classes_covered"],
                   "class_kl": round(result["class_kl"], 4), "threads": torch.get_num_threads(), "settings": sets}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| variant | sampled from | steps | domain FID | classes covered | class KL |\n| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['variant']} | {r['generator']} | {r['steps']} | {r['fid']:.2f} | {r['classes_covered']}/10 | "
              f"{r['class_kl']:.4f} |")


if __name__ == "__main__":
    main()
