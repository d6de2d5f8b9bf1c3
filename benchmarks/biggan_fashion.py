"""BigGAN-style and SNGAN ResNet presets beside dcgan-fashion, for the same CPU time each.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/biggan_fashion.py --budget-s 300 --threads 1
    PYTHONPATH=$PWD python benchmarks/biggan_fashion.py --budget-s 1800     # the issue's 30 CPU-minutes

Each preset trains (no files, no logging) until `--budget-s` seconds of this process's CPU time pass
(with --threads 1, one core's time: fair on a shared machine, where wall time depends on the
neighbours; `benchmarks/new_families_fashion.py` measures ProGAN and StyleGAN the same way); then G_ema with
standing statistics (G when the preset keeps no average) draws `--n` images (10k by default, no
truncation) that are scored against the whole Fashion-MNIST test split on gankit's domain classifier:
FID and the KL divergence between the real and generated class histograms (`class_kl`, lower is
better). One JSON line per preset, with the evaluation protocol. With `--checkpoints DIR` each run
is also saved as DIR/<preset>.pt (a normal checkpoint: `gankit interpolate DIR/biggan-fashion.pt ...`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gankit.config import resolve
from gankit.metrics.evaluate import evaluate_generator
from gankit.train.checkpoint import save_checkpoint
from gankit.train.loop import checkpoint_state, prepare_training


def run(preset: str, budget_s: float, threads: int, n: int, sets: list[str], checkpoints: Path | None) -> dict:
    """Train `preset` for `budget_s` seconds, score it, and return one result line."""
    cfg = resolve(preset, None, ["device=cpu", "log.progress=false", "train.steps=100000000",
                                 f"runtime.threads={threads}", *sets])
    training = prepare_training(cfg)
    steps, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu0 < budget_s:
        training.family.train_step()
        steps += 1
    training.step, training.nimg = steps, steps * training.family.images_per_step
    wall_s = time.perf_counter() - wall0
    if checkpoints is not None:
        checkpoints.mkdir(parents=True, exist_ok=True)
        save_checkpoint(checkpoints / f"{preset}.pt", checkpoint_state(training))
    family = training.family
    which = "G_ema" if family.trainer.ema is not None else "G"
    start = time.perf_counter()
    result = evaluate_generator(family.sampling_G(), cfg, metrics=["fid", "modes"], n=n, split="test", seed=0,
                                which=which, device="cpu")
    return {"preset": preset, "steps": steps, "cpu_s": budget_s, "wall_s": round(wall_s, 1), "images": training.nimg,
            "fid": round(result["fid"], 3), "class_kl": round(result["class_kl"], 4),
            "eval_s": round(time.perf_counter() - start, 1), "protocol": result["protocol"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="biggan-fashion,sngan-fashion,dcgan-fashion")
    parser.add_argument("--budget-s", type=float, default=300.0, help="CPU seconds of training per preset")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=10000, help="generated images per score (test split: 10,000 real)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every preset")
    parser.add_argument("--checkpoints", type=Path, help="save each trained run as DIR/<preset>.pt")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for preset in args.presets.split(","):
        print(json.dumps(run(preset, args.budget_s, args.threads, args.n, args.set, args.checkpoints)), flush=True)


if __name__ == "__main__":
    main()
