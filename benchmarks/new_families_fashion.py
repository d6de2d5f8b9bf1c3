"""ProGAN and StyleGAN presets on Fashion-MNIST 32x32 beside dcgan-fashion, for the same time each.

Trains each preset (and dcgan-fashion) from scratch for `--budget-s` seconds of this process's CPU
time (with --threads 1 that is one core's time: fair on a shared machine, where wall time depends
on the neighbours), then scores 10,000 samples of its G_ema (else G), drawn as the run samples,
against the Fashion-MNIST test split: FID and class-histogram KL on gankit's Fashion-MNIST
classifier (domain features; the new presets draw 32x32 images, dcgan-fashion 28x28, and the
classifier resizes both to its own input).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/new_families_fashion.py \\
        --presets progan-fashion,stylegan-fashion --budget-s 300 --threads 1

Prints one markdown table (and writes it, with sample grids, under --out).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

BASELINE = "dcgan-fashion"


def train_preset(preset: str, budget_s: float, sets: list[str], seed: int):
    """A fresh run of `preset` trained for `budget_s` CPU seconds: (family, steps, kimg, wall s, CPU s)."""
    from gankit.config import resolve
    from gankit.families import get_family, validate_family
    from gankit.train.distributed import DistEnv
    from gankit.train.loop import seed_everything

    cfg = resolve(preset, None, [f"seed={seed}", "device=cpu", *sets])
    validate_family(cfg)
    seed_everything(cfg.seed)
    family = get_family(cfg.model.family).build(cfg, torch.device("cpu"), DistEnv())
    steps, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu0 < budget_s:
        family.train_step()
        steps += 1
    return cfg, family, steps, steps * family.images_per_step / 1000, time.perf_counter() - wall0, time.process_time() - cpu0


def score(cfg, family, n: int, seed: int) -> dict:
    """FID and class KL of `n` samples (G_ema when kept) against the test split, as the run samples."""
    from gankit.metrics.evaluate import evaluate_run

    G = family.sampling_G()
    psi = cfg.tricks.sample_truncation
    if cfg.model.family == "stylegan" and psi:
        from gankit.families.stylegan import TruncatedInW

        G, psi = TruncatedInW(G, psi), 0.0
    return evaluate_run(G, None, cfg, metrics=["fid", "modes"], n=n, split="test", seed=seed,
                        which="G_ema" if "G_ema" in family.networks else "G", device="cpu", truncation=psi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="progan-fashion,stylegan-fashion", help="comma list of presets")
    parser.add_argument("--budget-s", type=float, default=300.0, help="CPU seconds of training per preset")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--n", type=int, default=10000, help="samples scored per preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the new presets (not the baseline), e.g. progan.fade_kimg=3")
    parser.add_argument("--out", default="runs/bench-new-families", help="folder for the table and grids")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for preset in [p for p in args.presets.split(",") if p] + [BASELINE]:
        sets = [f"runtime.threads={args.threads}"] + (args.set if preset != BASELINE else [])
        cfg, family, steps, kimg, wall, cpu = train_preset(preset, args.budget_s, sets, args.seed)
        family.write_samples(out / f"{preset}.png")
        result = score(cfg, family, args.n, args.seed)
        growth = ""
        if cfg.model.family == "progan":
            stage, alpha = family.G.growth()
            growth = f"{4 << stage}px, alpha {alpha:.2f}"
        row = {"preset": preset, "steps": steps, "kimg": round(kimg, 1), "cpu_s": round(cpu), "wall_s": round(wall),
               "fid": result["fid"], "class_kl": result["class_kl"],
               "classes": result.get("classes_covered"), "growth": growth, "protocol": result["protocol"]}
        rows.append(row)
        print(f"{preset}: {steps} steps ({kimg:.1f} kimg) in {cpu:.0f} CPU s / {wall:.0f} wall s: FID {row['fid']:.2f}, "
              f"class KL {row['class_kl']:.4f}", flush=True)
    lines = ["| preset | steps | kimg | CPU s | FID (domain, test, 10k) | class KL | classes | reached |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['steps']} | {r['kimg']} | {r['cpu_s']} | {r['fid']:.2f} | "
                     f"{r['class_kl']:.4f} | {r['classes']} | {r['growth'] or '-'} |")
    table = "\n".join(lines)
    print(table)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
