"""pix2pix against the same U-Net trained with L1 alone, on fashion-edges, for the same wall-time budget.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pix2pix_fashion.py --budget-s 300 --threads 1

Both runs use the pix2pix-fashion-edges preset (same U-Net, batch, Adam and seed); the baseline sets
pix2pix.adversarial=false (no D: the L1 term alone, the paper's "L1" row). Each trains for
`--budget-s` seconds of wall time, then G (eval mode) translates the Fashion-MNIST test edge maps
(10,000, or `--n`) and is scored against the test garments: domain FID (gankit's Fashion-MNIST
classifier features, fakes vs the same pairs' garments), mean per-image L1, PSNR and SSIM.
The paper's claim to check: L1 alone gives blurry, "averaged" outputs (good L1/PSNR, poor realism),
the adversarial term sharper ones (lower FID). Grids of test input | output | target go to --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gankit.config import resolve
from gankit.data.paired import make_fashion_edges
from gankit.families.pix2pix import build, score_pairs, translate, write_triples


def train_for(sets: list[str], budget_s: float, seed: int):
    """Build the preset with `sets`, train it for `budget_s` seconds; (family, steps, wall s, CPU s)."""
    cfg = resolve("pix2pix-fashion-edges", None, ["device=cpu", "train.steps=1000000", f"seed={seed}", *sets])
    torch.manual_seed(cfg.seed)
    family = build(cfg, torch.device("cpu"))
    steps, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < budget_s:
        family.train_step()
        steps += 1
    return family, steps, time.perf_counter() - wall0, time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=300.0, help="wall seconds of training per variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=10000, help="test pairs scored")
    parser.add_argument("--out", default="runs/bench/pix2pix_fashion", help="where the grids go")
    parser.add_argument("--set", action="append", default=[], help="config override for both variants")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    test = make_fashion_edges("test")
    test = test.subset(torch.arange(min(args.n, len(test))))
    out = Path(args.out)
    rows = []
    for name, sets in (("pix2pix (adv + 100 L1)", []), ("U-Net, L1 only", ["pix2pix.adversarial=false"])):
        family, steps, wall, cpu = train_for([*sets, *args.set], args.budget_s, args.seed)
        scores = score_pairs(family.G, test, torch.device("cpu"), with_fid=True)
        stem = "pix2pix" if not sets else "l1_only"
        write_triples(test.a[:16], translate(family.G, test.a[:16]), test.b[:16], out / f"{stem}.png")
        rows.append({"variant": name, "steps": steps, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), **scores})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\ntest split: {len(test)} fashion-edges pairs; budget {args.budget_s:g} s wall each, "
          f"{args.threads} thread(s), seed {args.seed}")
    print(f"{'variant':24s} {'steps':>6s} {'cpu_s':>7s} {'FID':>8s} {'L1':>7s} {'PSNR':>7s} {'SSIM':>7s}")
    for r in rows:
        print(f"{r['variant']:24s} {r['steps']:6d} {r['cpu_s']:7.1f} {r['fid']:8.2f} {r['l1']:7.4f} "
              f"{r['psnr']:7.2f} {r['ssim']:7.4f}")


if __name__ == "__main__":
    main()
