"""EBGAN and BEGAN beside DCGAN on Fashion-MNIST at equal time, and BEGAN's convergence measure.

    pip install -e '.[bench]'   # matplotlib, for the plot
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/energy_fashion.py --budget-s 600 --threads 1 --points 6

The presets `ebgan-fashion`, `began-fashion` and `dcgan-fashion` each train for `--budget-s` seconds of
this process's CPU time (evaluation pauses excluded; with --threads 1 that is one core's time, the same
as wall time on a quiet core and fair on a shared machine), same seed, then G is scored by
`gankit.metrics.evaluate.evaluate_generator` on 10,000 samples against the Fashion-MNIST test split
with gankit's domain classifier: FID and the class-histogram KL (and classes covered). Every step's
M_global (BEGAN) is recorded as the mean over each `--log-every` steps; at `--points` even shares of
BEGAN's budget its G writes a sample grid and is scored with a quick domain FID on 2,000 samples
against val, so the plot (`--plot`, default docs/began-convergence.png) shows M_global falling beside
the samples improving. Prints one JSON line per run, then a table; the wall and CPU seconds of each
run are printed too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from gankit.config import resolve
from gankit.families import get_family
from gankit.metrics.evaluate import evaluate_generator
from gankit.sample import fixed_latents, generate, save_samples

PRESETS = ("ebgan-fashion", "began-fashion", "dcgan-fashion")
SINGLE_PROCESS = SimpleNamespace(rank=0, world_size=1, enabled=False)


def sampling_G(family):
    """What the family samples from (G_ema with its own statistics, else G), for every family."""
    return family.sampling_G()


def train_for(preset: str, args) -> dict:
    """Train `preset` for args.budget_s CPU seconds; returns the run's record (curve, grids, scores)."""
    cfg = resolve(preset, None, ["device=cpu", "log.progress=false", "train.steps=100000000", f"seed={args.seed}",
                                 *args.set])
    torch.manual_seed(cfg.seed)
    family = get_family(cfg.model.family).build(cfg, torch.device("cpu"), SINGLE_PROCESS)
    marks = [args.budget_s * (i + 1) / args.points for i in range(args.points)]
    curve, points, window = [], [], []
    steps, trained, wall = 0, 0.0, 0.0
    grid_z = fixed_latents(36, cfg.model.z_dim, 7)
    while trained < args.budget_s:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        stats = family.train_step()
        wall += time.perf_counter() - wall0
        trained += time.process_time() - cpu0
        steps += 1
        window.append({k: float(v) for k, v in stats.items()})
        if steps % args.log_every == 0:
            curve.append({"step": steps, **{k: sum(w[k] for w in window) / len(window) for k in window[0]}})
            window = []
        if marks and trained >= marks[0] and preset == "began-fashion":
            marks.pop(0)
            path = Path(args.out) / f"{preset}-step{steps:05d}.png"
            G = sampling_G(family)
            save_samples(generate(G, grid_z), path)
            quick = evaluate_generator(G, cfg, metrics=["fid"], n=2000, seed=args.seed, split="val")
            points.append({"step": steps, "grid": str(path), "fid_val_2k": round(quick["fid"], 2),
                           "m_global": curve[-1].get("m_global") if curve else None})
    G = sampling_G(family)
    save_samples(generate(G, grid_z), Path(args.out) / f"{preset}-final.png")
    result = evaluate_generator(G, cfg, metrics=["fid", "modes"], n=args.n, seed=args.seed, split="test")
    return {"preset": preset, "steps": steps, "wall_s": round(wall, 1), "cpu_s": round(trained, 1),
            "fid": round(result["fid"], 2), "class_kl": round(result["class_kl"], 4),
            "classes_covered": result["classes_covered"], "curve": curve, "points": points}


def plot_convergence(record: dict, path: Path) -> None:
    """M_global over steps (with the quick FID on a second axis) above the sample grids at the marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    points = record["points"]
    fig = plt.figure(figsize=(3 * max(len(points), 3), 6.5))
    ax = fig.add_subplot(2, 1, 1)
    steps = [c["step"] for c in record["curve"]]
    ax.plot(steps, [c["m_global"] for c in record["curve"]], color="tab:blue", label="M_global")
    ax.set_xlabel("step (G updates)")
    ax.set_ylabel("M_global = L(x) + |gamma L(x) - L(G(z))|", color="tab:blue")
    if points:
        twin = ax.twinx()
        twin.plot([p["step"] for p in points], [p["fid_val_2k"] for p in points], "o--", color="tab:red")
        twin.set_ylabel("domain FID (2k vs val)", color="tab:red")
    ax.set_title("BEGAN on Fashion-MNIST (began-fashion): the convergence measure and the samples")
    for i, p in enumerate(points):
        sub = fig.add_subplot(2, len(points), len(points) + i + 1)
        sub.imshow(Image.open(p["grid"]), cmap="gray")
        sub.set_title(f"step {p['step']}: M {p['m_global']:.3f}, FID {p['fid_val_2k']:.0f}", fontsize=9)
        sub.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=300.0, help="CPU seconds of training per preset")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=10000, help="samples scored against the test split")
    parser.add_argument("--points", type=int, default=4, help="BEGAN sample grids / quick FIDs along the run")
    parser.add_argument("--log-every", type=int, default=10, help="steps averaged into one point of the curve")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma list of presets to run")
    parser.add_argument("--out", default="runs/bench/energy_fashion", help="where grids and records go")
    parser.add_argument("--plot", default="docs/began-convergence.png")
    parser.add_argument("--set", action="append", default=[], help="config override for every preset")
    args = parser.parse_args()
    if "began-fashion" in args.presets.split(","):
        try:  # check before training: the plot comes after BEGAN's run, and a late ImportError loses the rest
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("energy_fashion.py: the BEGAN plot needs matplotlib: pip install -e '.[bench]'")
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for preset in args.presets.split(","):
        record = train_for(preset, args)
        rows.append(record)
        (Path(args.out) / f"{preset}.json").write_text(json.dumps(record))
        print(json.dumps({k: v for k, v in record.items() if k != "curve"}), flush=True)
        if preset == "began-fashion" and record["curve"]:
            plot_convergence(record, Path(args.plot))
    print(f"\nbudget {args.budget_s:g} CPU s each, {args.threads} thread(s), seed {args.seed}, "
          f"{args.n} samples vs the Fashion-MNIST test split (domain features)")
    print(f"{'preset':15s} {'steps':>6s} {'wall_s':>7s} {'cpu_s':>7s} {'FID':>8s} {'class KL':>9s} {'classes':>8s}")
    for r in rows:
        print(f"{r['preset']:15s} {r['steps']:6d} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {r['fid']:8.2f} "
              f"{r['class_kl']:9.4f} {r['classes_covered']:>5}/10")


if __name__ == "__main__":
    main()
