"""The training run: the loop that reads top to bottom.

    build -> (resume) -> for each step: D step(s), G step(s) -> log line -> sample grid -> checkpoint

A run directory holds `config.yaml`, `log.jsonl`, `samples/step-XXXXXXX.png` and
`checkpoints/latest.pt` (+ `step-XXXXXXX.pt` when kept). Ctrl-C and SIGTERM stop
after the current step and write a checkpoint, so `gankit train --resume DIR`
continues exactly: resuming gives the same weights as never stopping.
"""

import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml
from tqdm import tqdm

from gankit.build import (TrainingData, build_data, build_models, build_trainer, place_model, resolve_device,
                          resolve_num_classes)
from gankit.config import Config, to_dict
from gankit.sample import fixed_latents, generate, save_samples, truncate_latents
from gankit.train import distributed
from gankit.train.distributed import DistEnv
from gankit.train.speed import check_precision
from gankit.train.checkpoint import capture_rng, load_model_state, restore_rng, save_checkpoint
from gankit.train.ema import standing_statistics
from gankit.train.trainer import GANTrainer

FIXED_NOISE_SEED_OFFSET = 1_000_003  # fixed sample noise never shares a stream with training


class StopRequested(Exception):
    """The run was stopped by Ctrl-C or SIGTERM after checkpointing; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


class GracefulStop:
    """Turns the first Ctrl-C / SIGTERM into a request the loop honours between steps.

    Stopping mid-step (after D's update, before G's) would save a state that no
    uninterrupted run passes through, so resume could not be exact. A second Ctrl-C
    interrupts at once.
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        print("\nstopping after this step and writing a checkpoint (Ctrl-C again to abort)", file=sys.stderr)

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _restore(state: dict, trainer, sampler, path: Path) -> None:
    load_model_state(trainer.G, state["G"], "generator", path)
    load_model_state(trainer.D, state["D"], "discriminator", path)
    if trainer.ema is not None and state.get("G_ema") is not None:
        load_model_state(trainer.ema.G_ema, state["G_ema"], "averaged generator", path)
    trainer.opt_g.load_state_dict(state["opt_g"])
    trainer.opt_d.load_state_dict(state["opt_d"])
    for which, scaler in trainer.scalers.items():
        if scaler is not None and (state.get("scalers") or {}).get(which) is not None:
            scaler.load_state_dict(state["scalers"][which])
    sampler.load_state_dict(state["sampler"])
    if state.get("trainer") is not None:  # update counters and LR schedulers (absent in older checkpoints)
        trainer.load_state_dict(state["trainer"])
    restore_rng(state["rng"])


def _restore_rank(state: dict, sampler, env: DistEnv, seed: int) -> None:
    """Under DDP: give this rank its own saved RNG and sampler state (rank 0's were restored already)."""
    ranks = state.get("ranks")
    if ranks is not None and len(ranks) == env.world_size:
        sampler.load_state_dict(ranks[env.rank]["sampler"])
        restore_rng(ranks[env.rank]["rng"])
        return
    if env.is_main:
        distributed.warn_world_size_changed(len(ranks) if ranks else 1, env.world_size)
    if env.rank > 0:
        seed_everything(distributed.rank_seed(seed, env.rank, state["step"]))


def _checkpoint_state(cfg: Config, trainer, sampler, step: int, nimg: int, fixed_z: torch.Tensor,
                      best: dict | None, ranks: list | None = None) -> dict:
    return {
        "scalers": {k: (v.state_dict() if v is not None else None) for k, v in trainer.scalers.items()},
        "ranks": ranks,  # under DDP: every rank's {"rng", "sampler"}; None in a single process
        "config": to_dict(cfg),
        "G": trainer.G.state_dict(),
        "D": trainer.D.state_dict(),
        "G_ema": trainer.ema.G_ema.state_dict() if trainer.ema is not None else None,
        "opt_g": trainer.opt_g.state_dict(),
        "opt_d": trainer.opt_d.state_dict(),
        "trainer": trainer.state_dict(),
        "rng": capture_rng(),
        "sampler": sampler.state_dict(),
        "fixed_z": fixed_z,
        "step": step,
        "nimg": nimg,
        "best": best,
    }


class RunningMeans:
    """Averages of the step statistics since the last log line (kept as tensors: no per-step sync on GPUs)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.float()
        self.count += 1

    def pop(self) -> dict[str, float]:
        means = {key: round(float(value) / self.count, 6) for key, value in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def write_samples(trainer, fixed_z: torch.Tensor, path: Path, reference: torch.Tensor, truncation: float = 0.0) -> None:
    """Sample grid (or scatter for 2-D data) from G_ema when it exists, else G, on the fixed noise
    (truncated at `truncation` stds when > 0, as the run samples: `tricks.sample_truncation`)."""
    G = standing_statistics(trainer.ema.G_ema) if trainer.ema is not None else trainer.G
    samples = generate(G, truncate_latents(G, fixed_z, truncation))
    save_samples(samples, path, reference=reference if samples.dim() == 2 else None)


@dataclass
class Training:
    """Everything a run needs, built (and restored from a checkpoint) before any file is written."""

    cfg: Config
    trainer: GANTrainer
    data: TrainingData
    fixed_z: torch.Tensor
    step: int = 0
    nimg: int = 0
    best: dict | None = None  # {"key", "value", "step", "evals_since_best"} of the primary metric
    env: DistEnv = DistEnv()  # this process among torchrun's (rank 0 of 1 when not distributed)


def prepare_training(cfg: Config, resume: dict | None = None, resume_path: Path | None = None,
                     env: DistEnv = DistEnv()) -> Training:
    """Build models, optimizers and data from `cfg`; restore every state from `resume` when given.

    With `env.enabled` (torchrun, see `gankit.train.distributed`) this joins the process group,
    shards the data and wraps G and D in DDP.
    Raises GankitError for anything the user must fix (bad shapes, missing data, mismatched checkpoint).
    """
    device = distributed.setup(cfg.device, env) or resolve_device(cfg.device)
    check_precision(cfg.runtime.precision, device)
    if cfg.runtime.threads:
        # Two jobs each using every core make OpenMP threads wait on each other (measured: 19 -> 1 step/s).
        torch.set_num_threads(cfg.runtime.threads)
    seed_everything(cfg.seed)
    # Data first: a conditional model takes its class count from the labels.
    data = build_data(cfg, device, rank=env.rank, world_size=env.world_size)
    resolve_num_classes(cfg, data.num_classes)
    G, D = build_models(cfg)
    place_model(G, device, G.out_shape)
    place_model(D, device, G.out_shape)
    if env.enabled and cfg.runtime.sync_bn:
        G, D = distributed.convert_sync_bn(G, device), distributed.convert_sync_bn(D, device)
    trainer = build_trainer(cfg, G, D, world_size=env.world_size, labelled_batches=data.labelled_batches)
    if cfg.runtime.compile:
        # In place, so state_dict keys and attributes stay the bare module's; after build_trainer,
        # so G_ema is a copy of the plain G (a deep copy would share the compiled call of G).
        G.compile()
        D.compile()
    if env.enabled:
        trainer.wrap(distributed.ddp(G, device), distributed.ddp(D, device))
        if env.rank > 0:
            seed_everything(distributed.rank_seed(cfg.seed, env.rank))  # ranks draw different latents
    n_points = 1000 if data.reference.dim() == 2 else cfg.log.n_samples
    fixed_z = fixed_latents(n_points, cfg.model.z_dim, cfg.seed + FIXED_NOISE_SEED_OFFSET)
    training = Training(cfg, trainer, data, fixed_z, env=env)
    if resume is not None:
        _restore(resume, trainer, data.sampler, resume_path)
        if env.enabled:
            _restore_rank(resume, data.sampler, env, cfg.seed)
        training.step, training.nimg, training.fixed_z = resume["step"], resume["nimg"], resume["fixed_z"]
        training.best = resume.get("best")
    return training


def train_for_seconds(training: Training, seconds: float) -> int:
    """Run train steps (no files, no logging) until `seconds` of wall time have passed; returns the steps done.

    For equal-time comparisons (benchmarks/): every variant gets the same budget, not the same step count."""
    trainer, data = training.trainer, training.data
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        trainer.train_step(data.next_batch)
        steps += 1
    training.step += steps
    return steps


class StepLog:
    """The log.jsonl lines and the progress bar: running means, steps/s and images/s between lines."""

    def __init__(self, path: Path, total: int, initial: int, images_per_step: int, show: bool):
        self.file = open(path, "a")
        self.bar = tqdm(total=total, initial=initial, disable=not show, unit="step", dynamic_ncols=True,
                        file=sys.stderr)
        self.means = RunningMeans()
        self.images_per_step = images_per_step
        self.start, self.steps = time.perf_counter(), 0

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        self.means.add(stats)
        self.steps += 1
        self.bar.update(1)

    def write(self, step: int, nimg: int, env: DistEnv) -> dict:
        """Write one line of the means since the last one (averaged over ranks); returns it."""
        elapsed = time.perf_counter() - self.start
        line = {"step": step, "nimg": nimg, **distributed.average_stats(self.means.pop(), env)}
        line["steps_per_s"] = round(self.steps / elapsed, 3)
        line["images_per_s"] = round(self.steps * self.images_per_step / elapsed, 1)
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()
        self.bar.set_postfix(_postfix(line), refresh=False)
        self.start, self.steps = time.perf_counter(), 0
        return line

    def close(self) -> None:
        self.bar.close()
        self.file.close()


def _start_run_dir(cfg: Config, run_dir: Path, env: DistEnv) -> None:
    if env.is_main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def run_training(training: Training, run_dir: Path) -> dict:
    """Train in `run_dir` until cfg.train.steps. Returns the last log line (floats, plus step and nimg).

    Under DDP every rank runs this; only rank 0 writes files and shows progress, and the log
    line's statistics are means over ranks.
    """
    cfg, trainer, data, env = training.cfg, training.trainer, training.data, training.env
    t, lg = cfg.train, cfg.log
    _start_run_dir(cfg, run_dir, env)
    log = StepLog(run_dir / "log.jsonl" if env.is_main else Path(os.devnull), t.steps, training.step,
                  t.batch_size * t.n_critic * env.world_size, lg.progress and env.is_main)
    last_line: dict = {"step": training.step, "nimg": training.nimg}

    def save(name: str) -> Path:
        # Collective under DDP (every rank calls it at the same step); rank 0 alone writes.
        ranks = distributed.gather_rank_states({"rng": capture_rng(), "sampler": data.sampler.state_dict()}, env)
        path = run_dir / "checkpoints" / name
        if env.is_main:
            save_checkpoint(path, _checkpoint_state(cfg, trainer, data.sampler, training.step, training.nimg,
                                                    training.fixed_z, training.best, ranks))
        return path

    with GracefulStop() as stop:
        try:
            while training.step < t.steps:
                log.add(trainer.train_step(data.next_batch))
                training.step += 1
                training.nimg += log.images_per_step
                step, last = training.step, training.step == t.steps
                if step % lg.every == 0 or last:
                    last_line = log.write(step, training.nimg, env)
                if env.is_main and (step % lg.sample_every == 0 or last):
                    write_samples(trainer, training.fixed_z, run_dir / "samples" / f"step-{step:07d}.png",
                                  data.reference, cfg.tricks.sample_truncation)
                if cfg.eval.every and (step % cfg.eval.every == 0 or last) and _evaluate(training, run_dir, save):
                    break  # early stop: _evaluate wrote latest.pt
                stop.signum = distributed.agree_on_signal(stop.signum, env)  # every rank stops at the same step
                if step % lg.checkpoint_every == 0 or last or stop.signum is not None:
                    path = save("latest.pt")
                    if lg.keep_checkpoints and step % lg.checkpoint_every == 0 and not last:
                        save(f"step-{step:07d}.pt")
                if stop.signum is not None and not last:
                    log.bar.close()
                    if env.is_main:
                        print(f"stopped at step {step}; checkpoint written to {path}; "
                              f"continue with: gankit train --resume {run_dir}", file=sys.stderr)
                    raise StopRequested(stop.signum)
        finally:
            log.close()
    return last_line


def _evaluate(training: Training, run_dir: Path, save: Callable[[str], Path]) -> bool:
    """Evaluate (rank 0), keep best.pt, and decide on early stopping (every rank). True = stop now."""
    env = training.env
    # Rank 0 scores G (the same weights on every rank) and tells the others what it decided.
    decision = evaluate_during_training(training, training.step, training.nimg, run_dir) if env.is_main else None
    improved, early_stop, training.best = distributed.broadcast(
        (*decision, training.best) if env.is_main else None, env)
    if improved:
        save("best.pt")
    if early_stop:
        save("latest.pt")
        best = training.best
        if env.is_main:
            print(f"early stop at step {training.step}: no better {best['key']} in {training.cfg.eval.patience} "
                  f"evaluations (best {best['value']:.4g} at step {best['step']})", file=sys.stderr)
    return early_stop


def evaluate_during_training(training: Training, step: int, nimg: int, run_dir: Path) -> tuple[bool, bool]:
    """Score G_ema (or G), append to metrics.jsonl, track the best. Returns (improved, stop early)."""
    from gankit.metrics.evaluate import default_metrics, evaluate_run, primary_key

    cfg, trainer = training.cfg, training.trainer
    G = standing_statistics(trainer.ema.G_ema) if trainer.ema is not None else trainer.G
    which = "G_ema" if trainer.ema is not None else "G"
    result = evaluate_run(G, trainer.D, cfg, seed=cfg.seed, which=which, device=trainer.device,
                          truncation=cfg.tricks.sample_truncation)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": step, "nimg": nimg, **result}) + "\n")
    key, lower_is_better = primary_key(cfg.eval.metrics or default_metrics(cfg.data), cfg.data)
    value, best = result[key], training.best
    improved = best is None or (value < best["value"] if lower_is_better else value > best["value"])
    if improved:
        training.best = {"key": key, "value": value, "step": step, "evals_since_best": 0}
    else:
        best["evals_since_best"] += 1
    patience = cfg.eval.patience
    return improved, bool(patience) and training.best["evals_since_best"] >= patience


def _postfix(line: dict) -> dict:
    keys = ("images_per_s", "d_loss", "g_loss", "real_score", "fake_score")
    names = {"images_per_s": "img/s", "real_score": "D(real)", "fake_score": "D(fake)"}
    return {names.get(k, k): f"{line[k]:.3g}" for k in keys if k in line}
