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

from gankit.build import resolve_device
from gankit.config import Config, to_dict
from gankit.errors import GankitError
from gankit.families import get_family
from gankit.train import distributed
from gankit.train.distributed import DistEnv
from gankit.train.speed import check_precision
from gankit.train.checkpoint import (capture_rng, finite_json, load_checkpoint, load_model_state, restore_rng,
                                     save_checkpoint)
from gankit.train.watchdog import Watchdog, all_finite, networks_finite, say, scale_learning_rates


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


def restore_family(state: dict, family, path: Path) -> None:
    """Every network, optimizer, scaler, the family's own state, the data position and the RNGs from `state`."""
    for name, net in family.networks.items():
        if state.get(name) is None:
            raise GankitError(f"checkpoint {path} holds no '{name}' network; it is from another kind of run")
        load_model_state(net, state[name], name, path)
    for name, opt in family.optimizers.items():
        opt.load_state_dict(state[f"opt_{name}"])
    for which, scaler in family.scalers.items():
        if scaler is not None and (state.get("scalers") or {}).get(which) is not None:
            scaler.load_state_dict(state["scalers"][which])
    family.sampler.load_state_dict(state["sampler"])
    # Older checkpoints keep the family's state at top level ("trainer", "fixed_z").
    family.load_state_dict(state["family"] if state.get("family") is not None else state)
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


def checkpoint_state(training: "Training", ranks: list | None = None) -> dict:
    """The whole state of a run as one checkpoint dict: networks by name, optimizers as opt_<name>, the rest."""
    family = training.family
    state = {name: net.state_dict() for name, net in family.networks.items()}
    state.update({f"opt_{name}": opt.state_dict() for name, opt in family.optimizers.items()})
    state.update({
        "config": to_dict(training.cfg),
        "family": family.state_dict(),
        "scalers": {k: (v.state_dict() if v is not None else None) for k, v in family.scalers.items()},
        "ranks": ranks,  # under DDP: every rank's {"rng", "sampler"}; None in a single process
        "rng": capture_rng(),
        "sampler": family.sampler.state_dict(),
        "step": training.step,
        "nimg": training.nimg,
        "best": training.best,
    })
    return state


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


@dataclass
class Training:
    """Everything a run needs, built (and restored from a checkpoint) before any file is written."""

    cfg: Config
    family: object  # the family's training state (`gankit.families.base.Family`)
    step: int = 0
    nimg: int = 0
    best: dict | None = None  # {"key", "value", "step", "evals_since_best"} of the primary metric
    env: DistEnv = DistEnv()  # this process among torchrun's (rank 0 of 1 when not distributed)
    watch_state: dict | None = None  # the watchdog's rollback count and LR scale from a resumed checkpoint


def prepare_training(cfg: Config, resume: dict | None = None, resume_path: Path | None = None,
                     env: DistEnv = DistEnv()) -> Training:
    """Build the family named by `model.family` from `cfg`; restore every state from `resume` when given.

    With `env.enabled` (torchrun, see `gankit.train.distributed`) this joins the process group,
    shards the data and wraps the trained networks in DDP.
    Raises GankitError for anything the user must fix (bad shapes, missing data, mismatched checkpoint).
    """
    device = distributed.setup(cfg.device, env) or resolve_device(cfg.device)
    check_precision(cfg.runtime.precision, device)
    if cfg.runtime.threads:
        # Two jobs each using every core make OpenMP threads wait on each other (measured: 19 -> 1 step/s).
        torch.set_num_threads(cfg.runtime.threads)
    seed_everything(cfg.seed)
    family = get_family(cfg.model.family).build(cfg, device, env)
    if env.enabled:
        family.wrap(lambda module, **options: distributed.ddp(module, device, **options))
        if env.rank > 0:
            seed_everything(distributed.rank_seed(cfg.seed, env.rank))  # ranks draw different latents
    training = Training(cfg, family, env=env)
    if resume is not None:
        restore_family(resume, family, resume_path)
        if env.enabled:
            _restore_rank(resume, family.sampler, env, cfg.seed)
        training.step, training.nimg, training.best = resume["step"], resume["nimg"], resume.get("best")
        training.watch_state = resume.get("watch")
    return training


def train_for_seconds(training: Training, seconds: float, clock: Callable[[], float] = time.perf_counter) -> int:
    """Run train steps (no files, no logging) until `seconds` of `clock` have passed; returns the steps done.

    For equal-time comparisons (benchmarks/): every variant gets the same budget, not the same step count.
    `clock=time.process_time` counts this process's CPU time: with one thread, one core's time, which
    stays fair when other jobs share the machine (wall time then depends on the neighbours)."""
    start, steps = clock(), 0
    while clock() - start < seconds:
        training.family.train_step()
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
        self.file.write(finite_json(line) + "\n")
        self.file.flush()
        self.bar.set_postfix(_postfix(line), refresh=False)
        self.start, self.steps = time.perf_counter(), 0
        return line

    def write_event(self, event: dict) -> None:
        """A line that is not a step's means (a watchdog event): written at once, shown on the bar."""
        self.file.write(finite_json(event) + "\n")
        self.file.flush()
        self.bar.set_postfix_str(f"{event['event']} at step {event['step']}", refresh=False)

    def restart(self, step: int) -> None:
        """After a rollback: forget the means since the last line, put the bar back at `step`."""
        self.means = RunningMeans()
        self.bar.n = step
        self.start, self.steps = time.perf_counter(), 0

    def close(self) -> None:
        self.bar.close()
        self.file.close()


def _start_run_dir(cfg: Config, run_dir: Path, env: DistEnv) -> None:
    if env.is_main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


class RunFiles:
    """What a run writes besides its log: checkpoints (never non-finite), the report, TensorBoard events,
    and the watchdog's rollbacks to the last good checkpoint. Collective calls under DDP: every rank
    calls `save` and `healthy` at the same step; rank 0 alone writes."""

    def __init__(self, training: Training, run_dir: Path, log: "StepLog"):
        self.training, self.run_dir, self.log = training, run_dir, log
        cfg, env = training.cfg, training.env
        self.watch = Watchdog(cfg.watch, cfg.loss.name) if cfg.watch.enabled else None
        self.tensorboard = None
        if cfg.log.tensorboard and env.is_main:
            from gankit.train.tensorboard import TensorBoardWriter

            self.tensorboard = TensorBoardWriter(run_dir)
        if self.watch is not None:
            self.watch.load_state_dict(training.watch_state)
            if not (run_dir / "checkpoints" / "latest.pt").is_file():
                self.watch.snapshot(checkpoint_state(training))

    def healthy(self, stats: dict | None = None) -> bool:
        """Every rank agrees whether the step's stats (or, without stats, every network) are finite."""
        if self.watch is None:
            return True
        family = self.training.family
        ok = all_finite(stats) if stats is not None else networks_finite(family.networks)
        return distributed.agree_on_signal(None if ok else 1, self.training.env) is None

    def save(self, name: str) -> Path:
        training, env = self.training, self.training.env
        path = self.run_dir / "checkpoints" / name
        if not self.healthy():
            self.rollback()  # never write non-finite weights over a good checkpoint
            return path
        ranks = distributed.gather_rank_states({"rng": capture_rng(), "sampler": training.family.sampler.state_dict()},
                                               env)
        if env.is_main:
            state = checkpoint_state(training, ranks)
            state["watch"] = self.watch.state_dict() if self.watch is not None else None
            save_checkpoint(path, state)
        return path

    def rollback(self) -> None:
        """Back to the last good checkpoint with lower learning rates (or `Diverged` past the limit)."""
        training, watch = self.training, self.watch
        message = watch.next_rollback(training.step)
        latest = self.run_dir / "checkpoints" / "latest.pt"
        state = load_checkpoint(latest) if latest.is_file() else watch.load_snapshot()
        restore_family(state, training.family, latest)
        if training.env.enabled:
            _restore_rank(state, training.family.sampler, training.env, training.cfg.seed)
        saved_scale = (state.get("watch") or {}).get("lr_scale", 1.0)
        scale_learning_rates(training.family.optimizers, getattr(training.family, "schedulers", []),
                             watch.lr_scale / saved_scale)
        bad_step = training.step
        training.step, training.nimg, training.best = state["step"], state["nimg"], state.get("best")
        self.log.restart(training.step)
        self.event("rollback", message, step=bad_step, restored_step=training.step)

    def event(self, kind: str, message: str, **fields) -> None:
        """A watchdog event: one log.jsonl line, one line on stderr, the progress bar's note."""
        if self.training.env.is_main:
            self.log.write_event({"step": self.training.step, "event": kind, "message": message, **fields})
            say(message)

    def after_log_line(self, line: dict) -> None:
        if self.tensorboard is not None:
            self.tensorboard.scalars(line["step"], line)
        if self.watch is not None and self.training.env.is_main:
            G = self.training.family.networks.get("G")
            for kind, message in self.watch.warnings_for_line(line, G):
                self.event("warning", message)

    def after_samples(self, path: Path) -> None:
        training = self.training
        if self.watch is not None and training.step >= training.cfg.watch.collapse_start * training.cfg.train.steps:
            collapse = getattr(training.family, "class_collapse", None)
            with torch.random.fork_rng(devices=[]):  # loading the classifier must not move the training stream
                result = collapse() if collapse is not None else None
            message = self.watch.collapse_warning(*result) if result is not None else None
            if message:
                self.event("warning", message)
        if self.tensorboard is not None:
            self.tensorboard.image(training.step, "samples", path)
        if training.cfg.log.report:
            from gankit.report import write_run_report

            write_run_report(self.run_dir)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def run_training(training: Training, run_dir: Path) -> dict:
    """Train in `run_dir` until cfg.train.steps. Returns the last log line (floats, plus step and nimg).

    Under DDP every rank runs this; only rank 0 writes files and shows progress, and the log
    line's statistics are means over ranks.
    """
    cfg, family, env = training.cfg, training.family, training.env
    t, lg = cfg.train, cfg.log
    _start_run_dir(cfg, run_dir, env)
    log = StepLog(run_dir / "log.jsonl" if env.is_main else Path(os.devnull), t.steps, training.step,
                  family.images_per_step * env.world_size, lg.progress and env.is_main)
    files = RunFiles(training, run_dir, log)
    last_line: dict = {"step": training.step, "nimg": training.nimg}
    with GracefulStop() as stop:
        try:
            while training.step < t.steps:
                stats = family.train_step()
                if not files.healthy(stats):  # a non-finite step is not kept
                    files.rollback()
                    continue
                log.add(stats)
                training.step += 1
                training.nimg += log.images_per_step
                step, last = training.step, training.step == t.steps
                if step % lg.every == 0 or last:
                    last_line = log.write(step, training.nimg, env)
                    files.after_log_line(last_line)
                if env.is_main and (step % lg.sample_every == 0 or last):
                    path = run_dir / "samples" / f"step-{step:07d}.png"
                    family.write_samples(path)
                    files.after_samples(path)
                if cfg.eval.every and (step % cfg.eval.every == 0 or last) and _evaluate(training, run_dir, files.save):
                    break  # early stop: _evaluate wrote latest.pt
                stop.signum = distributed.agree_on_signal(stop.signum, env)  # every rank stops at the same step
                if step % lg.checkpoint_every == 0 or last or stop.signum is not None:
                    path = files.save("latest.pt")
                    if lg.keep_checkpoints and step % lg.checkpoint_every == 0 and not last:
                        files.save(f"step-{step:07d}.pt")
                if stop.signum is not None and not last:
                    log.bar.close()
                    if env.is_main:
                        print(f"stopped at step {step}; checkpoint written to {path}; "
                              f"continue with: gankit train --resume {run_dir}", file=sys.stderr)
                    raise StopRequested(stop.signum)
        finally:
            log.close()
            files.close()
    if env.is_main and cfg.eval.every and (run_dir / "checkpoints" / "best.pt").is_file():
        _final_test_score(training, run_dir)
    return last_line


def _final_test_score(training: Training, run_dir: Path) -> None:
    """Score best.pt once on the test split (it was chosen on val), as the last line of metrics.jsonl."""
    from argparse import Namespace

    from gankit.train.checkpoint import load_checkpoint

    device = next(next(iter(training.family.networks.values())).parameters()).device
    best = run_dir / "checkpoints" / "best.pt"
    module = get_family(training.cfg.model.family)
    if module.KIND == "translation":
        args = Namespace(split="test", n=None, seed=training.cfg.seed, device=str(device), json=True, no_ema=False)
        result = module.evaluate_checkpoint(training.cfg, load_checkpoint(best), device, args)
        result.setdefault("protocol", {})["checkpoint_step"] = training.best["step"]
    else:
        result = final_test_evaluation(best, device=device)
    if result is None:
        return
    step = result["protocol"]["checkpoint_step"]
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(finite_json({"step": step, "final": True, **result}) + "\n")
    scores = ", ".join(f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float))
    print(f"test split, once, on best.pt (step {step}): {scores}", file=sys.stderr)


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
    """Score the family's output, append to metrics.jsonl, track the best. Returns (improved, stop early)."""
    result, key, lower_is_better = training.family.evaluate(seed=training.cfg.seed)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(finite_json({"step": step, "nimg": nimg, **result}) + "\n")
    value, best = result[key], training.best
    improved = best is None or (value < best["value"] if lower_is_better else value > best["value"])
    if improved:
        training.best = {"key": key, "value": value, "step": step, "evals_since_best": 0}
    else:
        best["evals_since_best"] += 1
    patience = training.cfg.eval.patience
    return improved, bool(patience) and training.best["evals_since_best"] >= patience


def _postfix(line: dict) -> dict:
    keys = ("images_per_s", "d_loss", "g_loss", "real_score", "fake_score", "m_global", "k_t", "l1", "cycle_l1")
    names = {"images_per_s": "img/s", "real_score": "D(real)", "fake_score": "D(fake)", "m_global": "M"}
    return {names.get(k, k): f"{line[k]:.3g}" for k in keys if k in line}


def final_test_evaluation(checkpoint: str | Path, device: torch.device | str = "cpu", *,
                          split: str = "test", use_cache: bool = True) -> dict | None:
    """Score a run's selected checkpoint (its best.pt) once on the test split, after training.

    During training, best.pt is chosen on `cfg.eval.split` (val, held out of the training images);
    this is the one look at test data. Same metrics, n, seed and truncation as the evaluations during
    training, so the val and test numbers compare. G_ema is scored when the run kept one (else G);
    D is loaded for 'accuracy'. Returns None when the run did not evaluate during training
    (`eval.every` = 0) or its data has no test split (toy, folder); else the `evaluate_run` result,
    whose protocol adds `selected_on` (the split best.pt was chosen on) and `checkpoint_step`.
    """
    from gankit.build import build_models, place_model
    from gankit.families import load_generator
    from gankit.metrics.evaluate import FINAL_SPLIT, SPLIT_DATASETS, default_metrics, evaluate_run
    from gankit.train.checkpoint import load_model_state

    G, cfg, state, which = load_generator(checkpoint, str(device), False)
    if not cfg.eval.every or cfg.data.name not in SPLIT_DATASETS:
        return None
    metrics = cfg.eval.metrics or default_metrics(cfg.data)
    D = None
    if "accuracy" in metrics:
        D = build_models(cfg)[1]
        load_model_state(D, state["D"], "discriminator", checkpoint)
        place_model(D, next(G.parameters()).device, G.out_shape)
    result = evaluate_run(G, D, cfg, metrics=metrics, split=split, seed=cfg.seed, which=which,
                          device=next(G.parameters()).device, use_cache=use_cache,
                          truncation=cfg.tricks.sample_truncation)
    result["protocol"].update({"selected_on": cfg.eval.split, "checkpoint_step": state["step"]})
    return result
