"""Do the stabilisers matter on images? Plain DCGAN vs DCGAN + recommended tricks, same wall time.

    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py                  # 180 s of training each
    PYTHONPATH=$PWD python benchmarks/tricks_fashion.py --budget 600 --threads 1

Each variant of the `dcgan-fashion` preset trains for `--budget` seconds (training time only),
then `gankit.metrics.evaluate.evaluate_generator` scores G_ema (or G) on 10,000 samples against
the Fashion-MNIST test split with gankit's domain classifier: FID, and class-histogram coverage
and KL (the image analogue of mode counting). Prints one JSON line per variant and a table.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gankit.config import resolve
from gankit.metrics.evaluate import evaluate_generator
from gankit.train.loop import prepare_training

VARIANTS: dict[str, list[str]] = {
    "plain": [],
    # EMA of G, spectral norm and hinge loss in D (SNGAN-style), TTUR: D learns faster than G.
    "tricks": ["train.ema_kimg=10", "tricks.spectral_norm_d=true", "loss.name=hinge", "model.d_options={norm: none}",
               "train.d_lr=4e-4", "train.g_lr=1e-4", "train.g_betas=[0.0, 0.9]", "train.d_betas=[0.0, 0.9]"],
}


def train_for(sets: list[str], budget: float, seed: int) -> tuple[dict, int]:
    cfg = resolve("dcgan-fashion", None, ["log.progress=false", f"seed={seed}", "train.steps=100000000", *sets])
    training = prepare_training(cfg)
    trainer, data = training.trainer, training.data
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < budget:
        trainer.train_step(data.next_batch)
        steps += 1
    G = trainer.ema.G_ema if trainer.ema is not None else trainer.G
    result = evaluate_generator(G, cfg, metrics=["fid", "modes"], n=10_000, seed=seed,
                                which="G_ema" if trainer.ema is not None else "G")
    return result, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180, help="seconds of training per variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, sets in VARIANTS.items():
        result, steps = train_for(sets, args.budget, args.seed)
        row = {"variant": name, "budget_s": args.budget, "steps": steps, "fid": round(result["fid"], 3),
               "classes_covered": result["classes_covered"], "class_kl": round(result["class_kl"], 4),
               "threads": torch.get_num_threads(), "settings": sets}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| variant | steps | domain FID | classes covered | class KL |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['variant']} | {r['steps']} | {r['fid']:.2f} | {r['classes_covered']}/10 | {r['class_kl']:.4f} |")


if __name__ == "__main__":
    main()
