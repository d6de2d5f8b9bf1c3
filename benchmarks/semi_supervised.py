"""Semi-supervised GAN vs the same classifier trained on the labels alone (issue 5); prints the table.

    PYTHONPATH=. python benchmarks/semi_supervised.py                      # ssgan-fashion-100 and -1000
    PYTHONPATH=. python benchmarks/semi_supervised.py --presets ssgan-digits --seeds 0,1,2

For each preset and seed: train the GAN for the preset's steps, then train the same D network on
the same labelled images alone for the same number of D updates (same optimizer, LR, batch and
seed: `gankit.semisup.train_supervised_baseline`). Both are scored once, at the last step (no
selection on the test split), by the argmax of D's class logits on the real test split.
"""

import argparse
import statistics
import time

import torch

from gankit.config import resolve
from gankit.semisup import evaluate_classifier, train_supervised_baseline
from gankit.train.loop import prepare_training


def train_gan(preset: str, seed: int, sets: list[str]) -> tuple[dict, float, object]:
    """Train the semi-supervised GAN; returns (test accuracy result, seconds, cfg)."""
    cfg = resolve(preset, None, ["device=cpu", f"seed={seed}", *sets])
    training = prepare_training(cfg)
    trainer, data = training.family.trainer, training.family.data
    start = time.perf_counter()
    for _ in range(cfg.train.steps):
        trainer.train_step(data.next_batch)
    seconds = time.perf_counter() - start
    return evaluate_classifier(trainer.D, cfg), seconds, cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="ssgan-fashion-100,ssgan-fashion-1000")
    parser.add_argument("--seeds", default="0", help="comma list of seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="config override for every preset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'preset':>20} {'seed':>4} {'steps':>6} {'ssgan acc':>9} {'time s':>7} {'baseline acc':>12} {'time s':>7}")
    for preset in args.presets.split(","):
        gan_accs, base_accs = [], []
        for seed in (int(s) for s in args.seeds.split(",")):
            gan, gan_s, cfg = train_gan(preset, seed, args.set)
            D, info = train_supervised_baseline(resolve(preset, None, ["device=cpu", f"seed={seed}", *args.set]))
            base = evaluate_classifier(D, cfg)
            gan_accs.append(gan["accuracy"])
            base_accs.append(base["accuracy"])
            print(f"{preset:>20} {seed:>4} {cfg.train.steps:>6} {gan['accuracy']:>9.4f} {gan_s:>7.0f} "
                  f"{base['accuracy']:>12.4f} {info['time_s']:>7.0f}", flush=True)
        print(f"{preset:>20} median over {len(gan_accs)} seed(s): ssgan {statistics.median(gan_accs):.4f}, "
              f"supervised baseline {statistics.median(base_accs):.4f}", flush=True)


if __name__ == "__main__":
    main()
