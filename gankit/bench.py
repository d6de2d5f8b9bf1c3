"""`gankit bench modes`: which settings cure mode collapse, measured on the 2-D mixtures.

For each preset (a toy-ring-* / toy-grid-* recipe) and each seed: train it (the preset's own
step count unless overridden), draw 2,500 samples from G_ema (G when EMA is off) and score
them with the PacGAN protocol (`gankit.metrics.modes.mode_metrics`: modes covered, fraction
of high-quality samples within 3 std of a mode, reverse KL of the mode histogram). Writes
`modes.md` (the table), `modes.json` (every run) and `modes.png` (one row of scatter plots
per preset, one panel per seed) into the output directory.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

from gankit.errors import GankitError

N_SAMPLES = 2500  # the PacGAN protocol
SAMPLE_SEED = 2_718_281  # evaluation noise, never the training stream
DEFAULT_PRESETS = (
    "toy-grid-nonsaturating", "toy-grid-minimax", "toy-grid-lsgan", "toy-grid-wgan-gp", "toy-grid-hinge-sn",
    "toy-grid-pacgan2", "toy-grid-pacgan4", "toy-grid-unrolled", "toy-grid-mbd", "toy-grid",
    "toy-ring-nonsaturating", "toy-ring",
)


def matmul_gflops(size: int = 512, seconds: float = 0.5) -> tuple[float, int]:
    """This machine's float32 matrix-multiply speed in GFLOP/s, and the thread count it was measured at.

    Printed with every benchmark table, so that seconds per run measured on different machines
    (shared CPUs vary by 2x here from one day to the next) can be compared."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        calls += 1
    return 2 * size**3 * calls / (time.perf_counter() - start) / 1e9, torch.get_num_threads()


def train_run(cfg, run_dir: Path, budget_s: float | None):
    """Train `cfg`: its train.steps into `run_dir` (checkpoints, log), or with `budget_s` for that many seconds
    of this process's CPU time (no files; with one thread, one core's time, fair on a shared machine).
    Returns (training, wall seconds, G steps done)."""
    from gankit.train.loop import prepare_training, run_training, train_for_seconds

    start = time.perf_counter()
    training = prepare_training(cfg)
    if budget_s:
        steps = train_for_seconds(training, budget_s, clock=time.process_time)
    else:
        run_training(training, run_dir)
        steps = cfg.train.steps
    return training, time.perf_counter() - start, steps


def run_one(preset: str, seed: int, sets: list[str], run_dir: Path, truncation: float | None = None,
            budget_s: float | None = None) -> dict:
    """Train `preset` with `seed` in `run_dir` and score 2,500 samples. Returns metrics + seconds.

    The samples are drawn as the run samples (truncated at its `tricks.sample_truncation`, recorded
    under "truncation"). With `truncation` T (0 = plain sampling) the same 2,500 latents are also scored
    at T stds (the truncation trick, `gankit.sample.truncate_latents`), under the key "rescored".
    With `budget_s` each run trains for that many CPU seconds instead of its train.steps (equal budgets
    for methods whose steps cost different amounts, e.g. unrolled or n_critic 5)."""
    from gankit.config import resolve
    from gankit.data import make_toy
    from gankit.metrics.modes import mode_metrics
    from gankit.sample import fixed_latents, generate, truncate_latents

    extra = [f"seed={seed}", "log.progress=false", "log.sample_every=1000000", "log.checkpoint_every=1000000"]
    cfg = resolve(preset, None, extra + sets)
    if cfg.data.name == "stacked-fashion":
        if truncation is not None:
            raise GankitError("--truncation rescoring is for the 2-D mixtures; drop it for stacked-fashion runs")
        return run_stacked(cfg, preset, seed, run_dir, budget_s)
    if cfg.data.name != "toy":
        raise GankitError(f"preset '{preset}' trains on {cfg.data.name}, not a 2-D toy mixture or stacked-fashion; "
                          "choose toy-* or stacked-* presets, or add --set data.name=stacked-fashion")
    training, seconds, steps = train_run(cfg, run_dir, budget_s)
    G = training.family.sampling_G()
    z = fixed_latents(N_SAMPLES, cfg.model.z_dim, SAMPLE_SEED)
    samples = generate(G, truncate_latents(G, z, cfg.tricks.sample_truncation))
    mixture = make_toy(cfg.data.toy)
    result = mode_metrics(samples, mixture.centers, mixture.std)
    if truncation is not None:
        rescored = mode_metrics(generate(G, truncate_latents(G, z, truncation)), mixture.centers, mixture.std)
        result["rescored"] = {k: rescored[k] for k in ("modes", "hq_fraction", "reverse_kl")}
    result.update(preset=preset, seed=seed, seconds=round(seconds, 1), toy=cfg.data.toy, steps=steps,
                  budget_s=budget_s, truncation=cfg.tricks.sample_truncation)
    result["samples"] = samples
    return result


def run_stacked(cfg, preset: str, seed: int, run_dir: Path, budget_s: float | None = None) -> dict:
    """Train `cfg` (data.name stacked-fashion) in `run_dir`, score 26,000 samples of G_ema (G without EMA)
    with `gankit.metrics.stacked.stacked_mode_metrics` (1,000 modes). `hq_fraction` is None: the
    stacked protocol has no quality rule; `reverse_kl` is KL(mode histogram || uniform)."""
    from gankit.metrics.stacked import PROTOCOL_N, stacked_mode_metrics
    from gankit.sample import fixed_latents, generate, truncate_latents

    training, seconds, steps = train_run(cfg, run_dir, budget_s)
    G = training.family.sampling_G()  # G_ema with standing batch-norm statistics, or G without EMA
    z = truncate_latents(G, fixed_latents(PROTOCOL_N, cfg.model.z_dim, SAMPLE_SEED), cfg.tricks.sample_truncation)
    images = generate(G, z, batch_size=1000)
    result = stacked_mode_metrics(images)
    result.pop("counts")
    result.update(reverse_kl=result.pop("kl"), hq_fraction=None, preset=preset, seed=seed, seconds=round(seconds, 1),
                  data="stacked-fashion", steps=steps, budget_s=budget_s, truncation=cfg.tricks.sample_truncation,
                  samples=images[:64])
    return result


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(runs: list[dict]) -> list[dict]:
    """One row per preset: means and stds over seeds, and in how many seeds every mode was covered."""
    rows = []
    for preset in dict.fromkeys(r["preset"] for r in runs):
        mine = [r for r in runs if r["preset"] == preset]
        modes, modes_std = _mean_std([r["modes"] for r in mine])
        stacked = mine[0]["hq_fraction"] is None  # stacked-fashion: no quality rule, nan in the HQ columns
        hq, hq_std = (math.nan, math.nan) if stacked else _mean_std([100 * r["hq_fraction"] for r in mine])
        kl, kl_std = _mean_std([r["reverse_kl"] for r in mine])
        rows.append({
            "preset": preset, "truncation": mine[0]["truncation"], "seeds": len(mine), "num_modes": mine[0]["num_modes"],
            "modes": modes, "modes_std": modes_std, "all_modes_runs": sum(r["modes"] == r["num_modes"] for r in mine),
            "hq_percent": hq, "hq_percent_std": hq_std,
            "min_hq_percent": hq if stacked else min(100 * r["hq_fraction"] for r in mine),
            "reverse_kl": kl, "reverse_kl_std": kl_std, "max_reverse_kl": max(r["reverse_kl"] for r in mine),
            "seconds": statistics.fmean(r["seconds"] for r in mine),
            "steps": statistics.fmean(r["steps"] for r in mine),
        })
        if all("rescored" in r for r in mine):
            cut = [r["rescored"] for r in mine]
            rows[-1]["rescored"] = {
                "all_modes_runs": sum(c["modes"] == mine[0]["num_modes"] for c in cut),
                "hq_percent": statistics.fmean(100 * c["hq_fraction"] for c in cut),
                "min_hq_percent": min(100 * c["hq_fraction"] for c in cut),
                "max_reverse_kl": max(c["reverse_kl"] for c in cut),
            }
    return rows


def markdown_table(rows: list[dict], truncation: float | None = None) -> str:
    """The table; "sampled" is each preset's own sampling (its truncation T, or plain). With `truncation`
    (0 = plain), four more columns: the same runs and latents scored at that truncation."""
    header = ("| preset | sampled | seeds | modes (mean ± std) | all modes | % high quality | min % HQ | reverse KL | "
              "max rKL | steps / run | s / run |")
    if truncation is not None:
        at = f"T={truncation:g}" if truncation else "plain"
        header += f" all modes, {at} | % HQ, {at} | min % HQ, {at} | max rKL, {at} |"
    lines = [header, "|" + " --- |" * header[1:].count("|")]
    for r in rows:
        sampled = f"T={r['truncation']:g}" if r["truncation"] else "plain"
        no_quality = math.isnan(r["hq_percent"])  # stacked-fashion: no high-quality rule
        hq = "-" if no_quality else f"{r['hq_percent']:.1f} ± {r['hq_percent_std']:.1f}"
        line = (
            f"| {r['preset']} | {sampled} | {r['seeds']} | {r['modes']:.1f} ± {r['modes_std']:.1f} / {r['num_modes']} | "
            f"{r['all_modes_runs']}/{r['seeds']} | {hq} | {'-' if no_quality else format(r['min_hq_percent'], '.1f')} | "
            f"{r['reverse_kl']:.3f} ± {r['reverse_kl_std']:.3f} | "
            f"{r['max_reverse_kl']:.3f} | {r['steps']:,.0f} | {r['seconds']:.0f} |"
        )
        if truncation is not None:
            t = r["rescored"]
            line += (f" {t['all_modes_runs']}/{r['seeds']} | {t['hq_percent']:.1f} | {t['min_hq_percent']:.1f} | "
                     f"{t['max_reverse_kl']:.3f} |")
        lines.append(line)
    return "\n".join(lines)


def figure(runs: list[dict], panel: int = 180):
    """One row per preset, one scatter panel per seed (samples in blue over the mode centers)."""
    from PIL import Image, ImageDraw

    from gankit.data import make_toy
    from gankit.sample import image_grid, scatter_plot

    presets = list(dict.fromkeys(r["preset"] for r in runs))
    columns = max(sum(r["preset"] == p for r in runs) for p in presets)
    label_w = 190
    image = Image.new("RGB", (label_w + columns * panel, len(presets) * panel), "white")
    draw = ImageDraw.Draw(image)
    for row, preset in enumerate(presets):
        draw.text((6, row * panel + panel // 2 - 6), preset, fill=(0, 0, 0))
        for col, run in enumerate(r for r in runs if r["preset"] == preset):
            if run.get("data") == "stacked-fashion":  # an 8x8 grid of the first samples instead of a scatter plot
                image.paste(image_grid(run["samples"], nrow=8, min_size=panel).resize((panel, panel)),
                            (label_w + col * panel, row * panel))
                draw.text((label_w + col * panel + 4, row * panel + 4), f"{run['modes']}/{run['num_modes']}",
                          fill=(255, 60, 60))
                continue
            centers = make_toy(run["toy"]).centers
            extent = float(centers.abs().max()) * 1.3
            plot = scatter_plot(run["samples"][:1000], centers, size=panel, extent=extent)
            image.paste(plot, (label_w + col * panel, row * panel))
            draw.text((label_w + col * panel + 4, row * panel + 4),
                      f"{run['modes']}/{run['num_modes']} {100 * run['hq_fraction']:.0f}%", fill=(200, 30, 30))
    return image


def bench_modes(presets: list[str], seeds: int, out: Path, sets: list[str], first_seed: int = 0,
                truncation: float | None = None, budget_s: float | None = None) -> list[dict]:
    """Run every (preset, seed), print a line per run, write modes.md / modes.json / modes.png. Returns the rows.

    Each run is scored as it samples (its preset's `tricks.sample_truncation`); `truncation` T (0 = plain)
    also scores every run's latents at T stds (extra columns). `budget_s` trains every run for that many
    CPU seconds instead of its preset's train.steps (the steps reached are in the table)."""
    if seeds < 1:
        raise GankitError(f"--seeds must be >= 1, got {seeds}")
    if truncation is not None and truncation < 0:
        raise GankitError(f"--truncation must be >= 0 (0 = off), got {truncation}")
    if budget_s is not None and budget_s <= 0:
        raise GankitError(f"--budget-s must be > 0 CPU seconds per run, got {budget_s:g}")
    out.mkdir(parents=True, exist_ok=True)
    gflops, threads = matmul_gflops()
    print(f"machine: float32 matmul {gflops:.0f} GFLOP/s at {threads} thread(s)", flush=True)
    runs = []
    for preset in presets:
        for seed in range(first_seed, first_seed + seeds):
            run = run_one(preset, seed, sets, out / "runs" / f"{preset}-seed{seed}", truncation, budget_s)
            runs.append(run)
            cut = run.get("rescored")
            print(f"{preset} seed {seed}: {run['modes']}/{run['num_modes']} modes, "
                  + ("" if run["hq_fraction"] is None else f"{100 * run['hq_fraction']:.1f}% HQ, ")
                  + f"reverse KL {run['reverse_kl']:.3f}"
                  + (f" (sampled at T={run['truncation']:g})" if run["truncation"] else "")
                  + f", {run['steps']} steps, {run['seconds']:.0f} s"
                  + (f"; at T={truncation:g}: {cut['modes']}/{run['num_modes']} modes, "
                     f"{100 * cut['hq_fraction']:.1f}% HQ, reverse KL {cut['reverse_kl']:.3f}" if cut else ""),
                  flush=True)
    rows = summarise(runs)
    table = markdown_table(rows, truncation)
    print(table)
    (out / "modes.md").write_text(table + "\n")
    plain = [{k: v for k, v in r.items() if k != "samples"} for r in runs]
    (out / "modes.json").write_text(json.dumps({"summary": rows, "runs": plain, "sets": sets, "truncation": truncation,
                                                "budget_s": budget_s, "threads": threads,
                                                "matmul_gflops": round(gflops, 1)}, indent=1))
    figure(runs).save(out / "modes.png")
    return rows


def add_parser(sub) -> None:
    """`gankit bench modes ...` arguments."""
    p = sub.add_parser("bench", help="benchmarks: `gankit bench modes` (mode collapse on the 2-D mixtures or "
                                     "stacked Fashion-MNIST)")
    p.add_argument("which", choices=("modes",),
                   help="modes: train each toy-* preset for several seeds and score mode coverage, high-quality "
                        "share and reverse KL on the 2-D mixtures, or modes of 1,000 and KL on stacked-* presets "
                        "(table + figure in --out)")
    p.add_argument("--presets", default=",".join(DEFAULT_PRESETS),
                   help="comma list of toy-* presets, or stacked-* presets (stacked Fashion-MNIST, 1,000 modes, "
                        "scored on 26,000 samples; stacked-dcgan,stacked-recommended,stacked-pacgan2,stacked-pacgan4,"
                        "stacked-mbd,stacked-unrolled,stacked-wgan-gp compare the mode-collapse cures)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per preset (default 3)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from this one up (default 0)")
    p.add_argument("--out", default="bench-modes", help="output directory (default bench-modes)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="also score each run's latents at T stds (0 = plain sampling), besides as the preset "
                        "samples (its tricks.sample_truncation)")
    p.add_argument("--budget-s", type=float, default=None, metavar="SECONDS",
                   help="train every run for this many CPU seconds instead of its preset's train.steps: an equal "
                        "budget for methods whose steps cost different amounts (use with --threads 1)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per run (default 0: as the caller set it; benchmarks/modes.py sets 1)")


def cmd_bench(args) -> int:
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if not presets:
        raise GankitError("--presets is empty; give a comma list such as toy-grid,toy-ring")
    if args.threads < 0:
        raise GankitError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    bench_modes(presets, args.seeds, Path(args.out), args.set, args.first_seed, args.truncation, args.budget_s)
    return 0
