"""What every family gives the shared run loop: the contract, in one place.

A family is one module, `gankit/families/<name>.py`, that reads top to bottom as its paper:
the networks it builds from the config, its optimizers, one `train_step` that reads like the
paper's algorithm box, the extra state it checkpoints, and how it produces output. Its module
exposes:

    KIND: str                      "generation" (noise -> sample) or "translation" (input -> output)
    build(cfg, device, env) -> Family
        networks on `device`, optimizers, data stream; freshly initialised (the loop seeds first).
    build_generator(cfg) -> nn.Module                                        (generation families)
        G alone, from the config, for `gankit sample` / `eval` / `interpolate`: `G(z [N, G.z_dim], c=None)
        -> x [N, *G.out_shape]`; the checkpoint's "G_ema" (else "G") state dict is loaded into it.
    load_output_network(cfg, state, device, direction) -> nn.Module          (translation families)
        the network `gankit translate` runs, rebuilt from the checkpoint's config alone:
        `net(x [N, C, H, W] in [-1, 1]) -> y [N, C', H', W'] in [-1, 1]`.
    evaluate_checkpoint(cfg, state, device, args) -> dict                   (translation families)
        `gankit eval` on the family's checkpoint: flat numbers plus a `protocol` dict.

The loop (`gankit.train.loop`) knows nothing else of a family's insides: it checkpoints every
network in `networks`, every optimizer in `optimizers` (as `opt_<name>`), every scaler, the
family's own `state_dict()` and the data stream's position; it logs what `train_step` returns,
writes `write_samples` grids and calls `evaluate` when `eval.every` asks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn


class BatchStream(Protocol):
    """A resumable batch stream: `next()` returns the family's batch; state rides in checkpoints."""

    def next(self): ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Family(Protocol):
    """One family's training state, as the run loop sees it."""

    sampler: BatchStream  # the data stream (its position is checkpointed per rank)
    networks: dict[str, nn.Module]  # every module to save and restore, by name ("G", "D", "G_ema", "G_AB", ...)
    optimizers: dict[str, torch.optim.Optimizer]  # by name ("g", "d", ...), saved as "opt_<name>"
    scalers: dict[str, object]  # fp16 GradScalers by name (None where not used)
    images_per_step: int  # real images one train_step consumes on this process (nimg counts them)

    def train_step(self) -> dict[str, Tensor]:
        """One step of the family's algorithm; returns detached scalar statistics for the log."""
        ...

    def state_dict(self) -> dict:
        """Everything beyond networks, optimizers and scalers: counters, schedulers, k_t, pools, fixed inputs."""
        ...

    def load_state_dict(self, state: dict) -> None: ...

    def write_samples(self, path: Path) -> None:
        """Write one PNG of the run's fixed inputs (noise, or test images) to `path`."""
        ...

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """Score the current networks: (result with its `protocol`, primary key, lower_is_better)."""
        ...

    def wrap(self, wrap_module) -> None:
        """Under DDP: run the forwards that need gradient sync through `wrap_module(module)`."""
        ...
