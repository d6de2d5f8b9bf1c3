"""Run by tests/test_distributed.py under torchrun (2 CPU processes, gloo): trains a tiny run of a
preset (argv[2], dcgan-digits by default; more KEY=VALUE overrides after it) 4 steps straight, and
2 steps + resume + 2 steps, and saves each rank's final G and D weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from gankit.config import resolve
from gankit.train.checkpoint import load_checkpoint
from gankit.train.distributed import env_from_torchrun, teardown
from gankit.train.loop import prepare_training, run_training

SETS = ["log.progress=false", "data.resolution=16", "model.g_width=8", "model.d_width=8", "model.z_dim=8",
        "train.batch_size=8", "log.every=1", "log.sample_every=100", "log.checkpoint_every=2",
        "train.ema_kimg=0.1", "device=cpu"]


def train(env, run: Path, steps: int, resume: bool, out: Path, preset: str, sets: list[str]) -> None:
    cfg = resolve(preset, None, [*SETS, *sets, f"train.steps={steps}"])
    state = load_checkpoint(run) if resume else None
    training = prepare_training(cfg, resume=state, resume_path=run, env=env)
    run_training(training, run)
    networks = training.family.networks
    torch.save({"G": networks["G"].state_dict(), "D": networks["D"].state_dict()}, out / f"{run.name}-rank{env.rank}.pt")
    dist.barrier()  # rank 0's checkpoint is on disk before any rank resumes from it


def main() -> None:
    torch.set_num_threads(1)
    out, preset, sets = Path(sys.argv[1]), (sys.argv[2:] or ["dcgan-digits"])[0], sys.argv[3:]
    env = env_from_torchrun()
    train(env, out / "full", 4, False, out, preset, sets)
    train(env, out / "half", 2, False, out, preset, sets)
    train(env, out / "half", 4, True, out, preset, sets)
    teardown()


if __name__ == "__main__":
    main()
