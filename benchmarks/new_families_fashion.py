"""The new image families' presets beside dcgan-fashion on Fashion-MNIST, for the same CPU time each.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/new_families_fashion.py --budget-s 300 --threads 1
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/new_families_fashion.py --budget-s 1800 --threads 1 \\
        --presets stylegan-fashion,progan-fashion --checkpoints runs/families   # the issue's 30 CPU-minutes

Each preset trains (no files, no logging) until `--budget-s` seconds of this process's CPU time pass
(with --threads 1, one core's time: fair on a shared machine, where wall time depends on the
neighbours); then G_ema (G when the preset keeps no average; BigGAN's with standing statistics)
draws `--n` images (10k by default, no truncation) that are scored against the whole Fashion-MNIST
test split on gankit's domain classifier: FID and the KL divergence between the real and generated
class histograms (`class_kl`, lower is better). The new presets draw 32x32 images, dcgan-fashion
28x28; the classifier resizes both to its own input. Prints one JSON line per preset (with the
evaluation protocol) and, at the end, a markdown table. With `--checkpoints DIR` each run is saved
as DIR/<preset>.pt (a normal checkpoint: `gankit mix DIR/stylegan-fashion.pt ...`) beside a sample
grid DIR/<preset>.png. Run presets as separate processes (one per core) and the baseline once.
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
from gankit.train.loop import checkpoint_state, prepare_training, train_for_seconds

PRESETS = "progan-fashion,stylegan-fashion,biggan-fashion,sngan-fashion,dcgan-fashion"


def growth(family) -> str:
    """ProGAN's resolution and fade-in alpha reached ('' for the other families)."""
    G = family.networks["G"]
    if not hasattr(G, "growth"):
        return ""
    stage, alpha = G.growth()
    return f"{4 << stage}px, alpha {alpha:.2f}"


def run(preset: str, budget_s: float, threads: int, n: int, sets: list[str], checkpoints: Path | None) -> dict:
    """Train `preset` for `budget_s` CPU seconds, score it, and return one result line."""
    cfg = resolve(preset, None, ["device=cpu", "log.progress=false", "train.steps=100000000",
                                 f"runtime.threads={threads}", *sets])
    training = prepare_training(cfg)
    family = training.family
    wall0, cpu0 = time.perf_counter(), time.process_time()
    steps = train_for_seconds(training, budget_s, clock=time.process_time)
    training.nimg = steps * family.images_per_step
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    if checkpoints is not None:
        checkpoints.mkdir(parents=True, exist_ok=True)
        save_checkpoint(checkpoints / f"{preset}.pt", checkpoint_state(training))
        family.write_samples(checkpoints / f"{preset}.png")
    which = "G_ema" if "G_ema" in family.networks else "G"
    start = time.perf_counter()
    result = evaluate_generator(family.sampling_G(), cfg, metrics=["fid", "modes"], n=n, split="test", seed=0,
                                which=which, device="cpu")
    return {"preset": preset, "family": cfg.model.family, "steps": steps, "kimg": round(training.nimg / 1000, 1),
            "cpu_s": round(cpu_s), "wall_s": round(wall_s), "fid": round(result["fid"], 2),
            "class_kl": round(result["class_kl"], 4), "classes": result.get("classes_covered"),
            "reached": growth(family), "eval_s": round(time.perf_counter() - start, 1),
            "protocol": result["protocol"]}


def table(rows: list[dict]) -> str:
    lines = ["| preset | family | steps | kimg | CPU s | FID (domain, test, 10k) | class KL | classes | reached |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['family']} | {r['steps']} | {r['kimg']} | {r['cpu_s']} | {r['fid']:.2f} | "
                     f"{r['class_kl']:.4f} | {r['classes']} | {r['reached'] or '-'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=PRESETS, help="comma list of presets (dcgan-fashion is the baseline)")
    parser.add_argument("--budget-s", type=float, default=300.0, help="CPU seconds of training per preset")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--n", type=int, default=10000, help="generated images per score (test split: 10,000 real)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every preset")
    parser.add_argument("--checkpoints", type=Path, help="save each trained run as DIR/<preset>.pt (+ a grid)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for preset in [p for p in args.presets.split(",") if p]:
        rows.append(run(preset, args.budget_s, args.threads, args.n, args.set, args.checkpoints))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
