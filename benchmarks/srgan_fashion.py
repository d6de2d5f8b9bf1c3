"""SRGAN x4 on Fashion-MNIST (7x7 -> 28x28) against an MSE-only G of the same size and bicubic.

Trains the `srgan-fashion` preset twice for the same CPU-time budget each: as it is (pixel MSE +
content MSE on the domain classifier's features + adversarial term), and with content_weight = 0
and adversarial_weight = 0 (the SRResNet baseline: the same G, pixel MSE only, no D). Then scores
both and bicubic upsampling on the Fashion-MNIST test split (LR = antialiased bicubic downsampling
of each test image): PSNR (dB), SSIM, and FID on gankit's Fashion-MNIST classifier features of
each output set against the test images.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/srgan_fashion.py --budget-s 300 --threads 1

Prints one table plus the CPU seconds and steps each model trained for.
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import torch

from gankit.config import resolve
from gankit.families import srgan
from gankit.train.distributed import DistEnv


def train_for(cfg, budget_s: float, seed: int) -> tuple[dict, int, float, float]:
    """Train a fresh family for `budget_s` seconds of this process's CPU time (fair on a shared machine,
    where wall time depends on the neighbours): (checkpoint-like state, steps, wall s, CPU s)."""
    torch.manual_seed(seed)
    family = srgan.build(cfg, torch.device("cpu"), DistEnv())
    steps, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu0 < budget_s and steps < cfg.train.steps:
        family.train_step()
        steps += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    state = {name: net.state_dict() for name, net in family.networks.items()}
    return state, steps, wall, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-s", type=float, default=300.0, help="CPU seconds (process time) of training per model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n", type=int, default=10000, help="test images scored (Fashion-MNIST test has 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="extra config overrides for both runs, a.b=v")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # steps is only a cap here: the budget decides how long each model trains.
    base = ["train.steps=1000000", f"seed={args.seed}"] + args.set
    configs = {"srgan": resolve("srgan-fashion", None, base),
               "mse-only": resolve("srgan-fashion", None, base + ["sr.content_weight=0", "sr.adversarial_weight=0"])}
    eval_args = SimpleNamespace(n=args.n, split="test", seed=args.seed, no_ema=False)
    rows, runs = {}, {}
    for name, cfg in configs.items():
        state, steps, wall, cpu = train_for(cfg, args.budget_s, args.seed)
        runs[name] = {"steps": steps, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
        result = srgan.evaluate_checkpoint(cfg, state, torch.device("cpu"), eval_args)
        rows[name] = {k: result[k] for k in ("psnr", "ssim", "fid")}
        bicubic = {k: result["bicubic_" + k] for k in ("psnr", "ssim", "fid")}
        protocol = result["protocol"]
    rows["bicubic"] = bicubic
    c = configs["srgan"]
    print(f"SRGAN x{c.sr.scale} Fashion-MNIST {28 // c.sr.scale}x{28 // c.sr.scale} -> 28x28; G width "
          f"{c.model.g_width}, {c.sr.residual_blocks} blocks; batch {c.train.batch_size}; test n={protocol['n']}; "
          f"FID on {protocol['fid_features']['network']} features ({protocol['fid_features']['weights_sha256'][:12]})")
    print(f"{'model':10s} {'PSNR dB':>8s} {'SSIM':>7s} {'FID':>8s}  training")
    for name, row in rows.items():
        run = runs.get(name)
        train = f"{run['steps']} steps, {run['wall_s']} s wall, {run['cpu_s']} s CPU" if run else "-"
        print(f"{name:10s} {row['psnr']:8.2f} {row['ssim']:7.4f} {row['fid']:8.2f}  {train}")
    if args.json:
        print(json.dumps({"scores": rows, "runs": runs, "protocol": protocol}))


if __name__ == "__main__":
    main()
