"""Several processes (GPUs, or CPU processes with gloo) via torchrun and DistributedDataParallel.

    torchrun --nproc_per_node N -m gankit train --preset dcgan-fashion ...

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 gankit joins the process
group (nccl on CUDA, gloo otherwise), puts rank r on cuda:LOCAL_RANK, gives it shard r of the
data (train.batch_size is per rank), and wraps G and D in DDP. Only rank 0 logs, shows
progress, writes samples and checkpoints; checkpoints hold the bare modules' state dicts, so
they load in a single process.

Per-rank randomness: the models are built from `seed` on every rank (identical, and DDP
broadcasts rank 0's anyway); then rank r > 0 reseeds its global RNGs with
`seed + RANK_SEED_STRIDE * r`, so ranks draw different latents. Checkpoints gather every
rank's RNG and sampler state (`ranks`), and a resume with the same world size gives each
rank back its own; with another world size, ranks > 0 are reseeded from (seed, rank, step).

Logged losses and scores are means over ranks. Evaluation during training (`eval.every`)
runs on rank 0 alone (every rank holds the same G) and its decision (best, early stop) is
broadcast. A Ctrl-C / SIGTERM seen by any rank is agreed on after each step, so all ranks
checkpoint and stop after the same step.
"""

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from gankit.errors import GankitError

RANK_SEED_STRIDE = 7919  # a prime: rank seeds never meet another run's small seeds by accident


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits among torchrun's processes (single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_from_torchrun() -> DistEnv:
    """Read RANK / WORLD_SIZE / LOCAL_RANK (torchrun's variables); absent means a single process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise GankitError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; launch with torchrun") from None
    if world < 1 or not 0 <= rank < world:
        raise GankitError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank} WORLD_SIZE={world}; launch with torchrun")
    return DistEnv(rank, world, local)


def setup(device_name: str, env: DistEnv) -> torch.device | None:
    """Join the process group when there are several ranks; returns this rank's device (None: single process).

    `device_name` is the config's device: CUDA (auto with a GPU, cuda, cuda:N) gives nccl and
    cuda:LOCAL_RANK; cpu gives gloo; MPS cannot run several processes.
    """
    if not env.enabled:
        return None
    use_cuda = device_name not in ("cpu", "mps") and torch.cuda.is_available()
    if device_name.startswith("cuda") and not use_cuda:
        raise GankitError(f"device '{device_name}' was asked for but CUDA is not available here; use --device cpu")
    if device_name == "mps":
        raise GankitError("several processes cannot share Apple MPS; use --device cpu or a CUDA machine")
    device = torch.device("cuda", env.local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=env.rank, world_size=env.world_size)
    return device


def teardown() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def convert_sync_bn(module: nn.Module, device: torch.device) -> nn.Module:
    """Batch norm layers that share statistics across ranks (CUDA only; parameters are kept, not copied)."""
    if device.type != "cuda":
        raise GankitError("runtime.sync_bn needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel); set runtime.sync_bn=false")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def ddp(module: nn.Module, device: torch.device, find_unused_parameters: bool = False) -> nn.Module:
    """`module` wrapped in DistributedDataParallel on this rank's device.

    `find_unused_parameters`: some parameters get no gradient in a step (ProGAN's levels not yet grown);
    DDP then searches the graph each step for them instead of waiting for gradients that never come."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)


def average_stats(values: dict[str, float], env: DistEnv) -> dict[str, float]:
    """Mean of each logged statistic over all ranks (every rank must call this at the same step)."""
    if not env.enabled or not values:
        return values
    keys = sorted(values)
    device = torch.device("cuda", env.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    sums = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    return {k: round(float(v) / env.world_size, 6) for k, v in zip(keys, sums.tolist())}


def gather_rank_states(state: dict, env: DistEnv) -> list[dict] | None:
    """Every rank's `state` (RNG, sampler) as a list indexed by rank; None in a single process."""
    if not env.enabled:
        return None
    states: list = [None] * env.world_size
    dist.all_gather_object(states, state)
    return states


def broadcast(obj, env: DistEnv):
    """Rank 0's `obj` on every rank (picklable); `obj` itself in a single process."""
    if not env.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree_on_signal(signum: int | None, env: DistEnv) -> int | None:
    """A stop signal seen by any rank, on every rank (a tiny all-reduce per step under DDP), so all
    ranks checkpoint and stop after the same step; `signum` itself in a single process."""
    if not env.enabled:
        return signum
    device = torch.device("cuda", env.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([signum or 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item()) or None


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The global-RNG seed of rank `rank` > 0 (at `step` after a resume with another world size)."""
    return seed + RANK_SEED_STRIDE * rank + 1_000_003 * step


def warn_world_size_changed(saved: int, now: int) -> None:
    warnings.warn(f"the checkpoint was written by {saved} process(es), this run has {now}: ranks > 0 are "
                  "reseeded, so the continuation is not bit-identical to never stopping", stacklevel=2)
