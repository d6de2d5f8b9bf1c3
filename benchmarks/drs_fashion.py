"""Discriminator rejection sampling on Fashion-MNIST: FID, precision and recall with and without it.

    python benchmarks/drs_fashion.py --steps 3000 --refine-steps 2000 --threads 1 [--run runs/existing]

Trains `dcgan-fashion` (unless --run names a finished run), refines its D with `gankit refine-d`,
then scores 10,000 samples against the test split (domain features) plainly and with `--filter drs`.
Prints one table; CPU time of each stage is reported. Every figure comes from the CLI's own commands.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def gankit(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "gankit", *args], check=True, capture_output=True, text=True)
    return out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a finished dcgan-fashion run directory (default: train one)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--refine-steps", type=int, default=2000)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/drs-bench")
    args = p.parse_args()
    threads = ["--threads", str(args.threads)]
    times = {}
    run = Path(args.run) if args.run else Path(args.out) / "dcgan-fashion"
    if not args.run:
        start = time.process_time()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "dcgan-fashion", "--steps",
                        str(args.steps), "--out", str(run), "--no-progress", *threads], check=True)
        times["train_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gankit", "refine-d", str(run), "--steps", str(args.refine_steps), *threads],
                   check=True)
    times["refine_s"] = round(time.perf_counter() - t0, 1)
    rows = {}
    for name, extra in (("plain", []), ("drs", ["--filter", "drs"])):
        result = json.loads(gankit("eval", str(run), "--metrics", "fid,prdc", "--n", str(args.n), "--json", *extra))
        rows[name] = result
    print(f"dcgan-fashion, {args.steps} steps; D refined {args.refine_steps} steps; {args.n} samples vs the test split")
    print("| sampling | FID | precision | recall | density | coverage |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['fid']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['density']:.3f} | "
              f"{r['coverage']:.3f} |")
    print("wall seconds:", times)


if __name__ == "__main__":
    main()
