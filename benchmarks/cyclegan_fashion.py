"""CycleGAN sneaker <-> ankle boot on one CPU thread: target-class share both ways and cycle L1 on the test split.

Trains the `cyclegan-fashion` preset (or --preset) straight through the family's `train_step` for its
train.steps, stopping early if the process CPU time reaches --budget-s, then scores the test split with
`evaluate_checkpoint` (the shipped Fashion classifier labels the translations; FID on its features).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/cyclegan_fashion.py --threads 1

Target (issue): >= 90% of translated test images classified as the target class, both ways, within
20 CPU-minutes (training and evaluation together).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from gankit.config import resolve, to_dict
from gankit.families import cyclegan, discogan
from gankit.train.distributed import DistEnv

FAMILIES = {"cyclegan": cyclegan, "discogan": discogan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cyclegan-fashion")
    parser.add_argument("--budget-s", type=float, default=1200.0, help="CPU-second cap on training (default 1200)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="config override a.b=v (repeatable)")
    parser.add_argument("--out", default="", help="folder for the final sample grid and a JSON of the figures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = resolve(args.preset, None, [f"seed={args.seed}", *args.set])
    family = FAMILIES[cfg.model.family]
    start_cpu, start_wall = time.process_time(), time.time()
    torch.manual_seed(cfg.seed)
    device = torch.device("cpu")
    fam = family.build(cfg, device, DistEnv())
    step = 0
    while step < cfg.train.steps and time.process_time() - start_cpu < args.budget_s:
        stats = fam.train_step()
        step += 1
        if step % 500 == 0 or step == cfg.train.steps:
            line = " ".join(f"{k} {v.item():.3f}" for k, v in stats.items())
            print(f"step {step} cpu {time.process_time() - start_cpu:.0f}s {line}", flush=True)
        if step % 1000 == 0 and step < cfg.train.steps:  # validation progress (held-out train images)
            val = fam.evaluate(cfg.seed)[0]
            shown = {k: round(v, 3) for k, v in val.items() if k.startswith(("target_share_", "cycle_l1_"))}
            print(f"  validation at step {step}: {shown}", flush=True)
    train_cpu = time.process_time() - start_cpu
    state = {"config": to_dict(cfg), **{name: net.state_dict() for name, net in fam.networks.items()}}
    scores = family.evaluate_checkpoint(cfg, state, device, SimpleNamespace(n=0, seed=cfg.seed, split="test"))
    total_cpu = time.process_time() - start_cpu
    figures = {k: v for k, v in scores.items() if k != "protocol"}
    print(f"preset {args.preset} seed {cfg.seed} steps {step}/{cfg.train.steps} threads {args.threads}")
    for key in ("target_share_AtoB", "target_share_BtoA", "cycle_l1_A", "cycle_l1_B", "fid_AtoB", "fid_BtoA"):
        if key in figures:
            print(f"  {key:18s} {figures[key]:.4f}")
    print(f"  train CPU {train_cpu:.0f} s, train+eval CPU {total_cpu:.0f} s ({total_cpu / 60:.1f} min), "
          f"wall {time.time() - start_wall:.0f} s")
    if args.out:
        out = Path(args.out)
        fam.write_samples(out / "samples.png")
        record = {"figures": figures, "protocol": scores["protocol"], "steps": step, "train_cpu_s": train_cpu,
                  "total_cpu_s": total_cpu, "threads": args.threads, "preset": args.preset, "sets": args.set}
        (out / "figures.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
