"""Milliseconds per training step of a toy preset and variants of it, alternated in one process.

    PYTHONPATH=$PWD python benchmarks/toy_step.py [--preset toy-grid] [--rounds 7] [--steps 200] \
        --variant "" --variant "model.g_width=64" --variant "model.g_width=64 train.batch_size=128"

Each --variant is a space-separated list of `key=value` overrides ("" = the preset as it is). Every
variant is built once and warmed up; then each round runs `--steps` train steps of every variant in
turn, so machine noise (this 2-core machine is shared) hits all variants alike. Prints the median and
range of ms/step per variant, and the seconds that the preset's step count would take at that median
(training steps only: start-up, sample grids and checkpoints come on top, a few seconds per run).
One thread unless --threads says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gankit.config import resolve
from gankit.train.loop import prepare_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="toy-grid")
    parser.add_argument("--variant", action="append", default=None, help="overrides, e.g. 'model.g_width=64'")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200, help="train steps per variant per round")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = [v.split() for v in (args.variant or [""])]
    runs = []
    for sets in variants:
        training = prepare_training(resolve(args.preset, None, ["log.progress=false", *sets]))
        for _ in range(50):  # warm-up: allocator, first-call paths
            training.family.train_step()
        runs.append(training)
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(args.rounds):
        for training, record in zip(runs, times):
            start = time.perf_counter()
            for _ in range(args.steps):
                training.family.train_step()
            record.append(1000 * (time.perf_counter() - start) / args.steps)
    print(f"{args.preset}, {torch.get_num_threads()} thread(s), medians of {args.rounds} alternated rounds:")
    for sets, training, record in zip(variants, runs, times):
        median = statistics.median(record)
        seconds = median * training.cfg.train.steps / 1000
        print(f"  {median:6.2f} ms/step [{min(record):.2f}-{max(record):.2f}]  "
              f"{training.cfg.train.steps} steps ~ {seconds:.0f} s  {' '.join(sets) or '(preset)'}")


if __name__ == "__main__":
    main()
