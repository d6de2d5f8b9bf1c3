"""Lucic et al. 2018 ("Are GANs Created Equal?") on Fashion-MNIST: one architecture, every loss gankit has.

    PYTHONPATH=. .venv/bin/python benchmarks/lucic_fashion.py --device cuda          # the whole protocol, on a GPU
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/lucic_fashion.py --losses nonsaturating \
        [--epochs 20] [--n 10000] [--seeds 0,1,2] [--presets best-fashion] [--out runs/lucic] [--device auto]
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/lucic_fashion.py --losses '' --presets best-fashion \
        --seeds 0                                                                   # one best-fashion seed per core
    PYTHONPATH=. python benchmarks/lucic_fashion.py --device cuda --stage train --losses wgan   # train on a GPU box,
    PYTHONPATH=. .venv/bin/python benchmarks/lucic_fashion.py --stage score --losses wgan       # score where Inception is

What "20 epochs" means: in the paper's code (google/compare_gan, `src/generate_tasks_lib.py` and
`src/gans/abstract_gan.py`) a training step is one D update on a fresh batch of 64, and G is updated on
every `disc_iters`-th step; MNIST and Fashion-MNIST runs take 20 * 50,000 // 64 = 15,625 such steps. So 20
epochs are 20 passes of D over the data, and a loss with 5 critic steps makes 1/5 as many G updates. Here
`--epochs` counts the same D passes over gankit's 55,000 training images: 17,187 D steps, which are 17,187
G steps for the one-D-step losses (BEGAN's row included) and 3,437 for WGAN and WGAN-GP (n_critic 5).

Cost on a CPU (one thread of the project's 2-core machines): the full 20-epoch runs took 82-88 CPU-minutes
for minimax, non-saturating and LSGAN, 54 for WGAN and 102 for WGAN-GP; `--measure-steps 10` gave 0.51
CPU-s per G step for DRAGAN (~2.4 CPU-hours a run); BEGAN's row (one D step) took 83 CPU-minutes. Scoring
adds ~30 CPU-minutes of Inception per 10,000 generated images, and ~31 once for the cached 10,000 test
features (docs/fashion-fid.md). `--device auto` (the default) picks a GPU when there is one. On one NVIDIA H200, with
four losses training at once (one process each), G steps per second were ~71 for DRAGAN and ~72 for BEGAN
on its own networks (runs of 233 s and 285 s), ~33 for WGAN and ~27 for WGAN-GP; WGAN's rate did not rise
when the other runs ended, so at this network size the per-step host overhead bounds it, not the GPU.

Each loss trains the paper's shared InfoGAN-style networks (`gankit.models.infogan`: D conv64-conv128(BN)
-fc1024(BN)-fc1, G fc1024-fc(128x7x7)-deconv64-deconv1) with z 64 and batch 64 for `--epochs` passes over
gankit's 55,000 Fashion-MNIST training images (train.steps = epochs * 55000 // 64 // n_critic G updates), through the
normal library path: `gankit.config.resolve("dcgan-fashion", None, sets)` -> `prepare_training` ->
`run_training` into `--out/<loss>-seed<seed>`, then the last checkpoint is scored as `gankit eval RUN --features
inception --n N` does (`load_generator` + `evaluate_run`, split "test"): Inception FID of N generated images
against N test images (N = 10,000 as in the paper; `--n` smaller for smoke runs).
`--presets best-fashion,...` also trains gankit presets as they ship (their own steps and resolution;
the test images are then resized to the preset's resolution, as `gankit eval` does) and scores them
the same way, as extra rows.

Settings: one per loss, not the paper's per-loss hyperparameter search. Minimax, non-saturating, LSGAN and
DRAGAN share Adam 2e-4, betas (0.5, 0.999); DRAGAN is the non-saturating loss with the DRAGAN penalty.
WGAN and WGAN-GP take the defaults of the paper's code (`src/params.py`): WGAN Adam 5e-5, beta1 0.5, weight
clipping 0.01, D with batch norm; WGAN-GP Adam 1e-4, beta1 0.5, penalty 10, D without batch norm (its
per-sample penalty would depend on the batch otherwise, and so for DRAGAN here); both 5 critic steps per G
step. BEGAN: gankit's BEGAN family on the paper code's BEGAN networks (`began.networks=infogan`: the shared G
and an autoencoder D made of the shared D's two convolutions, a 64-unit code and a mirrored decoder), k_t
unclipped as in that code (`began.clip_k=false`), one D step per G step, gamma 0.9, lambda_k 0.001, Adam 1e-4,
beta1 0.5: a point of the code's narrow search range. Its defaults (5 D steps, gamma 0.75) kept G's samples
grey noise for half a run (docs/fashion-fid.md has the screen).

Prints one JSON line per run, then a table beside Lucic et al.'s Table 2 Fashion-MNIST column (best FID of
their large hyperparameter search, mean +- std over their top runs). Their numbers come from far more
tuning (and TensorFlow's Inception), so a row compares orders of magnitude, not decimals.
CPU seconds are `time.process_time()` of this process for training and for evaluation separately.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from gankit.build import resolve_device
from gankit.config import Config, resolve
from gankit.families import load_generator
from gankit.metrics.evaluate import evaluate_run
from gankit.train.loop import prepare_training, run_training

TRAIN_IMAGES = 55000  # Fashion-MNIST's 60,000 training images less gankit's 5,000 held out for val
DEFAULT_LOSSES = ("minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "dragan", "began")

# Lucic et al. 2018, Table 2, FASHION column (NeurIPS version): best FID found by their large-scale search.
# Transcribed by hand; check against the paper before quoting. None prints "see paper".
PAPER_FID: dict[str, str | None] = {
    "minimax": "29.6 +- 1.6",
    "nonsaturating": "26.5 +- 1.6",
    "lsgan": "30.7 +- 2.2",
    "wgan": "21.5 +- 1.6",
    "wgan-gp": "24.5 +- 2.1",
    "dragan": "27.7 +- 1.2",
    "began": "22.9 +- 0.9",
}

NO_D_NORM = "model.d_options={norm: none}"
# The --set lines of each loss on top of the shared ones.
LOSS_SETS: dict[str, list[str]] = {
    "minimax": ["loss.name=minimax"],
    "nonsaturating": ["loss.name=nonsaturating"],
    "lsgan": ["loss.name=lsgan"],
    # The paper's code trains WGAN with Adam by default ("to be consistent with other GANs"), not RMSprop.
    "wgan": ["loss.name=wgan", "loss.clip=0.01", "train.n_critic=5", "train.g_lr=5e-5", "train.d_lr=5e-5"],
    "wgan-gp": ["loss.name=wgan-gp", "loss.penalty=wgan-gp", "train.n_critic=5", "train.g_lr=1e-4",
                "train.d_lr=1e-4", NO_D_NORM],
    "dragan": ["loss.name=nonsaturating", "loss.penalty=dragan", NO_D_NORM],
    # gankit's BEGAN family with the paper code's BEGAN networks (shared G, InfoGAN-style autoencoder D), k_t
    # unclipped as in that code, and a point of its narrow search range (`src/params.py`: one D step, gamma 0.9,
    # lambda 0.001, Adam 1e-4, beta1 0.5, no D batch norm). Its defaults (5 D steps, gamma 0.75) left G's samples
    # grey noise for half a run here; docs/fashion-fid.md has the screen.
    "began": ["model.family=began", "began.networks=infogan", "began.gamma=0.9", "began.lambda_k=0.001",
              "began.clip_k=false", "began.code_dim=64", "train.n_critic=1", "train.g_lr=1e-4", "train.d_lr=1e-4"],
}


def run_sets(steps: int, seed: int, device: str) -> list[str]:
    """The --set lines every run shares: seed, device, quiet logging, one checkpoint at the end."""
    return [f"device={device}", f"seed={seed}", "log.progress=false", f"log.sample_every={max(1, steps // 4)}",
            f"log.checkpoint_every={steps}"]


def loss_sets(loss: str, steps: int, seed: int, device: str = "cpu") -> list[str]:
    """Every --set line of one run: the shared architecture and schedule, then the loss's own lines."""
    shared = ["model.name=infogan", "model.z_dim=64", "model.g_width=64", "model.d_width=64",
              "train.batch_size=64", f"train.steps={steps}", "train.g_lr=2e-4", "train.d_lr=2e-4",
              "train.g_betas=[0.5, 0.999]", "train.d_betas=[0.5, 0.999]"]
    return shared + run_sets(steps, seed, device) + LOSS_SETS[loss]


def g_steps(loss: str, epochs: float) -> int:
    """G updates in `epochs` passes of D over the training images: as in the paper's code, each D step takes
    one batch of 64 and G steps once every n_critic D steps."""
    n_critic = resolve("dcgan-fashion", None, LOSS_SETS[loss]).train.n_critic
    return max(1, int(epochs * TRAIN_IMAGES) // 64 // n_critic)


def run_config(loss: str, seed: int, args: argparse.Namespace, preset: str | None = None) -> Config:
    """The config of one run: the shared networks with `loss`'s lines, or `preset` as it ships."""
    if preset is None:
        steps = g_steps(loss, args.epochs)
        return resolve("dcgan-fashion", None, loss_sets(loss, steps, seed, args.device) + args.set)
    steps = resolve(preset, None, args.set).train.steps
    return resolve(preset, None, run_sets(steps, seed, args.device) + args.set)


def train_one(loss: str, seed: int, args: argparse.Namespace, preset: str | None = None) -> dict:
    """Train one run into args.out/<name>-seed<seed> and write its timings to train.json there."""
    run_dir = Path(args.out) / f"{loss}-seed{seed}"
    cpu0, wall0 = time.process_time(), time.perf_counter()
    training = prepare_training(run_config(loss, seed, args, preset))
    run_training(training, run_dir)
    timing = {"train_cpu_s": round(time.process_time() - cpu0, 1),
              "train_wall_s": round(time.perf_counter() - wall0, 1),
              "train_device": str(resolve_device(args.device))}
    (run_dir / "train.json").write_text(json.dumps(timing) + "\n")
    return timing


def score_one(loss: str, seed: int, args: argparse.Namespace) -> dict:
    """Score the last checkpoint of args.out/<name>-seed<seed> (Inception FID, N generated vs N test
    images) and return the record, with the training timings its train.json holds ("-" without one)."""
    run_dir = Path(args.out) / f"{loss}-seed{seed}"
    train_json = run_dir / "train.json"
    timing = json.loads(train_json.read_text()) if train_json.is_file() else {}
    cpu0 = time.process_time()
    device = resolve_device(args.device)
    G, cfg, state, which = load_generator(run_dir / "checkpoints" / "latest.pt", str(device), no_ema=False)
    result = evaluate_run(G, None, cfg, metrics=["fid"], n=args.n, features="inception", split="test",
                          seed=seed, which=which, device=device)
    return {"loss": loss, "seed": seed, "steps": state["step"], "train_cpu_s": timing.get("train_cpu_s"),
            "train_wall_s": timing.get("train_wall_s"), "train_device": timing.get("train_device"),
            "eval_cpu_s": round(time.process_time() - cpu0, 1), "fid_inception": round(result["fid"], 2),
            "n": args.n, "split": "test", "resolution": cfg.data.resolution,
            "paper_fid": PAPER_FID.get(loss) or "-", "run": str(run_dir)}


def measure_steps(loss: str, args: argparse.Namespace) -> None:
    """Print one loss's CPU seconds per G step (`args.measure_steps` steps after 3 warm-up steps) and what
    `args.epochs` would cost at that rate: the figures that size a full run before starting one."""
    steps = g_steps(loss, args.epochs)
    cfg = resolve("dcgan-fashion", None, loss_sets(loss, steps, 0, args.device) + args.set)
    family = prepare_training(cfg).family
    for _ in range(3):
        family.train_step()
    cpu0 = time.process_time()
    for _ in range(args.measure_steps):
        family.train_step()
    per_step = (time.process_time() - cpu0) / args.measure_steps
    print(f"{loss}: {per_step:.3f} CPU-s per G step; {args.epochs:g} epochs = {steps} G steps = "
          f"{per_step * steps / 60:.0f} CPU-minutes", flush=True)


def print_table(records: list[dict], n: int) -> None:
    print(f"\nInception FID, {n} generated vs {n} Fashion-MNIST test images; paper = Lucic et al. 2018 Table 2 "
          "(typed by hand, not checked against the paper: see PAPER_FID)")
    print(f"{'loss / preset':<16} {'seed':>4} {'px':>3} {'steps':>7} {'train CPU s':>12} {'train wall s':>12} "
          f"{'trained on':>10} {'eval CPU s':>11} {'FID':>9}  paper FID")
    for r in records:
        train_cpu = "-" if r["train_cpu_s"] is None else f"{r['train_cpu_s']:.1f}"
        train_wall = "-" if r["train_wall_s"] is None else f"{r['train_wall_s']:.1f}"
        print(f"{r['loss']:<16} {r['seed']:>4} {r['resolution']:>3} {r['steps']:>7} {train_cpu:>12} {train_wall:>12} "
              f"{r['train_device'] or '-':>10} {r['eval_cpu_s']:>11.1f} {r['fid_inception']:>9.2f}  {r['paper_fid']}")
    for name in dict.fromkeys(r["loss"] for r in records):
        fids = [r["fid_inception"] for r in records if r["loss"] == name]
        if len(fids) > 1:
            print(f"{name}: FID {statistics.fmean(fids):.2f} +- {statistics.stdev(fids):.2f} (mean +- std over "
                  f"{len(fids)} seeds; min {min(fids):.2f}, max {max(fids):.2f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=float, default=20.0, help="passes over the 55,000 training images")
    p.add_argument("--losses", default=",".join(DEFAULT_LOSSES), help=f"comma list of {', '.join(LOSS_SETS)}")
    p.add_argument("--n", type=int, default=10000, help="generated and test images for FID (paper: 10,000)")
    p.add_argument("--out", default="runs/lucic", help="each run trains into OUT/<loss or preset>-seed<seed>")
    p.add_argument("--measure-steps", type=int, default=0, metavar="N",
                   help="only time N G steps of each loss (after 3 warm-up steps) and print CPU-s per step and the "
                        "projected CPU time of --epochs; trains and scores nothing")
    p.add_argument("--seeds", default="0", help="comma list of seeds; each loss / preset trains once per seed, "
                                               "and the table adds mean +- std over them")
    p.add_argument("--presets", default="", help="comma list of gankit presets to train as shipped and score "
                                                "the same way (e.g. best-fashion)")
    p.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU) | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stage", choices=("all", "train", "score"), default="all",
                   help="train: train the runs only (e.g. on a GPU machine without the Inception network); "
                        "score: score the runs already in --out (their train.json gives the training times); "
                        "all: both")
    p.add_argument("--set", action="append", default=[], help="extra --set lines for every run")
    args = p.parse_args()
    losses = [name.strip() for name in args.losses.split(",") if name.strip()]
    unknown = [name for name in losses if name not in LOSS_SETS]
    if unknown:
        p.error(f"unknown loss {', '.join(unknown)}; choose from {', '.join(LOSS_SETS)}")
    presets = [name.strip() for name in args.presets.split(",") if name.strip()]
    torch.set_num_threads(args.threads)
    try:
        seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    except ValueError:
        p.error(f"--seeds must be a comma list of integers, got {args.seeds!r}")
    if args.stage == "score":
        missing = [f"{name}-seed{seed}" for name in losses + presets for seed in seeds
                   if not (Path(args.out) / f"{name}-seed{seed}" / "checkpoints" / "latest.pt").is_file()]
        if missing:
            p.error(f"--stage score found no checkpoints/latest.pt for {', '.join(missing)} under {args.out}; "
                    "train them first (--stage train or all) or point --out at the folder that holds them")
    if args.measure_steps:
        for loss in losses:
            measure_steps(loss, args)
        return
    records = []
    for name in losses + presets:
        for seed in seeds:
            if args.stage in ("all", "train"):
                timing = train_one(name, seed, args, preset=name if name in presets else None)
                print(json.dumps({"loss": name, "seed": seed, **timing}), flush=True)
            if args.stage in ("all", "score"):
                records.append(score_one(name, seed, args))
                print(json.dumps(records[-1]), flush=True)
    if records:
        print_table(records, args.n)


if __name__ == "__main__":
    main()
